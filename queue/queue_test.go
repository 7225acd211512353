package queue_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// clock is a test clock that all instances share.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type fixture struct {
	rdb   redis.UniversalClient
	clock *clock
	ev    queue.Event
	// two instances sharing Redis, as two replicas do
	a, b *queue.Queue
	ctl  *queue.Controller
}

func newFixture(t testing.TB, maxActive int) *fixture {
	t.Helper()
	rdb := storetest.Redis(t)
	c := &clock{}
	c.ms.Store(time.Date(2030, 5, 1, 9, 59, 0, 0, time.UTC).UnixMilli())
	opens := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := queue.Event{
		ID: store.NewID("ev"), LobbyOpensAt: opens.Add(-time.Hour), SaleOpensAt: opens, ClosesAt: opens.Add(24 * time.Hour),
		MaxActive: maxActive, Claim: 2 * time.Minute, Hold: 10 * time.Minute, Presence: 5 * time.Minute,
	}
	storetest.CleanRedis(t, rdb, ev.ID)
	f := &fixture{rdb: rdb, clock: c, ev: ev, a: queue.New(rdb, c.now), b: queue.New(rdb, c.now)}
	f.ctl = queue.NewController(f.a, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f
}

func (f *fixture) open() { f.clock.ms.Store(f.ev.SaleOpensAt.UnixMilli()) }

func fans(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%04d", i)
	}
	return out
}

// 1,000 fans in the lobby get exactly the places 1..1,000 when the sale opens,
// in the order the revealed seed gives, and nobody could have known it before.
func TestLobbyOpensIntoPositionsOneToN(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10)
	ctx := context.Background()
	users := fans(1000)
	joinIDs := map[string]string{}
	for i, u := range users {
		q := f.a
		if i%2 == 1 {
			q = f.b
		}
		p, err := q.Join(ctx, f.ev, u)
		require.NoError(t, err)
		require.Equal(t, queue.StatusLobby, p.Status)
		require.Nil(t, p.Position)
		joinIDs[u] = p.JoinID
	}
	before, err := f.a.Audit(ctx, f.ev)
	require.NoError(t, err)
	require.Empty(t, before.Seed, "the seed stays secret until the sale opens")
	require.Len(t, before.Commitment, 64)

	f.open()
	f.ctl.Step(ctx, f.ev)

	positions := make([]int64, 0, len(users))
	byJoin := map[string]int64{}
	for _, u := range users {
		p, err := f.b.Status(ctx, f.ev, u)
		require.NoError(t, err)
		require.Equal(t, queue.StatusWaiting, p.Status)
		positions = append(positions, *p.Position)
		byJoin[joinIDs[u]] = *p.Position
	}
	slices.Sort(positions)
	for i, p := range positions {
		require.Equal(t, int64(i+1), p)
	}

	// The audit reproduces the order the server used.
	audit, err := f.a.Audit(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, before.Commitment, audit.Commitment)
	order, err := audit.Verify()
	require.NoError(t, err)
	require.Len(t, order, 1000)
	for i, id := range order {
		require.Equal(t, int64(i+1), byJoin[id], "join id %s", id)
	}
	// A changed seed or join id list gives another order, or fails the commitment.
	other := *audit
	other.Seed = "00" + audit.Seed[2:]
	if other.Seed == audit.Seed { // one seed in 256 begins with 00
		other.Seed = "ff" + audit.Seed[2:]
	}
	_, err = other.Verify()
	require.Error(t, err)
	alt, err := queue.Order(other.Seed, audit.Lobby)
	require.NoError(t, err)
	require.NotEqual(t, order, alt)
	changed := slices.Clone(audit.Lobby)
	changed[0] = "j_forged"
	alt, err = queue.Order(audit.Seed, changed)
	require.NoError(t, err)
	require.NotEqual(t, order, alt)
}

// After the opening, arrivals through two instances line up in arrival order and
// are admitted in that order.
func TestArrivalsAfterOpeningAreAdmittedInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	users := fans(20)
	for i, u := range users {
		q := []*queue.Queue{f.a, f.b}[i%2]
		p, err := q.Join(ctx, f.ev, u)
		require.NoError(t, err)
		if i > 0 { // the first may be admitted at once
			require.Equal(t, queue.StatusWaiting, p.Status)
		}
	}
	for i, u := range users {
		f.ctl.Step(ctx, f.ev)
		p, err := f.a.Status(ctx, f.ev, u) // claims
		require.NoError(t, err)
		require.Equal(t, queue.StatusAdmitted, p.Status, "fan %d", i)
		if i+1 < len(users) {
			next, err := f.b.Status(ctx, f.ev, users[i+1])
			require.NoError(t, err)
			require.Equal(t, queue.StatusWaiting, next.Status)
			require.Equal(t, int64(1), *next.Position)
		}
		_, err = f.b.Leave(ctx, f.ev.ID, u)
		require.NoError(t, err)
	}
}

