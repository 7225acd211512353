// Package queue is the waiting room: the lobby and its auditable shuffle, places
// in line, and admission control under a cap on active shoppers.
package queue

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

var (
	//go:embed join.lua
	joinLua string
	//go:embed status.lua
	statusLua string
	//go:embed leave.lua
	leaveLua string
	//go:embed admit.lua
	admitLua string
	//go:embed number.lua
	numberLua string
)

// Statuses a fan sees.
const (
	StatusLobby    = "lobby"
	StatusWaiting  = "waiting"
	StatusAdmitted = "admitted"
	StatusSoldOut  = "sold_out"
)

var (
	// ErrNotInLine is a fan who has not joined (or whose place was lost with Redis).
	ErrNotInLine = errors.New("not in line")
	// ErrPlaceLost is a fan who left, was dropped for absence or finished shopping.
	ErrPlaceLost = errors.New("no longer in line")
	// ErrNotOnSale is an event whose lobby has not opened or whose sale is over.
	ErrNotOnSale = errors.New("the line for this event is not open")
)

// Event is what the line needs to know of an event's settings.
type Event struct {
	ID            string
	LobbyOpensAt  time.Time
	SaleOpensAt   time.Time
	ClosesAt      time.Time
	MaxActive     int
	AdmissionRate int // per second; 0 is no cap
	Claim         time.Duration
	Hold          time.Duration
	Presence      time.Duration
	// SoldOut pauses admission: nothing is on sale.
	SoldOut bool
}

// Place is a fan's standing in the line.
type Place struct {
	Status     string           `json:"status"`
	JoinID     string           `json:"join_id"`
	Number     int64            `json:"-"`
	Position   *int64           `json:"position"`
	Ahead      *int64           `json:"ahead"`
	ETASeconds *int64           `json:"eta_seconds"`
	OpensAt    time.Time        `json:"opens_at"`
	Session    *session.Session `json:"session,omitempty"`
}

// Queue runs the line of every event in Redis. Safe for concurrent use, and on
// every replica at once.
type Queue struct {
	rdb    redis.UniversalClient
	signer *session.Signer
	now    func() time.Time

	join, status, leave, admit, number *redis.Script
}

// New builds a Queue.
func New(rdb redis.UniversalClient, signer *session.Signer, now func() time.Time) *Queue {
	return &Queue{
		rdb: rdb, signer: signer, now: now,
		join: redis.NewScript(joinLua), status: redis.NewScript(statusLua), leave: redis.NewScript(leaveLua),
		admit: redis.NewScript(admitLua), number: redis.NewScript(numberLua),
	}
}

// keys of one event, all under its cluster hash tag so every script is atomic.
func keys(eventID string) []string {
	p := "ev:{" + eventID + "}:"
	return []string{p + "q", p + "lobby", p + "join", p + "num", p + "who", p + "gone", p + "seen",
		p + "pending", p + "active", p + "sess", p + "samples"}
}

func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Join puts the fan in line, or returns the place it already has.
func (q *Queue) Join(ctx context.Context, ev Event, userID string) (*Place, error) {
	now := q.now()
	if now.Before(ev.LobbyOpensAt) || !now.Before(ev.ClosesAt) {
		return nil, ErrNotOnSale
	}
	seed, commit := newSeed()
	_, err := q.join.Run(ctx, q.rdb, keys(ev.ID), userID, now.UnixMilli(), ev.SaleOpensAt.UnixMilli(),
		randomID("j"), seed, commit).Slice()
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", ev.ID, err)
	}
	// The join may have made this fan's admission possible at once; the status
	// call claims it and reports positions in one place.
	return q.Status(ctx, ev, userID)
}

// Status reports the fan's place now. It is a sign of life that keeps the place,
// and it claims an admission, starting the shopping session.
func (q *Queue) Status(ctx context.Context, ev Event, userID string) (*Place, error) {
	now := q.now()
	r, err := q.status.Run(ctx, q.rdb, keys(ev.ID), userID, now.UnixMilli(), ev.Hold.Milliseconds(), randomID("s")).Slice()
	if err != nil {
		return nil, fmt.Errorf("queue status %s: %w", ev.ID, err)
	}
	st := r[0].(string)
	switch st {
	case "none":
		return nil, ErrNotInLine
	case "gone":
		return nil, ErrPlaceLost
	}
	p := &Place{Status: st, JoinID: r[1].(string), OpensAt: ev.SaleOpensAt}
	if n, ok := r[2].(string); ok {
		fmt.Sscan(n, &p.Number)
	}
	adm := r[3].(int64)
	switch st {
	case StatusAdmitted:
		p.Session = &session.Session{ID: r[4].(string), EventID: ev.ID, UserID: userID,
			ExpiresAt: time.UnixMilli(r[5].(int64)).UTC()}
		q.signer.Sign(p.Session)
	case StatusWaiting:
		newest, _ := r[7].(string)
		oldest, _ := r[8].(string)
		p.setPosition(adm, rateOf([]string{newest, oldest}))
	}
	return p, nil
}

