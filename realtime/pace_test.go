package realtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// TestFansFarBackArePaced: while the line moves five times a second, a fan
// near the front gets a position at most every WaitingEvery, a fan more than
// ten thousand places back at most every ten times that, and each ends with
// the latest position: pacing drops steps, never the state.
func TestFansFarBackArePaced(t *testing.T) {
	t.Parallel()
	const every = 200 * time.Millisecond
	r := newReplica(t, Options{WaitingEvery: every})
	ev := newEventID(t)
	near := r.dial(t, ClientInfo{EventID: ev, UserID: "near", Number: 500, Status: queue.StatusWaiting}, false)
	far := r.dial(t, ClientInfo{EventID: ev, UserID: "far", Number: 20_000, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 2)
	waitSubscribed(t, r.rdb, ev, 1)

	const steps = 60 // three seconds of a step every 50 ms
	start := time.Now()
	var admitted int64
	for range steps {
		admitted += 5
		publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: admitted, EtaRate: 100, TicketsLeft: 100})
		time.Sleep(50 * time.Millisecond)
	}
	publish(t, r.hub, ev, marker)
	took := time.Since(start)

	count := func(f *fan) (updates int, last int64) {
		for _, g := range f.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate }) {
			if g.Type == TypeQueueUpdate {
				updates++
				last = *g.Position
			}
		}
		return updates, last
	}
	// An ordered message flushes what waits before it, so each fan's last
	// position is the latest: nothing is lost to pacing.
	nearUpdates, nearLast := count(near)
	farUpdates, farLast := count(far)
	require.Equal(t, 500-admitted, nearLast)
	require.Equal(t, 20_000-admitted, farLast)
	// At most one round per pace, plus the first and the marker's flush.
	require.LessOrEqual(t, nearUpdates, int(took/every)+2, "near the front: one position per %s", every)
	require.LessOrEqual(t, farUpdates, int(took/(10*every))+2, "far back: one position per %s", 10*every)
	t.Logf("%d steps in %s: %d positions near the front, %d far back", steps, took.Round(time.Millisecond), nearUpdates, farUpdates)
}

// TestPacedChangeArrivesWithoutAnotherMessage: a held-back change goes out
// when its round comes, even when nothing else happens after it.
func TestPacedChangeArrivesWithoutAnotherMessage(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{WaitingEvery: 300 * time.Millisecond})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 50, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, EtaRate: 5, TicketsLeft: 9})
	require.Equal(t, int64(40), *f.read().Position, "the first change opens a round at once")
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 20, EtaRate: 5, TicketsLeft: 9})
	require.Eventually(t, func() bool { return pendingQueue(r.hub, ev, "u1") }, wait, time.Millisecond, "the change is held back")
	require.Equal(t, int64(30), *f.read().Position)
}

// TestShoppingStartsWithTheLatestCounts: a fan in line gets no zone changes
// (queue.update carries the tickets left); admitted, by whichever message
// says so, the fan gets every zone's latest count at once, and from then on
// every change unpaced.
func TestShoppingStartsWithTheLatestCounts(t *testing.T) {
	t.Parallel()
	for name, admit := range map[string]Message{
		"step":             {Type: TypeQueueTick, Admitted: 3, EtaRate: 5, AdmittedUsers: []string{"u1"}},
		"session.admitted": {Type: TypeSessionAdmitted, UserID: "u1", SessionID: "s1", ExpiresAt: time.Now().Add(time.Minute)},
		"queue.update":     {Type: TypeQueueUpdate, UserID: "u1", Status: queue.StatusAdmitted, TicketsLeft: 15},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newReplica(t, Options{WaitingEvery: time.Minute})
			ev := newEventID(t)
			f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 3, Status: queue.StatusWaiting}, false)
			waitClients(t, r.hub, ev, 1)
			waitSubscribed(t, r.rdb, ev, 1)

			publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 10})
			publish(t, r.hub, ev, Message{Type: TypeSeatUpdate, ZoneID: "VIP", Seats: map[string]string{"1A": "RESERVED"}})
			publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "VIP", AvailableTickets: 5})
			publish(t, r.hub, ev, marker)
			requireOnlyMarker(t, f)

			publish(t, r.hub, ev, admit)
			counts := map[string]int{}
			f.readUntil(func(g got) bool {
				if g.Type == TypeAvailabilityUpdate {
					counts[g.ZoneID] = *g.AvailableTickets
				}
				return len(counts) == 2
			})
			require.Equal(t, map[string]int{"GA": 10, "VIP": 5}, counts)
			publish(t, r.hub, ev, Message{Type: TypeSeatUpdate, ZoneID: "VIP", Seats: map[string]string{"1B": "RESERVED"}})
			g := f.readUntil(func(g got) bool { return g.Type == TypeSeatUpdate })
			require.Equal(t, "RESERVED", g[len(g)-1].Seats["1B"], "a shopping fan sees seats")
		})
	}
}

// pendingQueue says whether a position waits for the user's client.
func pendingQueue(h *Hub, eventID, user string) bool {
	c := clientOf(h, eventID, user)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.set()
}

func clientOf(h *Hub, eventID, user string) *client {
	ev := h.event(eventID)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.byUser[user]
}

// pendingZones counts the zones with changes waiting for the user's client.
func pendingZones(h *Hub, eventID, user string) int {
	c := clientOf(h, eventID, user)
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.zones)
}

// TestOrderedMessageFlushesPacedChanges: changes held back for their round
// still reach the client before a later ordered message (the bus order
// holds): a watcher's zone count, a waiting fan's position.
func TestOrderedMessageFlushesPacedChanges(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{WaitingEvery: time.Minute})
	ev := newEventID(t)
	fan := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 100, Status: queue.StatusWaiting}, false)
	watcher := r.dial(t, ClientInfo{EventID: ev, UserID: "w", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 2)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, EtaRate: 5, TicketsLeft: 50})
	require.Equal(t, int64(90), *fan.read().Position)
	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 1})
	require.Equal(t, 1, *watcher.read().AvailableTickets)
	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 0})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 20, EtaRate: 5, Status: queue.StatusSoldOut})
	require.Eventually(t, func() bool { return pendingQueue(r.hub, ev, "u1") && pendingZones(r.hub, ev, "w") > 0 },
		wait, time.Millisecond, "both changes are held back")
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "sold_out"})

	seen := fan.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate })
	require.Len(t, seen, 2, "the held-back position, then the sale status")
	require.Equal(t, int64(80), *seen[0].Position)
	seen = watcher.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate })
	require.Len(t, seen, 2, "the held-back count, then the sale status")
	require.Equal(t, 0, *seen[0].AvailableTickets)
}