// With many goroutines joining, claiming and leaving through two instances while
// both run admission steps, active + pending never exceeds the cap.
func TestCapHoldsUnderConcurrency(t *testing.T) {
	t.Parallel()
	const maxActive = 7
	f := newFixture(t, maxActive)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.open()
	k := "ev:{" + f.ev.ID + "}:"

	var (
		wg       sync.WaitGroup
		worst    atomic.Int64
		admitted atomic.Int64
	)
	watch := func() {
		for ctx.Err() == nil {
			pipe := f.rdb.TxPipeline()
			a := pipe.ZCard(ctx, k+"active")
			p := pipe.ZCard(ctx, k+"pending")
			if _, err := pipe.Exec(ctx); err == nil {
				if n := a.Val() + p.Val(); n > worst.Load() {
					worst.Store(n)
				}
			}
		}
	}
	go watch()
	stepper := func(q *queue.Queue) {
		ctl := queue.NewController(q, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for ctx.Err() == nil {
			ctl.Step(ctx, f.ev)
		}
	}
	go stepper(f.a)
	go stepper(f.b)
	for i, u := range fans(200) {
		q := []*queue.Queue{f.a, f.b}[i%2]
		wg.Go(func() {
			if _, err := q.Join(ctx, f.ev, u); err != nil {
				t.Error(err)
				return
			}
			for range 200 {
				p, err := q.Status(ctx, f.ev, u)
				if err != nil {
					t.Error(err)
					return
				}
				if p.Status == queue.StatusAdmitted {
					admitted.Add(1)
					break
				}
			}
			// Some leave having shopped, some leave while waiting.
			_, _ = q.Leave(ctx, f.ev.ID, u)
		})
	}
	wg.Wait()
	cancel()
	require.LessOrEqual(t, worst.Load(), int64(maxActive))
	require.Positive(t, admitted.Load())
}

// Admitted fans who never claim free their slots after the claim window; fans
// who leave while waiting never take one.
func TestUnclaimedAdmissionsAndLeaversFreeSlots(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 2)
	ctx := context.Background()
	f.open()
	users := fans(6)
	for _, u := range users {
		_, err := f.a.Join(ctx, f.ev, u)
		require.NoError(t, err)
	}
	// u0002 leaves; the step admits u0000 and u0001.
	_, err := f.a.Leave(ctx, f.ev.ID, users[2])
	require.NoError(t, err)
	f.ctl.Step(ctx, f.ev)

	// Nobody claims; after the claim window, the step drops them and admits the
	// next two, skipping the leaver.
	f.clock.advance(f.ev.Claim + time.Second)
	s, err := f.a.Admit(ctx, f.ev)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{users[0], users[1]}, s.Dropped)
	require.Equal(t, []string{users[3], users[4]}, s.Users)

	_, err = f.a.Status(ctx, f.ev, users[0])
	require.ErrorIs(t, err, queue.ErrPlaceLost)
	p, err := f.a.Status(ctx, f.ev, users[3])
	require.NoError(t, err)
	require.Equal(t, queue.StatusAdmitted, p.Status)
	require.NotNil(t, p.Admission)
}

// A waiting fan who shows no sign of life for the presence window loses the
// place; the line moves past it at no cost to others.
func TestAbsentFanLosesPlace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	users := fans(3)
	for _, u := range users {
		_, err := f.a.Join(ctx, f.ev, u)
		require.NoError(t, err)
	}
	_, err := f.a.Status(ctx, f.ev, users[0]) // u0 claims its admission
	require.NoError(t, err)
	f.clock.advance(f.ev.Presence + time.Second)
	_, err = f.a.Status(ctx, f.ev, users[2]) // only u2 shows life
	require.NoError(t, err)
	_, err = f.a.Leave(ctx, f.ev.ID, users[0])
	require.NoError(t, err)

	s, err := f.a.Admit(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, []string{users[2]}, s.Users)
	_, err = f.a.Status(ctx, f.ev, users[1])
	require.ErrorIs(t, err, queue.ErrPlaceLost)
}

// A session ends when its time is up, whether or not anyone is connected.
func TestSessionExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	p, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	if p.Status != queue.StatusAdmitted {
		f.ctl.Step(ctx, f.ev)
		p, err = f.a.Status(ctx, f.ev, "u1")
		require.NoError(t, err)
	}
	require.Equal(t, queue.StatusAdmitted, p.Status)
	require.Equal(t, f.clock.now().Add(f.ev.Hold).UnixMilli(), p.Admission.ExpiresAt.UnixMilli())

	f.clock.advance(f.ev.Hold)
	s, err := f.a.Admit(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, []queue.Ended{{UserID: "u1", SessionID: p.Admission.SessionID}}, s.Expired)
	_, err = f.a.Status(ctx, f.ev, "u1")
	require.ErrorIs(t, err, queue.ErrPlaceLost)

	// Joining again puts the fan at the back with a new place.
	p2, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	require.NotEqual(t, p.JoinID, p2.JoinID)
}

