package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// publishAll sends messages in one pipeline: a burst as tight as Redis allows.
func publishAll(t *testing.T, rdb redis.UniversalClient, eventID string, msgs []Message) {
	t.Helper()
	for i := range msgs {
		require.NoError(t, msgs[i].validate())
	}
	node, err := publisher(context.Background(), rdb, Channel(eventID))
	require.NoError(t, err)
	_, err = node.Pipelined(context.Background(), func(p redis.Pipeliner) error {
		for _, m := range msgs {
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			p.Publish(context.Background(), Channel(eventID), b)
		}
		return nil
	})
	require.NoError(t, err)
}

// waitTicked waits until the hub has taken in the tick with this counter.
func waitTicked(t *testing.T, h *Hub, eventID string, admitted int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		ev := h.event(eventID)
		if ev == nil {
			return false
		}
		ev.mu.Lock()
		defer ev.mu.Unlock()
		return ev.last != nil && ev.last.admitted == admitted
	}, wait, 5*time.Millisecond)
}

func TestTicksCoalescePerClient(t *testing.T) {
	t.Parallel()
	// Unpaced: this is the coalescing of a client too slow to read every step.
	r := newReplica(t, Options{WaitingEvery: -1})
	ev := newEventID(t)
	const number, ticks = 10_000, 500
	// Small buffers and no reading until every tick is in: the writer is
	// blocked after a few KiB, so later ticks can only replace the slot.
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: number, Status: queue.StatusWaiting}, true)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	msgs := make([]Message, ticks)
	for i := range msgs {
		msgs[i] = Message{Type: TypeQueueTick, Admitted: int64(i + 1), EtaRate: 10, TicketsLeft: 100}
	}
	publishAll(t, r.rdb, ev, msgs)
	waitTicked(t, r.hub, ev, ticks)

	final := int64(number - ticks)
	seen := f.readUntil(func(g got) bool { return *g.Position == final })
	t.Logf("%d ticks reached the client as %d queue.updates", ticks, len(seen))
	require.Less(t, len(seen), ticks/2)
	for i := 1; i < len(seen); i++ {
		require.Less(t, *seen[i].Position, *seen[i-1].Position, "positions only move forward")
	}
	// Nothing is left over: the marker comes next.
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, f)
}

func TestSeatBurstCoalescesPerZone(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	// 1,000 changes to 500 seats: each seat is reserved, then booked.
	msgs := make([]Message, 1000)
	for i := range msgs {
		status := "RESERVED"
		if i >= 500 {
			status = "BOOKED"
		}
		msgs[i] = Message{Type: TypeSeatUpdate, ZoneID: "VIP", Seats: map[string]string{fmt.Sprintf("s%d", i%500): status}}
	}
	publishAll(t, r.rdb, ev, msgs)

	seats := make(map[string]string)
	booked := func() bool {
		for i := range 500 {
			if seats[fmt.Sprintf("s%d", i)] != "BOOKED" {
				return false
			}
		}
		return true
	}
	seen := f.readUntil(func(g got) bool {
		require.Equal(t, TypeSeatUpdate, g.Type)
		require.Equal(t, "VIP", g.ZoneID)
		for k, v := range g.Seats {
			seats[k] = v
		}
		return booked()
	})
	t.Logf("1000 seat changes reached the client as %d seat.updates", len(seen))
	require.LessOrEqual(t, len(seen), 20)
}

func TestAvailabilityLatestPerZoneWins(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	var msgs []Message
	for n := 200; n >= 0; n-- {
		msgs = append(msgs,
			Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: n},
			Message{Type: TypeAvailabilityUpdate, ZoneID: "PIT", AvailableTickets: n / 2})
	}
	publishAll(t, r.rdb, ev, msgs)

	latest := map[string]int{"GA": -1, "PIT": -1}
	seen := f.readUntil(func(g got) bool {
		require.Equal(t, TypeAvailabilityUpdate, g.Type)
		if prev := latest[g.ZoneID]; prev >= 0 {
			require.LessOrEqual(t, *g.AvailableTickets, prev, "an older value never follows a newer one")
		}
		latest[g.ZoneID] = *g.AvailableTickets
		return latest["GA"] == 0 && latest["PIT"] == 0
	})
	t.Logf("402 availability changes reached the client as %d messages", len(seen))
	require.LessOrEqual(t, len(seen), 40)
}

func TestSlowClientDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{WriteTimeout: time.Second})
	ev := newEventID(t)
	slow := r.dial(t, ClientInfo{EventID: ev, UserID: "slow", Status: queue.StatusNone}, true)
	fast := []*fan{
		r.dial(t, ClientInfo{EventID: ev, UserID: "f1", Status: queue.StatusNone}, false),
		r.dial(t, ClientInfo{EventID: ev, UserID: "f2", Status: queue.StatusNone}, false),
	}
	_ = slow // never reads
	waitClients(t, r.hub, ev, 3)
	waitSubscribed(t, r.rdb, ev, 1)

	// 20 zones × 2,000 seats, about 600 KB: far more than the slow client's buffers hold.
	var msgs []Message
	for z := range 20 {
		seats := make(map[string]string, 2000)
		for s := range 2000 {
			seats[fmt.Sprintf("row%d-seat%d", s/50, s)] = "RESERVED"
		}
		msgs = append(msgs, Message{Type: TypeSeatUpdate, ZoneID: fmt.Sprintf("Z%d", z), Seats: seats})
	}
	msgs = append(msgs, Message{Type: TypeSaleUpdate, SaleStatus: "sold_out"})
	publishAll(t, r.rdb, ev, msgs)

	for _, f := range fast {
		f.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate && g.SaleStatus == "sold_out" })
	}
	// Later messages still flow to the others while the slow one is stuck.
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "closed"})
	for _, f := range fast {
		f.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate && g.SaleStatus == "closed" })
	}

	waitClients(t, r.hub, ev, 2)
	err := <-r.served
	require.ErrorIs(t, err, ErrSlowClient, "cut off by the write timeout")
}

func TestOrderedBacklogClosesTheClient(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{SendBuffer: 8, WriteTimeout: time.Second})
	ev := newEventID(t)
	slow := r.dial(t, ClientInfo{EventID: ev, UserID: "slow", Status: queue.StatusAdmitted}, true)
	other := r.dial(t, ClientInfo{EventID: ev, UserID: "other", Status: queue.StatusAdmitted}, false)
	waitClients(t, r.hub, ev, 2)
	waitSubscribed(t, r.rdb, ev, 1)

	// Ordered messages can't be coalesced: 200 of 1 KiB each overflow the
	// socket buffers, then the send buffer.
	id := strings.Repeat("r", 1024)
	msgs := make([]Message, 200)
	for i := range msgs {
		msgs[i] = Message{Type: TypeReservationExpired, UserID: "slow", ReservationID: fmt.Sprint(id, i)}
	}
	msgs = append(msgs, Message{Type: TypeReservationExpired, UserID: "other", ReservationID: "r-1"})
	publishAll(t, r.rdb, ev, msgs)

	require.JSONEq(t, `{"type":"reservation.expired","reservation_id":"r-1"}`, other.read().raw)
	waitClients(t, r.hub, ev, 1)
	require.ErrorIs(t, <-r.served, ErrSlowClient)
	// The close frame waits behind the stuck data, so the client may see a
	// policy violation or just a dropped connection; either way it is gone.
	status := slow.closeStatus()
	require.Contains(t, []websocket.StatusCode{websocket.StatusPolicyViolation, -1}, status)
}

// cutProxy forwards TCP to Redis until cut, which drops every connection
// through it (new ones are let through again): a link lost, as when Redis
// restarts or fails over.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A subscription lost and made again may have missed messages, and Redis may
// have come back empty (the line with it): the event's clients are told to
// reconnect (1013, try again later), so each starts again from a snapshot.
func TestLostSubscriptionTellsClientsToReconnect(t *testing.T) {
	t.Parallel()
	raw := os.Getenv("TEST_REDIS_URL")
	if strings.Contains(raw, "addr=") {
		t.Skip("a Redis Cluster: the proxy stands in front of one node")
	}
	o, err := redis.ParseURL(raw)
	require.NoError(t, err)
	p := newCutProxy(t, o.Addr)
	r := newReplica(t, Options{}, func(r *replica) {
		r.rdb = redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), DB: o.DB, Password: o.Password})
	})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, newRedis(t), ev, 1)
	// A message through the subscription: its confirmation has been read.
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "open"})
	require.Equal(t, "open", f.read().SaleStatus)

	p.cut()
	require.Equal(t, websocket.StatusTryAgainLater, f.closeStatus())
	require.ErrorIs(t, <-r.served, ErrResync)
	waitClients(t, r.hub, ev, 0)
}