// setPosition fills the numbers a waiting fan sees from the admission counter.
func (p *Place) setPosition(admitted int64, ratePerSecond float64) {
	pos := max(p.Number-admitted, 1)
	ahead := pos - 1
	p.Position, p.Ahead = &pos, &ahead
	if ratePerSecond > 0 {
		eta := int64(math.Ceil(float64(ahead) / ratePerSecond))
		p.ETASeconds = &eta
	}
}

// rateOf is the admissions per second between the newest and the oldest of the
// "ms:counter" samples (one a second over the last minute).
func rateOf(samples []string) float64 {
	if len(samples) < 2 {
		return 0
	}
	var t1, a1, t0, a0 int64
	fmt.Sscanf(samples[0], "%d:%d", &t1, &a1)
	fmt.Sscanf(samples[len(samples)-1], "%d:%d", &t0, &a0)
	if t1 <= t0 {
		return 0
	}
	return float64(a1-a0) * 1000 / float64(t1-t0)
}

// Left says what a fan's leaving ended.
type Left struct {
	Was       string // lobby, waiting, pending or admitted
	SessionID string // the session that ended, when admitted
}

// Leave takes the fan out of the line, or ends its shopping session.
func (q *Queue) Leave(ctx context.Context, ev Event, userID string) (*Left, error) {
	r, err := q.leave.Run(ctx, q.rdb, keys(ev.ID), userID).Slice()
	if err != nil {
		return nil, fmt.Errorf("leave %s: %w", ev.ID, err)
	}
	switch was := r[0].(string); was {
	case "none":
		return nil, ErrNotInLine
	case "gone":
		return nil, ErrPlaceLost
	default:
		l := &Left{Was: was}
		l.SessionID, _ = r[1].(string)
		return l, nil
	}
}

// Step is what one admission step changed.
type Step struct {
	State    string
	Admitted int64    // the admission counter after the step
	Users    []string // admitted in this step, to claim within the claim window
	Dropped  []string // admitted earlier but never claimed
	Expired  []Ended  // sessions whose time ran out
	Rate     float64  // admissions per second over the last minute
	moved    bool
}

// Ended is a shopping session that is over.
type Ended struct {
	UserID, SessionID string
}

// Changed reports whether this step (not another replica's) moved anyone's
// position or session, so that each change is published exactly once.
func (s *Step) Changed() bool { return s.moved || len(s.Users)+len(s.Dropped)+len(s.Expired) > 0 }

// maxScan bounds the places one step may pass over (left, dropped), so that a
// step stays short even after a mass exodus.
const maxScan = 5000

