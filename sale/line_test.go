package sale_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// countingCounter counts the reads of the live counts.
type countingCounter struct {
	*inventory.Inventory
	reads atomic.Int64
}

func (c *countingCounter) Counts(ctx context.Context, eventID string) ([]inventory.ZoneCounts, error) {
	c.reads.Add(1)
	return c.Inventory.Counts(ctx, eventID)
}

// The line's public reading comes from the reading each step refreshes, so a
// crowd polling it between steps costs Redis nothing; it is never more than
// a quarter of a second old, and it says what a live tick says.
func TestLineIsTheStepsReading(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 5)
	storetest.CleanRedis(t, rdb, ev.ID)
	c := &clock{}
	c.ms.Store(time.Now().UnixMilli())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	inv := &countingCounter{Inventory: inventory.New(rdb, c.now, queue.ActiveKey)}
	snap, err := db.InventorySnapshot(ctx, ev.ID)
	require.NoError(t, err)
	require.NoError(t, inv.Rebuild(ctx, snap))
	hub := realtime.NewHub(rdb, realtime.Options{Log: log})
	t.Cleanup(func() { _ = hub.Close() })
	line := queue.New(rdb, c.now)
	s := sale.New(sale.Config{Queue: line, Hub: hub, Inventory: inv, Store: oneEvent{DB: db, id: ev.ID}, Redis: rdb, Log: log, Now: c.now})

	for range 3 {
		_, err := line.Join(ctx, queue.EventOf(ev), store.NewID("u"))
		require.NoError(t, err)
	}
	_, err = s.Events(ctx) // a step's fresh reading
	require.NoError(t, err)
	reads := inv.reads.Load()
	for range 100 {
		l, err := s.Line(ctx, ev)
		require.NoError(t, err)
		require.Equal(t, store.SaleOpen, l.SaleStatus)
		require.Equal(t, 5, l.TicketsLeft)
		require.Zero(t, l.Admitted)
		require.NotNil(t, l.Bounds)
		require.Equal(t, queue.Supply{Available: 5, Admitted: 0}.Bounds(), *l.Bounds, "the outlook's positions, as a tick has them")
	}
	require.Equal(t, reads, inv.reads.Load(), "reads between steps come from the step's reading")

	// Every ticket gone (behind the scripts' back, as holds would): the next
	// reading past a quarter of a second says so, with no outlook positions.
	require.NoError(t, rdb.HSet(ctx, "ev:{"+ev.ID+"}:inv:z:GA", "avail", 0).Err())
	l, err := s.Line(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, 5, l.TicketsLeft, "still the step's reading")
	c.ms.Add(251)
	l, err = s.Line(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, reads+1, inv.reads.Load())
	require.Equal(t, store.SaleSoldOut, l.SaleStatus)
	require.Zero(t, l.TicketsLeft)
	require.Nil(t, l.Bounds)
	require.Equal(t, c.now(), l.At)
}
