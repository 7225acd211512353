// Package queue is the waiting room: the lobby and its auditable shuffle, places
// in line, admission control under a cap on active shoppers, and the words and
// arithmetic of a fan's standing (Status, Outlook, PositionOf, ETA) that every
// other package uses.
package queue

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/store"
)

var (
	// freezeLua is prepended to the scripts that may see the opening second.
	//go:embed freeze.lua
	freezeLua string
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

var (
	// ErrNotInLine is a fan who has not joined (or whose place was lost with Redis).
	ErrNotInLine = errors.New("not in line")
	// ErrPlaceLost is a fan who left, was dropped for absence or finished shopping.
	ErrPlaceLost = errors.New("no longer in line")
	// ErrNotOnSale is an event whose lobby has not opened or whose sale is over.
	ErrNotOnSale = errors.New("the line for this event is not open")
	// ErrNoSession is a fan without an active shopping session for the event.
	ErrNoSession = errors.New("no active shopping session")
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

// Queue runs the line of every event in Redis. Safe for concurrent use, and on
// every replica at once.
type Queue struct {
	rdb redis.UniversalClient
	now func() time.Time

	join, status, leave, admit, number *redis.Script
}

// shebang opens every script: Redis 7 then holds a script to the slot of its
// keys in a cluster, so one that touched a key of another slot fails there
// (scripts/redis-cluster.sh test), even when both slots live on one node, which
// a script without it may do unnoticed.
const shebang = "#!lua\n"

// New builds a Queue.
func New(rdb redis.UniversalClient, now func() time.Time) *Queue {
	return &Queue{
		rdb: rdb, now: now,
		join: redis.NewScript(shebang + freezeLua + joinLua), admit: redis.NewScript(shebang + freezeLua + admitLua),
		status: redis.NewScript(shebang + statusLua), leave: redis.NewScript(shebang + leaveLua),
		number: redis.NewScript(shebang + numberLua),
	}
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
	v, err := q.join.Run(ctx, q.rdb, keysOf(ev.ID).forJoin(), userID, now.UnixMilli(), ev.SaleOpensAt.UnixMilli(),
		randomID("j"), seed, commit).Slice()
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", ev.ID, err)
	}
	r := reply{v: v}
	isNew := r.str(0) == "new"
	if r.err != nil {
		return nil, fmt.Errorf("join %s: %w", ev.ID, r.err)
	}
	// The join may have made this fan's admission possible at once; the status
	// call claims it and reports positions in one place.
	p, err := q.Status(ctx, ev, userID)
	if err != nil {
		return nil, err
	}
	p.New = isNew
	return p, nil
}

// JoinMany puts many fans in line at once, each as Join does, in one pipeline
// of join scripts (one round trip for the batch): a presale list imported, or
// a rehearsal's crowd. It claims no admission; a fan's first status call does.
func (q *Queue) JoinMany(ctx context.Context, ev Event, users []string) error {
	now := q.now()
	if now.Before(ev.LobbyOpensAt) || !now.Before(ev.ClosesAt) {
		return ErrNotOnSale
	}
	seed, commit := newSeed()
	keys := keysOf(ev.ID).forJoin()
	// A pipeline learns of NOSCRIPT only at its end: load the script first.
	if err := q.join.Load(ctx, q.rdb).Err(); err != nil {
		return fmt.Errorf("load join script: %w", err)
	}
	cmds, err := q.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range users {
			q.join.EvalSha(ctx, p, keys, u, now.UnixMilli(), ev.SaleOpensAt.UnixMilli(), randomID("j"), seed, commit)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("join %d fans to %s: %w", len(users), ev.ID, err)
	}
	for _, c := range cmds {
		v, _ := c.(*redis.Cmd).Slice()
		r := reply{v: v}
		if r.str(0); r.err != nil {
			return fmt.Errorf("join %s: %w", ev.ID, r.err)
		}
	}
	return nil
}

// Status reports the fan's place now. It is a sign of life that keeps the place,
// and it claims an admission, starting the shopping session.
func (q *Queue) Status(ctx context.Context, ev Event, userID string) (*Place, error) {
	now := q.now()
	v, err := q.status.Run(ctx, q.rdb, keysOf(ev.ID).forStatus(), userID, now.UnixMilli(), ev.Hold.Milliseconds(), randomID("s")).Slice()
	if err != nil {
		return nil, fmt.Errorf("queue status %s: %w", ev.ID, err)
	}
	r := reply{v: v}
	switch st := Status(r.str(0)); st {
	case "none":
		return nil, ErrNotInLine
	case "gone":
		return nil, ErrPlaceLost
	case StatusLobby, StatusWaiting, StatusAdmitted:
		p := &Place{Status: st, JoinID: r.str(1), Number: r.numText(2), OpensAt: ev.SaleOpensAt}
		adm := r.num(3)
		switch st {
		case StatusAdmitted:
			p.Admission = &Admission{SessionID: r.str(4), ExpiresAt: time.UnixMilli(r.num(5)).UTC()}
		case StatusWaiting:
			p.setPosition(adm, rateOf([]string{r.optStr(7), r.optStr(8)}))
		}
		if r.err != nil {
			return nil, fmt.Errorf("queue status %s: %w", ev.ID, r.err)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("queue status %s: %w", ev.ID, r.fail(0))
	}
}

// Left says what a fan's leaving ended.
type Left struct {
	Was       string // lobby, waiting, pending or admitted
	SessionID string // the session that ended, when admitted
}

// Leave takes the fan out of the line, or ends its shopping session.
func (q *Queue) Leave(ctx context.Context, eventID, userID string) (*Left, error) {
	v, err := q.leave.Run(ctx, q.rdb, keysOf(eventID).forLeave(), userID).Slice()
	if err != nil {
		return nil, fmt.Errorf("leave %s: %w", eventID, err)
	}
	r := reply{v: v}
	l := &Left{Was: r.str(0), SessionID: r.optStr(1)}
	switch {
	case r.err != nil:
		return nil, fmt.Errorf("leave %s: %w", eventID, r.err)
	case l.Was == "none":
		return nil, ErrNotInLine
	case l.Was == "gone":
		return nil, ErrPlaceLost
	}
	return l, nil
}

// Active is the fan's shopping session now; ErrNoSession when there is none.
func (q *Queue) Active(ctx context.Context, eventID, userID string) (*Admission, error) {
	k := keysOf(eventID)
	pipe := q.rdb.Pipeline()
	active := pipe.ZScore(ctx, k.active, userID)
	sess := pipe.HGet(ctx, k.sess, userID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("session %s: %w", eventID, err)
	}
	exp, err := active.Result()
	if err != nil || int64(exp) <= q.now().UnixMilli() {
		return nil, ErrNoSession
	}
	id, _, _ := cut(sess.Val())
	return &Admission{SessionID: id, ExpiresAt: time.UnixMilli(int64(exp)).UTC()}, nil
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
	v, err := q.admit.Run(ctx, q.rdb, keysOf(ev.ID).forAdmit(), now.UnixMilli(), ev.SaleOpensAt.UnixMilli(), ev.MaxActive,
		ev.Claim.Milliseconds(), ev.AdmissionRate, ev.Presence.Milliseconds(), maxScan, soldOut).Slice()
	if err != nil {
		return nil, fmt.Errorf("admit %s: %w", ev.ID, err)
	}
	r := reply{v: v}
	s := &Step{State: r.str(0), Admitted: r.num(1), Users: r.strs(2), Dropped: r.strs(3), Rate: float64(r.num(5)) / 1000}
	s.moved = r.num(6) != s.Admitted
	for _, e := range r.strs(4) {
		user, sid, _ := cut(e)
		s.Expired = append(s.Expired, Ended{UserID: user, SessionID: sid})
	}
	if r.err != nil {
		return nil, fmt.Errorf("admit %s: %w", ev.ID, r.err)
	}
	return s, nil
}

// cut splits "user|session" at its last bar (user ids never hold one, but an
// id's end is safer to trust than its start).
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
	k := keysOf(eventID)
	pipe := q.rdb.Pipeline()
	st := pipe.HMGet(ctx, k.q, "state", "tail", "adm")
	lobby := pipe.HLen(ctx, k.lobby)
	active := pipe.ZCard(ctx, k.active)
	pending := pipe.ZCard(ctx, k.pending)
	samples := pipe.LRange(ctx, k.samples, 0, -1)
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

// Touch records a sign of life for fans with a live connection, so that they keep
// their places without polling. One command for all the given fans.
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
	if err := q.rdb.ZAddArgs(ctx, keysOf(eventID).seen, redis.ZAddArgs{XX: true, GT: true, Members: members}).Err(); err != nil {
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
	vals, err := q.rdb.HMGet(ctx, keysOf(eventID).num, users...).Result()
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