// Admit runs one admission step for the event.
func (q *Queue) Admit(ctx context.Context, ev Event) (*Step, error) {
	now := q.now()
	soldOut := 0
	if ev.SoldOut {
		soldOut = 1
	}
	r, err := q.admit.Run(ctx, q.rdb, keys(ev.ID), now.UnixMilli(), ev.SaleOpensAt.UnixMilli(), ev.MaxActive,
		ev.Claim.Milliseconds(), ev.AdmissionRate, ev.Presence.Milliseconds(), maxScan, soldOut).Slice()
	if err != nil {
		return nil, fmt.Errorf("admit %s: %w", ev.ID, err)
	}
	s := &Step{State: r[0].(string), Admitted: r[1].(int64), Rate: float64(r[5].(int64)) / 1000, moved: r[6].(int64) != r[1].(int64)}
	s.Users = toStrings(r[2])
	s.Dropped = toStrings(r[3])
	for _, e := range toStrings(r[4]) {
		user, sid, _ := cut(e)
		s.Expired = append(s.Expired, Ended{UserID: user, SessionID: sid})
	}
	return s, nil
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

func cut(s string) (before, after string, found bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Counts are the line's numbers for an organizer.
type Counts struct {
	State    string
	Length   int64 // places handed out so far
	Admitted int64 // admission counter
	Active   int64 // shopping now
	Pending  int64 // admitted, not yet claimed
	Rate     float64
}

// Counts reads the line's numbers in one round trip.
func (q *Queue) Counts(ctx context.Context, eventID string) (*Counts, error) {
	k := keys(eventID)
	pipe := q.rdb.Pipeline()
	st := pipe.HMGet(ctx, k[0], "state", "tail", "adm")
	lobby := pipe.HLen(ctx, k[1])
	active := pipe.ZCard(ctx, k[8])
	pending := pipe.ZCard(ctx, k[7])
	samples := pipe.LRange(ctx, k[10], 0, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue counts %s: %w", eventID, err)
	}
	c := &Counts{Active: active.Val(), Pending: pending.Val(), Rate: rateOf(samples.Val())}
	v := st.Val()
	c.State, _ = v[0].(string)
	c.Length = atoi(v[1])
	c.Admitted = atoi(v[2])
	if c.State == "lobby" {
		c.Length = lobby.Val()
	}
	return c, nil
}

func atoi(v any) int64 {
	var n int64
	if s, ok := v.(string); ok {
		fmt.Sscan(s, &n)
	}
	return n
}

// EventOf takes the line's settings from the event as stored.
func EventOf(e *store.Event) Event {
	return Event{
		ID: e.ID, LobbyOpensAt: e.LobbyOpensAt, SaleOpensAt: e.SaleOpensAt, ClosesAt: e.StartsAt,
		MaxActive: e.MaxActiveShoppers, AdmissionRate: e.AdmissionRate,
		Claim:    time.Duration(e.ClaimSeconds) * time.Second,
		Hold:     time.Duration(e.HoldSeconds) * time.Second,
		Presence: time.Duration(e.PresenceSeconds) * time.Second,
	}
}

// ErrNoSession is a fan without an active shopping session for the event.
var ErrNoSession = errors.New("no active shopping session")

// Session returns the fan's active shopping session. With a token, the token must
// be genuine, unexpired and name the session that is active now, so neither a
// forged token nor one kept from an earlier session opens the shop.
func (q *Queue) Session(ctx context.Context, ev Event, userID, token string) (*session.Session, error) {
	var claimed *session.Session
	if token != "" {
		s, err := q.signer.Verify(token, ev.ID, userID)
		if err != nil {
			return nil, err
		}
		claimed = s
	}
	k := keys(ev.ID)
	pipe := q.rdb.Pipeline()
	active := pipe.ZScore(ctx, k[8], userID)
	sess := pipe.HGet(ctx, k[9], userID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("session %s: %w", ev.ID, err)
	}
	exp, err := active.Result()
	if err != nil || int64(exp) <= q.now().UnixMilli() {
		return nil, ErrNoSession
	}
	id, _, _ := cut(sess.Val())
	if claimed != nil && claimed.ID != id {
		return nil, session.ErrInvalid
	}
	s := &session.Session{ID: id, EventID: ev.ID, UserID: userID, ExpiresAt: time.UnixMilli(int64(exp)).UTC()}
	q.signer.Sign(s)
	return s, nil
}

// Touch records a sign of life for fans with a live connection, so that they keep
// their places without polling. One pipelined command per fan, run by the replica
// that holds the connections every third of the presence window.
func (q *Queue) Touch(ctx context.Context, eventID string, users []string) error {
	if len(users) == 0 {
		return nil
	}
	now := float64(q.now().UnixMilli())
	members := make([]redis.Z, len(users))
	for i, u := range users {
		members[i] = redis.Z{Score: now, Member: u}
	}
	// XX: only fans already in line; GT: never move a sign of life back.
	if err := q.rdb.ZAddArgs(ctx, keys(eventID)[6], redis.ZAddArgs{XX: true, GT: true, Members: members}).Err(); err != nil {
		return fmt.Errorf("touch %s: %w", eventID, err)
	}
	return nil
}

// Numbers returns the places of the given fans (absent: not numbered yet).
func (q *Queue) Numbers(ctx context.Context, eventID string, users []string) (map[string]int64, error) {
	out := make(map[string]int64, len(users))
	if len(users) == 0 {
		return out, nil
	}
	vals, err := q.rdb.HMGet(ctx, keys(eventID)[3], users...).Result()
	if err != nil {
		return nil, fmt.Errorf("numbers %s: %w", eventID, err)
	}
	for i, v := range vals {
		if n := atoi(v); n > 0 {
			out[users[i]] = n
		}
	}
	return out, nil
}
