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

// The line's public reading says what the last admission step's tick says,
// from the reading each step refreshes, so a crowd polling it between steps
// costs Redis nothing; it is never more than a quarter of a second old.
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
	s := sale.New(sale.Config{Queue: line, Hub: hub, Inventory: inv, Store: oneEvent{DB: db, id: ev.ID},
		Redis: rdb, Log: log, Now: c.now, Sessions: noSessions{}})
	ticks := bus(t, rdb, ev.ID)
	join := func(n int) {
		for range n {
			_, err := line.Join(ctx, queue.EventOf(ev), store.NewID("u"))
			require.NoError(t, err)
		}
	}
	// step runs one admission step, as every replica's controller does, and
	// returns its tick.
	step := func() realtime.Message {
		t.Helper()
		require.NoError(t, queue.NewController(line, s.Events, s.OnStep, log).Tick(ctx))
		for m := range ticks {
			if m.Type == realtime.TypeQueueTick {
				return m
			}
		}
		t.Fatal("no tick")
		return realtime.Message{}
	}
	join(3)
	step()
	join(2)
	c.ms.Add(1500) // a second's rate sample later
	tick := step()
	require.NotZero(t, tick.EtaRate, "two steps a second and a half apart measure a rate")

	reads := inv.reads.Load()
	for range 100 {
		l, err := s.Line(ctx, ev)
		require.NoError(t, err)
		require.Equal(t, store.SaleOpen, l.SaleStatus)
		require.Equal(t, tick.Admitted, l.Admitted)
		require.Equal(t, tick.EtaRate, l.Rate)
		require.Equal(t, tick.TicketsLeft, l.TicketsLeft)
		require.NotNil(t, l.Bounds)
		require.Equal(t, queue.Bounds{GoodUntil: tick.GoodUntil, UnlikelyFrom: tick.UnlikelyFrom}, *l.Bounds)
	}
	require.Equal(t, reads, inv.reads.Load(), "reads between steps come from the step's reading")

	// Every ticket gone (behind the scripts' back, as holds would): the next
	// reading past a quarter of a second says so, with no outlook positions.
	require.NoError(t, rdb.HSet(ctx, "ev:{"+ev.ID+"}:inv:z:GA", "avail", 0).Err())
	l, err := s.Line(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, tick.TicketsLeft, l.TicketsLeft, "still the step's reading")
	c.ms.Add(251)
	l, err = s.Line(ctx, ev)
	require.NoError(t, err)
	require.Equal(t, reads+1, inv.reads.Load())
	require.Equal(t, store.SaleSoldOut, l.SaleStatus)
	require.Zero(t, l.TicketsLeft)
	require.Nil(t, l.Bounds)
	require.Equal(t, c.now(), l.At)
}

// noSessions ends no session: no shopping session ends in this test.
type noSessions struct{ sale.Sessions }

func (noSessions) Expired(context.Context, string, []queue.Ended) {}
