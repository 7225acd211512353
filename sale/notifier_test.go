package sale_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// A burst of ticket changes goes on the bus, at the next flush, as one
// availability per changed zone (the counts of now) and one seat update per
// seated zone carrying each seat's latest state: a hundred changes cost three
// messages, not two hundred.
func TestNoticesGatherABurst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, ev, inv, n, msgs := noticesOf(t)
	snap, err := db.InventorySnapshot(ctx, ev.ID)
	require.NoError(t, err)
	require.NoError(t, inv.Rebuild(ctx, snap))
	for i := range 50 {
		n.TicketsChanged(ctx, ev.ID, "GA", nil)
		status := "RESERVED"
		if i%2 == 1 {
			status = "AVAILABLE"
		}
		n.TicketsChanged(ctx, ev.ID, "VIP", map[string]string{"1A": status, "1B": "RESERVED"})
	}
	require.NoError(t, n.Flush(ctx))
	require.NoError(t, n.Flush(ctx)) // nothing new: nothing sent

	got := map[string]int{}
	quiet := time.After(time.Second)
	for done := false; !done; {
		select {
		case m := <-msgs:
			got[m.Type+" "+m.ZoneID]++
			switch m.Type {
			case realtime.TypeAvailabilityUpdate:
				want := map[string]int{"GA": 10, "VIP": 4}[m.ZoneID]
				require.Equal(t, want, m.AvailableTickets, "the counts of now")
			case realtime.TypeSeatUpdate:
				require.Equal(t, map[string]string{"1A": "AVAILABLE", "1B": "RESERVED"}, m.Seats, "each seat's latest state")
			}
		case <-quiet:
			done = true
		}
	}
	require.Equal(t, map[string]int{"availability.update GA": 1, "availability.update VIP": 1, "seat.update VIP": 1}, got)
}

// Changes that cannot be published because Redis lost the event (restarted
// empty, not yet rebuilt) are kept, not dropped: once the inventory is back,
// the next flush sends each zone's count and each seat's latest state, a
// change made meanwhile winning over the kept one. Dropped, a watcher would see
// the old counts until the zone changed again, which at the end of a sale is never.
func TestNoticesOutlastALostInventory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, ev, inv, n, msgs := noticesOf(t) // the inventory not in Redis yet
	n.TicketsChanged(ctx, ev.ID, "GA", nil)
	n.TicketsChanged(ctx, ev.ID, "VIP", map[string]string{"1A": "BOOKED", "1B": "RESERVED"})
	require.ErrorIs(t, n.Flush(ctx), inventory.ErrNotLoaded)
	n.TicketsChanged(ctx, ev.ID, "VIP", map[string]string{"1A": "AVAILABLE"})
	require.ErrorIs(t, n.Flush(ctx), inventory.ErrNotLoaded)
	select {
	case m := <-msgs:
		t.Fatalf("published without counts: %+v", m)
	case <-time.After(200 * time.Millisecond):
	}

	snap, err := db.InventorySnapshot(ctx, ev.ID)
	require.NoError(t, err)
	require.NoError(t, inv.Rebuild(ctx, snap))
	require.NoError(t, n.Flush(ctx))
	got := map[string]any{}
	for len(got) < 3 {
		select {
		case m := <-msgs:
			switch m.Type {
			case realtime.TypeAvailabilityUpdate:
				got[m.ZoneID] = m.AvailableTickets
			case realtime.TypeSeatUpdate:
				got["seats "+m.ZoneID] = m.Seats
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the kept changes were not published: got %v", got)
		}
	}
	require.Equal(t, map[string]any{"GA": 10, "VIP": 4,
		"seats VIP": map[string]string{"1A": "AVAILABLE", "1B": "RESERVED"}}, got)
}

// noticesOf makes an event (a pool of 10, a row of 4 seats), a notifier on a
// hub and the event's bus messages.
func noticesOf(t *testing.T) (*store.DB, *store.Event, *inventory.Inventory, *sale.Notifier, <-chan realtime.Message) {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 10, store.Row{Row: "1", Seats: 4})
	storetest.CleanRedis(t, rdb, ev.ID)
	inv := inventory.New(rdb, time.Now, queue.ActiveKey)
	hub := realtime.NewHub(rdb, realtime.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { _ = hub.Close() })
	return db, ev, inv, sale.NewNotifier(hub, inv), bus(t, rdb, ev.ID)
}

// bus hears the event's bus channel as a replica's hub does.
func bus(t *testing.T, rdb redis.UniversalClient, eventID string) <-chan realtime.Message {
	t.Helper()
	ps := rdb.Subscribe(context.Background(), realtime.Channel(eventID))
	t.Cleanup(func() { ps.Close() })
	_, err := ps.Receive(context.Background()) // the subscription's confirmation
	require.NoError(t, err)
	out := make(chan realtime.Message, 256)
	go func() {
		for raw := range ps.Channel() {
			var m realtime.Message
			if json.Unmarshal([]byte(raw.Payload), &m) == nil {
				out <- m
			}
		}
	}()
	return out
}
