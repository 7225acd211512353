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
	require.Eventually(t, func() bool { return pendingQueue(r.hub, ev) }, wait, time.Millisecond, "the change is held back")
	require.Equal(t, int64(30), *f.read().Position)
}

// TestAdmissionEndsPacing: a fan in line has a change held back for a
// minute; admitted, the fan is shopping and gets it at once, and seats too.
func TestAdmissionEndsPacing(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{WaitingEvery: time.Minute})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 3, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 10})
	require.Equal(t, 10, *f.read().AvailableTickets, "the first change opens a round at once")
	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 9})
	require.Eventually(t, func() bool { return pendingZones(r.hub, ev) > 0 }, wait, 5*time.Millisecond,
		"the change is held back")
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 3, EtaRate: 5, AdmittedUsers: []string{"u1"}})

	g := f.read()
	require.Equal(t, TypeAvailabilityUpdate, g.Type, "%s", g.raw)
	require.Equal(t, 9, *g.AvailableTickets, "a shopping fan's changes are not paced")
	publish(t, r.hub, ev, Message{Type: TypeSeatUpdate, ZoneID: "VIP", Seats: map[string]string{"1A": "RESERVED"}})
	require.Equal(t, "RESERVED", f.read().Seats["1A"], "and a shopping fan sees seats")
}

// pendingQueue says whether a position waits for the event's first client.
func pendingQueue(h *Hub, eventID string) bool {
	c := firstClient(h, eventID)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queue.set()
}

func firstClient(h *Hub, eventID string) *client {
	ev := h.event(eventID)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.clients[0]
}

// pendingZones counts the zones with changes waiting for the event's first client.
func pendingZones(h *Hub, eventID string) int {
	c := firstClient(h, eventID)
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.zones)
}

// TestOrderedMessageFlushesPacedChanges: a change held back for its round
// still reaches the client before a later ordered message (the bus order
// holds), and the position the fan sees at the end is the latest.
func TestOrderedMessageFlushesPacedChanges(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{WaitingEvery: time.Minute})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 100, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, EtaRate: 5, TicketsLeft: 50})
	require.Equal(t, int64(90), *f.read().Position)
	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 0})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 20, EtaRate: 5, Status: queue.StatusSoldOut})
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "sold_out"})

	seen := f.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate })
	require.Len(t, seen, 3, "held-back availability and position, then the sale status")
	require.Equal(t, 0, *seen[0].AvailableTickets)
	require.Equal(t, int64(80), *seen[1].Position)
	require.Equal(t, "sold_out", seen[2].SaleStatus)
}
