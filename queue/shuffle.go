package queue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// The lobby's order is auditable: before the opening the server publishes the
// SHA-256 of a secret seed (the commitment); at the opening the lobby is ordered
// by HMAC-SHA256(seed, join_id); once the sale is open the seed and the lobby's
// join ids are revealed, and anyone can recompute the order with Order.

// newSeed makes a seed and its commitment, both hex.
func newSeed() (seed, commitment string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(b[:]), hex.EncodeToString(sum[:])
}

// Commitment is the SHA-256 of the seed's bytes, hex.
func Commitment(seedHex string) (string, error) {
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		return "", fmt.Errorf("seed is not hex: %w", err)
	}
	sum := sha256.Sum256(seed)
	return hex.EncodeToString(sum[:]), nil
}

// Order returns the lobby's join ids in line order: by HMAC-SHA256 keyed with the
// seed's bytes, ties (never seen in practice) by join id. A keyed random function
// of distinct inputs gives every order the same chance.
func Order(seedHex string, joinIDs []string) ([]string, error) {
	seed, err := hex.DecodeString(seedHex)
	if err != nil {
		return nil, fmt.Errorf("seed is not hex: %w", err)
	}
	type keyed struct {
		id  string
		mac []byte
	}
	ks := make([]keyed, len(joinIDs))
	for i, id := range joinIDs {
		m := hmac.New(sha256.New, seed)
		m.Write([]byte(id))
		ks[i] = keyed{id: id, mac: m.Sum(nil)}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := bytes.Compare(a.mac, b.mac); c != 0 {
			return c
		}
		return cmpString(a.id, b.id)
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.id
	}
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Audit is what anyone may check about a lobby's shuffle.
type Audit struct {
	Commitment string   `json:"commitment"`
	Seed       string   `json:"seed,omitempty"`
	Lobby      []string `json:"lobby"`
}

// Verify checks the seed against the commitment and returns the lobby's order.
func (a *Audit) Verify() ([]string, error) {
	c, err := Commitment(a.Seed)
	if err != nil {
		return nil, err
	}
	if c != a.Commitment {
		return nil, errors.New("the seed does not match the commitment")
	}
	return Order(a.Seed, a.Lobby)
}

// Audit reveals the seed and the lobby's join ids once the sale is open; before
// that, only the commitment.
func (q *Queue) Audit(ctx context.Context, ev Event) (*Audit, error) {
	k := keysOf(ev.ID)
	seed, commit := newSeed()
	// The commitment exists from the first look on, even before anyone joins.
	pipe := q.rdb.TxPipeline()
	pipe.HSetNX(ctx, k.q, "seed", seed)
	pipe.HSetNX(ctx, k.q, "commit", commit)
	vals := pipe.HMGet(ctx, k.q, "seed", "commit", "state")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("audit %s: %w", ev.ID, err)
	}
	v := vals.Val()
	a := &Audit{Commitment: v[1].(string), Lobby: []string{}}
	if state, _ := v[2].(string); state != "open" {
		return a, nil
	}
	a.Seed = v[0].(string)
	ids, err := q.rdb.HKeys(ctx, k.lobby).Result()
	if err != nil {
		return nil, fmt.Errorf("audit %s: %w", ev.ID, err)
	}
	slices.Sort(ids)
	a.Lobby = ids
	return a, nil
}

// shuffleBatch is how many places one script call writes.
const shuffleBatch = 2000

// Shuffle numbers a closed lobby and opens the line. Any replica may call it at any time: one takes a lock and does the work; if it
// dies, the lock expires and another redoes it with the same order.
func (q *Queue) Shuffle(ctx context.Context, eventID string) error {
	k := keysOf(eventID)
	state, err := q.rdb.HGet(ctx, k.q, "state").Result()
	if errors.Is(err, redis.Nil) || state != "shuffling" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shuffle %s: %w", eventID, err)
	}
	ok, err := q.rdb.SetNX(ctx, k.shuffle, "1", time.Minute).Result()
	if err != nil || !ok {
		return err
	}
	defer q.rdb.Del(context.WithoutCancel(ctx), k.shuffle)

	seed, err := q.rdb.HGet(ctx, k.q, "seed").Result()
	if err != nil {
		return fmt.Errorf("shuffle %s: seed: %w", eventID, err)
	}
	lobby, err := q.rdb.HGetAll(ctx, k.lobby).Result()
	if err != nil {
		return fmt.Errorf("shuffle %s: lobby: %w", eventID, err)
	}
	ids := make([]string, 0, len(lobby))
	for id := range lobby {
		ids = append(ids, id)
	}
	order, err := Order(seed, ids)
	if err != nil {
		return fmt.Errorf("shuffle %s: %w", eventID, err)
	}
	for start := 0; start < len(order) || start == 0; start += shuffleBatch {
		end := min(start+shuffleBatch, len(order))
		args := make([]any, 0, 1+2*(end-start))
		final := "0"
		if end == len(order) {
			final = "1"
		}
		args = append(args, final)
		for i := start; i < end; i++ {
			args = append(args, lobby[order[i]], i+1)
		}
		if err := q.number.Run(ctx, q.rdb, k.forNumber(), args...).Err(); err != nil {
			return fmt.Errorf("shuffle %s: %w", eventID, err)
		}
		if end == len(order) {
			break
		}
	}
	return nil
}
