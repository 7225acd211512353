package booking_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
)

// lookingStore runs between each look of the drift check, just before the
// snapshot is read: what a sale changes meanwhile.
type lookingStore struct {
	*store.DB
	looks   atomic.Int32
	between func(look int32)
}

func (l *lookingStore) InventorySnapshot(ctx context.Context, eventID string) (*inventory.Snapshot, error) {
	l.between(l.looks.Add(1))
	return l.DB.InventorySnapshot(ctx, eventID)
}

// zonesHeard records which zones a notifier was told changed.
type zonesHeard struct {
	quiet
	mu    sync.Mutex
	zones []string
}

func (z *zonesHeard) TicketsChanged(_ context.Context, _, zoneID string, _ map[string]string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.zones = append(z.zones, zoneID)
}

func (z *zonesHeard) take() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	out := z.zones
	z.zones = nil
	slices.Sort(out)
	return out
}

// TestDriftRepairsOnlyWhatPersists: a difference seen on one look only (a
// hold in flight, on a busy sale) is left alone; one seen on both looks is
// repaired, and every zone's count is announced, since watchers were shown
// the wrong one.
func TestDriftRepairsOnlyWhatPersists(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	seat := func(i int64, state string) { // behind the scripts' back: 1 reserved, 0 available
		require.NoError(t, s.rdb.SetRange(ctx, "ev:{"+s.ev.ID+"}:inv:z:VIP:state", i, state).Err())
	}
	ls := &lookingStore{DB: s.db, between: func(look int32) {
		switch look {
		case 1: // 1A differs on the first look only, 1B from the second on
			seat(0, "1")
		case 2:
			seat(0, "0")
			seat(1, "1")
		}
	}}
	require.NoError(t, s.svc.Rebuild(ctx, s.ev.ID)) // loaded as PostgreSQL has it
	inv := inventory.New(s.rdb, s.clock.now, queue.ActiveKey)
	heard := &zonesHeard{}
	svc := booking.New(ls, inv, s.pay, heard, slog.New(slog.NewTextHandler(io.Discard, nil)), s.clock.now)

	repaired, err := svc.CheckDrift(ctx, s.ev.ID)
	require.NoError(t, err)
	require.False(t, repaired, "no difference was on both looks")
	require.Empty(t, heard.take(), "nothing changed, nothing announced")
	snap, err := s.db.InventorySnapshot(ctx, s.ev.ID)
	require.NoError(t, err)
	drift, err := inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, []string{"zone VIP seat 1B: RESERVED in Redis, AVAILABLE in the database"}, drift,
		"left as it was")

	repaired, err = svc.CheckDrift(ctx, s.ev.ID)
	require.NoError(t, err)
	require.True(t, repaired, "1B differs on both looks now")
	drift, err = inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Empty(t, drift)
	require.Equal(t, []string{"GA", "VIP"}, heard.take(), "every zone's count announced after the repair")

	require.NoError(t, s.rdb.Del(ctx, "ev:{"+s.ev.ID+"}:inv:loaded").Err()) // Redis lost the event
	repaired, err = svc.CheckDrift(ctx, s.ev.ID)
	require.NoError(t, err)
	require.True(t, repaired)
	require.Equal(t, []string{"GA", "VIP"}, heard.take(), "and after a rebuild of a lost inventory")
}