// A join says whether it took a new place, so that a fan's live connections
// hear of it once.
func TestJoinSaysWhetherThePlaceIsNew(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	for _, want := range []bool{true, false} {
		p, err := f.a.Join(ctx, f.ev, "u1")
		require.NoError(t, err)
		require.Equal(t, want, p.New)
	}
	_, err := f.a.Leave(ctx, f.ev.ID, "u1")
	require.NoError(t, err)
	p, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	require.True(t, p.New, "back after leaving: a new place at the back")
}

// ActiveKey names the set of shopping sessions the scripts keep, which
// inventory's hold scripts read.
func TestActiveKeyNamesTheSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	_, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	f.ctl.Step(ctx, f.ev)
	p, err := f.a.Status(ctx, f.ev, "u1")
	require.NoError(t, err)
	exp, err := f.rdb.ZScore(ctx, queue.ActiveKey(f.ev.ID), "u1").Result()
	require.NoError(t, err)
	require.Equal(t, p.Admission.ExpiresAt.UnixMilli(), int64(exp))
}

// Losing Redis restarts the line: fans are told they are not in line, and can join again.
func TestRedisLossRestartsLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	ctx := context.Background()
	f.open()
	_, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	storetest.CleanRedis(t, f.rdb, f.ev.ID)
	_, err = f.a.Status(ctx, f.ev, "u1")
	require.ErrorIs(t, err, queue.ErrNotInLine)
	p, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	require.Equal(t, int64(1), *p.Position)
	f.ctl.Step(ctx, f.ev)
	p, err = f.a.Status(ctx, f.ev, "u1")
	require.NoError(t, err)
	require.Equal(t, queue.StatusAdmitted, p.Status)
}

// A sold-out line admits nobody, and admits again when tickets come back.
func TestSoldOutPausesAdmission(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5)
	ctx := context.Background()
	f.open()
	_, err := f.a.Join(ctx, f.ev, "u1")
	require.NoError(t, err)
	soldOut := f.ev
	soldOut.SoldOut = true
	s, err := f.a.Admit(ctx, soldOut)
	require.NoError(t, err)
	require.Empty(t, s.Users)
	s, err = f.a.Admit(ctx, f.ev)
	require.NoError(t, err)
	require.Equal(t, []string{"u1"}, s.Users)
}

// The ETA comes from the admission rate measured over the last minute.
func TestETAFromMeasuredRate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 5)
	ctx := context.Background()
	f.open()
	users := fans(40)
	for _, u := range users {
		_, err := f.a.Join(ctx, f.ev, u)
		require.NoError(t, err)
	}
	p, err := f.a.Status(ctx, f.ev, users[39])
	require.NoError(t, err)
	require.Nil(t, p.ETASeconds, "no admissions yet: no estimate")
	for range 4 { // five admitted a second, who leave at once
		s, err := f.a.Admit(ctx, f.ev)
		require.NoError(t, err)
		for _, u := range s.Users {
			_, err := f.a.Leave(ctx, f.ev.ID, u)
			require.NoError(t, err)
		}
		f.clock.advance(time.Second)
	}
	p, err = f.a.Status(ctx, f.ev, users[39])
	require.NoError(t, err)
	require.Equal(t, int64(19), *p.Ahead)
	require.Equal(t, int64(4), *p.ETASeconds, "19 ahead at 5 a second")
}

// JoinMany is Join for a crowd: each fan once, in arrival order, again the same
// place, and not before the lobby opens.
func TestJoinMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, 10)
	f.open()
	crowd := fans(300)
	require.NoError(t, f.a.JoinMany(ctx, f.ev, crowd))
	require.NoError(t, f.b.JoinMany(ctx, f.ev, crowd[:100])) // again: the same places
	nums, err := f.a.Numbers(ctx, f.ev.ID, crowd)
	require.NoError(t, err)
	seen := map[int64]bool{}
	for i, u := range crowd {
		require.Equal(t, int64(i+1), nums[u], "fan %s", u)
		seen[nums[u]] = true
	}
	require.Len(t, seen, 300)
	counts, err := f.a.Counts(ctx, f.ev.ID)
	require.NoError(t, err)
	require.EqualValues(t, 300, counts.Length)

	early := f.ev
	early.ID, early.LobbyOpensAt = store.NewID("ev"), f.clock.now().Add(time.Hour)
	require.ErrorIs(t, f.a.JoinMany(ctx, early, crowd), queue.ErrNotOnSale)
}
