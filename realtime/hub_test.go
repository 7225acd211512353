package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

// marker is a broadcast sent after the message under test: a client whose
// first message is the marker got nothing from what came before, because a
// client's writes follow the bus order.
var marker = Message{Type: TypeSaleUpdate, SaleStatus: "marker"}

func requireOnlyMarker(t *testing.T, f *fan) {
	t.Helper()
	g := f.read()
	require.Equal(t, TypeSaleUpdate, g.Type, "want nothing before the marker, got %s", g.raw)
	require.Equal(t, "marker", g.SaleStatus)
}

func TestTickReachesEveryReplicaWithEachPosition(t *testing.T) {
	t.Parallel()
	a, b := newReplica(t, Options{}), newReplica(t, Options{})
	ev := newEventID(t)
	alice := a.dial(t, ClientInfo{EventID: ev, UserID: "alice", Number: 10, Status: queue.StatusWaiting}, false)
	bob := a.dial(t, ClientInfo{EventID: ev, UserID: "bob", Number: 20, Status: queue.StatusWaiting}, false)
	carol := a.dial(t, ClientInfo{EventID: ev, UserID: "carol", Status: queue.StatusLobby}, false)
	dave := b.dial(t, ClientInfo{EventID: ev, UserID: "dave", Number: 15, Status: queue.StatusWaiting}, false)
	erin := b.dial(t, ClientInfo{EventID: ev, UserID: "erin", Number: 3, Status: queue.StatusAdmitted}, false)
	waitClients(t, a.hub, ev, 3)
	waitClients(t, b.hub, ev, 2)
	waitSubscribed(t, a.rdb, ev, 2)

	publish(t, a.hub, ev, Message{Type: TypeQueueTick, Admitted: 5, EtaRate: 2, TicketsLeft: 812, Outlook: "good"})
	publish(t, a.hub, ev, marker)

	tests := []struct {
		name string
		fan  *fan
		user string
		want int64 // position
		eta  int64
	}{
		{name: "alice on A", fan: alice, user: "alice", want: 5, eta: 2}, // ceil(4/2)
		{name: "bob on A", fan: bob, user: "bob", want: 15, eta: 7},      // ceil(14/2)
		{name: "dave on B", fan: dave, user: "dave", want: 10, eta: 5},   // ceil(9/2)
	}
	for _, tt := range tests {
		g := tt.fan.read()
		require.Equal(t, TypeQueueUpdate, g.Type, tt.name)
		assert.Equal(t, tt.user, g.UserID, tt.name)
		assert.Equal(t, queue.StatusWaiting, g.Status, tt.name)
		assert.Equal(t, tt.want, *g.Position, tt.name)
		assert.Equal(t, tt.want-1, *g.Ahead, tt.name)
		assert.Equal(t, tt.eta, *g.EtaSeconds, tt.name)
		assert.Equal(t, 812, *g.TicketsLeft, tt.name)
		assert.Equal(t, "good", g.Outlook, tt.name)
		requireOnlyMarker(t, tt.fan)
	}
	requireOnlyMarker(t, carol) // in the lobby: no number yet
	requireOnlyMarker(t, erin)  // already admitted
}

func TestTargetedMessagesReachOnlyThatUsersTabs(t *testing.T) {
	t.Parallel()
	a, b := newReplica(t, Options{}), newReplica(t, Options{})
	ev := newEventID(t)
	tab1 := a.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 10, Status: queue.StatusWaiting}, false)
	tab2 := a.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 10, Status: queue.StatusWaiting}, false)
	tab3 := b.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 10, Status: queue.StatusWaiting}, false)
	other := a.dial(t, ClientInfo{EventID: ev, UserID: "u2", Number: 11, Status: queue.StatusWaiting}, false)
	waitClients(t, a.hub, ev, 3)
	waitClients(t, b.hub, ev, 1)
	waitSubscribed(t, a.rdb, ev, 2)

	expires := time.Date(2026, 5, 1, 10, 10, 0, 0, time.FixedZone("CEST", 2*3600))
	publish(t, b.hub, ev, Message{Type: TypeSessionAdmitted, UserID: "u1", SessionID: "s-1", ExpiresAt: expires})
	publish(t, b.hub, ev, marker)
	for _, tab := range []*fan{tab1, tab2, tab3} {
		g := tab.read()
		require.JSONEq(t, `{"type":"session.admitted","session_id":"s-1","expires_at":"2026-05-01T08:10:00Z"}`, g.raw)
		requireOnlyMarker(t, tab)
	}
	requireOnlyMarker(t, other)

	// Admitted now: a tick that would move number 10 leaves all u1's tabs alone.
	publish(t, a.hub, ev, Message{Type: TypeQueueTick, Admitted: 1, TicketsLeft: 5})
	publish(t, a.hub, ev, marker)
	for _, tab := range []*fan{tab1, tab2, tab3} {
		requireOnlyMarker(t, tab)
	}
	g := other.read()
	require.Equal(t, TypeQueueUpdate, g.Type)
	require.Equal(t, int64(10), *g.Position)
	require.Nil(t, g.EtaSeconds, "no admission rate yet")
	requireOnlyMarker(t, other)
}

func TestTargetedMessagesKeepTheirOrder(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 3, Status: queue.StatusAdmitted}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeReservationExpired, UserID: "u1", ReservationID: "r-1"})
	publish(t, r.hub, ev, Message{Type: TypeSessionExpired, UserID: "u1", SessionID: "s-1"})
	// The fan rejoins: a targeted queue.update numbers them again, and ticks move them.
	publish(t, r.hub, ev, Message{Type: TypeQueueUpdate, UserID: "u1", Number: 105, Status: queue.StatusWaiting,
		Position: ptr(int64(5)), Ahead: ptr(int64(4)), TicketsLeft: 10})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 101, EtaRate: 0.5, TicketsLeft: 9})

	require.JSONEq(t, `{"type":"reservation.expired","reservation_id":"r-1"}`, f.read().raw)
	require.JSONEq(t, `{"type":"session.expired","session_id":"s-1"}`, f.read().raw)
	// The targeted queue.update and the tick share one slot: the tick may
	// have replaced it, but the last one read is the tick's.
	last := f.readUntil(func(g got) bool { return g.Type == TypeQueueUpdate && *g.TicketsLeft == 9 })
	require.JSONEq(t, `{"type":"queue.update","user_id":"u1","status":"waiting","position":4,"ahead":3,"eta_seconds":6,"tickets_left":9}`,
		last[len(last)-1].raw)
	for _, g := range last[:len(last)-1] {
		require.JSONEq(t, `{"type":"queue.update","user_id":"u1","status":"waiting","position":5,"ahead":4,"eta_seconds":null,"tickets_left":10}`, g.raw)
	}
}

func TestSetNumbersAfterTheLobbyShuffle(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	u1 := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusLobby}, false)
	u2 := r.dial(t, ClientInfo{EventID: ev, UserID: "u2", Status: queue.StatusLobby}, false)
	waitClients(t, r.hub, ev, 2)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 0, TicketsLeft: 100})
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, u1) // in the lobby: nothing to move
	requireOnlyMarker(t, u2)

	users := r.hub.LocalUsers(ev)
	sort.Strings(users)
	require.Equal(t, []string{"u1", "u2"}, users)
	r.hub.SetNumbers(ev, map[string]int64{"u1": 3, "u2": 7})
	require.Equal(t, int64(3), *u1.read().Position, "the last tick gives the position at once")
	require.Equal(t, int64(7), *u2.read().Position)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 2, TicketsLeft: 100})
	require.Equal(t, int64(1), *u1.read().Position)
	require.Equal(t, int64(5), *u2.read().Position)
	require.Empty(t, r.hub.LocalUsers(newEventID(t)))
}

func TestPositionsNeverMoveBack(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 50, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	// Two controllers' ticks, the newer counter published first.
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, TicketsLeft: 100})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 8, TicketsLeft: 99})
	all := f.readUntil(func(g got) bool { return *g.TicketsLeft == 99 })
	for _, g := range all {
		require.Equal(t, int64(40), *g.Position, g.raw)
	}
}

func TestAdmittedUsersStopMovingAtOnce(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 50, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)

	// Admitted out of the counter's order (say, a returning fan): the tick
	// must not tell them they still wait.
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, TicketsLeft: 100, AdmittedUsers: []string{"u1"}})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 11, TicketsLeft: 100})
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, f)
}

// The fans a tick admits who are connected here wait for TakeAdmissions (an
// open connection claims its fan's admission), every one of them, however many
// ticks pass before they are taken; fans connected elsewhere are not here.
func TestAdmittedLocalFansAreHandedOver(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	for _, u := range []string{"u1", "u2", "u3"} {
		r.dial(t, ClientInfo{EventID: ev, UserID: u, Number: 50, Status: queue.StatusWaiting}, false)
	}
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 50, Status: queue.StatusWaiting}, false) // a second tab
	waitClients(t, r.hub, ev, 4)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 10, TicketsLeft: 9, AdmittedUsers: []string{"u1", "elsewhere"}})
	publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: 12, TicketsLeft: 9, AdmittedUsers: []string{"u2", "u3"}})
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, f)
	select {
	case <-r.hub.Admissions():
	case <-time.After(wait):
		t.Fatal("no signal of admitted fans")
	}
	require.Equal(t, map[string][]string{ev: {"u1", "u2", "u3"}}, r.hub.TakeAdmissions())
	require.Empty(t, r.hub.TakeAdmissions(), "taken once")
}

// Taking admissions while ticks keep admitting loses none of them.
func TestAdmissionsTakenWhileTicksArrive(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	const n = 40
	for i := range n {
		r.dial(t, ClientInfo{EventID: ev, UserID: fmt.Sprintf("u%d", i), Number: 1000, Status: queue.StatusWaiting}, false)
	}
	waitClients(t, r.hub, ev, n)
	waitSubscribed(t, r.rdb, ev, 1)

	taken := make(chan string, n)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-r.hub.Admissions():
				for _, users := range r.hub.TakeAdmissions() {
					for _, u := range users {
						taken <- u
					}
				}
			}
		}
	}()
	for i := range n {
		publish(t, r.hub, ev, Message{Type: TypeQueueTick, Admitted: int64(i + 1), TicketsLeft: 9, AdmittedUsers: []string{fmt.Sprintf("u%d", i)}})
	}
	got := map[string]bool{}
	deadline := time.After(wait)
	for len(got) < n {
		select {
		case u := <-taken:
			require.False(t, got[u], "%s taken twice", u)
			got[u] = true
		case <-deadline:
			t.Fatalf("%d of %d admitted fans handed over", len(got), n)
		}
	}
	close(stop)
	<-done
}

func TestBroadcastsReachEveryClient(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	fans := []*fan{
		r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 1, Status: queue.StatusWaiting}, false),
		r.dial(t, ClientInfo{EventID: ev, UserID: "u2", Status: queue.StatusNone}, false),
	}
	waitClients(t, r.hub, ev, 2)
	waitSubscribed(t, r.rdb, ev, 1)

	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "open"})
	publish(t, r.hub, ev, Message{Type: TypeAvailabilityUpdate, ZoneID: "GA", AvailableTickets: 0})
	publish(t, r.hub, ev, Message{Type: TypeSeatUpdate, ZoneID: "VIP", Seats: map[string]string{"1A": "RESERVED"}})
	// A fan in line gets no zone changes (queue.update carries the tickets
	// left); a watcher gets both zones'.
	seen := [][]string{nil, {"GA", "VIP"}}
	for i, f := range fans {
		require.JSONEq(t, `{"type":"sale.update","sale_status":"open"}`, f.read().raw)
		// The zone messages may come in either order: each zone is flushed on its own.
		var zones []string
		for range seen[i] {
			g := f.read()
			switch g.Type {
			case TypeAvailabilityUpdate:
				require.JSONEq(t, `{"type":"availability.update","zone_id":"GA","available_tickets":0}`, g.raw)
			case TypeSeatUpdate:
				require.JSONEq(t, `{"type":"seat.update","zone_id":"VIP","seats":{"1A":"RESERVED"}}`, g.raw)
			}
			zones = append(zones, g.ZoneID)
		}
		require.ElementsMatch(t, seen[i], zones)
	}
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, fans[0])
}

func TestSnapshotComesFirst(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{}, func(r *replica) {
		r.snapshot = func(c ClientInfo) []any {
			return []any{
				map[string]any{"type": "queue.update", "user_id": c.UserID, "status": "waiting", "position": 42},
				json.RawMessage(`{"type":"availability.update","zone_id":"GA","available_tickets":812}`),
			}
		}
	})
	ev := newEventID(t)
	first := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Number: 50, Status: queue.StatusWaiting}, false)
	waitClients(t, r.hub, ev, 1)
	waitSubscribed(t, r.rdb, ev, 1)
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "open"})
	require.Equal(t, TypeSaleUpdate, first.readUntil(func(g got) bool { return g.Type == TypeSaleUpdate })[2].Type)

	// A client arriving while messages flow still gets its snapshot first.
	second := r.dial(t, ClientInfo{EventID: ev, UserID: "u2", Number: 51, Status: queue.StatusWaiting}, false)
	publish(t, r.hub, ev, Message{Type: TypeSaleUpdate, SaleStatus: "open"})
	g := second.read()
	require.Equal(t, TypeQueueUpdate, g.Type)
	require.Equal(t, "u2", g.UserID)
	require.Equal(t, int64(42), *g.Position)
	require.JSONEq(t, `{"type":"availability.update","zone_id":"GA","available_tickets":812}`, second.read().raw)
}

func TestPingGetsPong(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{}, func(r *replica) { r.blocking = true })
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	f.send(`{"type":"ping"}`)
	require.JSONEq(t, `{"type":"pong"}`, f.read().raw)
	f.send(`{"type":"something newer"}`) // ignored
	f.send(`{"type":"ping"}`)
	require.JSONEq(t, `{"type":"pong"}`, f.read().raw)
}

func TestServerPingsClients(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{PingInterval: 20 * time.Millisecond})
	ev := newEventID(t)
	pings := make(chan struct{}, 100)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+r.srv.URL[len("http"):]+"/?event="+ev+"&user=u1",
		&websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
			pings <- struct{}{}
			return true // answer with a pong
		}})
	require.NoError(t, err)
	defer conn.CloseNow()
	_ = conn.CloseRead(ctx) // a reader, so that pings are seen and answered
	for range 3 {
		select {
		case <-pings:
		case <-ctx.Done():
			t.Fatal("no ping from the server")
		}
	}
	require.Equal(t, 1, r.hub.Clients(ev), "a client that answers pings stays")
}

func TestDeadPeerIsDropped(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{PingInterval: 20 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	ev := newEventID(t)
	// Never reading, this client never answers a ping, like a vanished peer.
	_ = r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 1)
	waitClients(t, r.hub, ev, 0)
	err := <-r.served
	require.ErrorContains(t, err, "ping")
}

func TestClientsFallToZeroAndUnsubscribe(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	var fans []*fan
	for _, u := range []string{"u1", "u1", "u2"} {
		fans = append(fans, r.dial(t, ClientInfo{EventID: ev, UserID: u, Status: queue.StatusNone}, false))
	}
	waitClients(t, r.hub, ev, 3)
	waitSubscribed(t, r.rdb, ev, 1)

	require.NoError(t, fans[0].conn.Close(websocket.StatusNormalClosure, ""))
	waitClients(t, r.hub, ev, 2)
	_ = fans[1].conn.CloseNow() // gone without a close frame
	_ = fans[2].conn.CloseNow()
	waitClients(t, r.hub, ev, 0)
	for range 3 {
		require.NoError(t, <-r.served, "a fan leaving is no error")
	}
	require.Empty(t, r.hub.LocalUsers(ev))
	waitSubscribed(t, r.rdb, ev, 0)

	// Coming back subscribes again.
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitSubscribed(t, r.rdb, ev, 1)
	publish(t, r.hub, ev, marker)
	requireOnlyMarker(t, f)
}

func TestServeEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := newReplica(t, Options{}, func(r *replica) { r.ctx = ctx })
	ev := newEventID(t)
	f := r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false)
	waitClients(t, r.hub, ev, 1)
	cancel()
	require.Equal(t, websocket.StatusGoingAway, f.closeStatus())
	require.ErrorIs(t, <-r.served, context.Canceled)
	waitClients(t, r.hub, ev, 0)
}

func TestCloseSendsGoingAway(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	ev := newEventID(t)
	fans := []*fan{
		r.dial(t, ClientInfo{EventID: ev, UserID: "u1", Status: queue.StatusNone}, false),
		r.dial(t, ClientInfo{EventID: ev, UserID: "u2", Status: queue.StatusNone}, true),
	}
	waitClients(t, r.hub, ev, 2)

	// The fans read, as browsers do, so the close handshakes complete.
	statuses := make(chan websocket.StatusCode, len(fans))
	for _, f := range fans {
		go func() { statuses <- readToClose(f.conn) }()
	}
	require.NoError(t, r.hub.Close())
	for range fans {
		require.Equal(t, websocket.StatusGoingAway, <-statuses)
		require.ErrorIs(t, <-r.served, ErrClosed)
	}
	require.Zero(t, r.hub.Clients(ev))
	require.NoError(t, r.hub.Close(), "closing twice is harmless")

	late := r.dial(t, ClientInfo{EventID: ev, UserID: "u3", Status: queue.StatusNone}, false)
	require.Equal(t, websocket.StatusGoingAway, late.closeStatus())
	require.ErrorIs(t, <-r.served, ErrClosed)
}

func TestPublishRejectsWhatNoReplicaCouldDeliver(t *testing.T) {
	t.Parallel()
	r := newReplica(t, Options{})
	tests := []struct {
		name string
		give Message
	}{
		{name: "unknown type", give: Message{Type: "queue.shuffle"}},
		{name: "targeted without user", give: Message{Type: TypeSessionAdmitted, SessionID: "s"}},
		{name: "broadcast with user", give: Message{Type: TypeSaleUpdate, SaleStatus: "open", UserID: "u1"}},
		{name: "tick with user", give: Message{Type: TypeQueueTick, UserID: "u1"}},
		{name: "negative rate", give: Message{Type: TypeQueueTick, EtaRate: -1}},
		{name: "sale without status", give: Message{Type: TypeSaleUpdate}},
		{name: "availability without zone", give: Message{Type: TypeAvailabilityUpdate}},
		{name: "seats without seats", give: Message{Type: TypeSeatUpdate, ZoneID: "VIP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.hub.Publish(context.Background(), newEventID(t), tt.give)
			require.True(t, errors.Is(err, ErrInvalidMessage), "got %v", err)
		})
	}
}

func TestTickEncodingMatchesTheAPIShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		give   Message
		user   string
		number int64
		eta    *int64
	}{
		{name: "rate and outlook", give: Message{Admitted: 5, EtaRate: 2, TicketsLeft: 812, Outlook: "good"}, user: "123", number: 47, eta: ptr(int64(21))},
		{name: "no rate yet", give: Message{Admitted: 0, TicketsLeft: 0}, user: "u", number: 1},
		{name: "status and slow rate", give: Message{Admitted: 9, EtaRate: 0.3, TicketsLeft: 3, Status: "sold_out"}, user: "u", number: 20, eta: ptr(int64(34))},
		{name: "next in line", give: Message{Admitted: 9, EtaRate: 0.3, TicketsLeft: 3}, user: "u", number: 10, eta: ptr(int64(0))},
		{name: "user id to escape", give: Message{Admitted: 1, EtaRate: 1, TicketsLeft: 1}, user: `a"b\<c>`, number: 2, eta: ptr(int64(0))},
		{name: "rate near 0", give: Message{Admitted: 1, EtaRate: 1e-30, TicketsLeft: 1}, user: "u", number: 3, eta: ptr(int64(queue.MaxETA))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := newTick(&tt.give, tt.give.Admitted)
			user, _ := json.Marshal(tt.user)
			gotJSON := tk.appendUpdate(nil, user, tt.number)

			pos := tt.number - tt.give.Admitted
			want := queueUpdate{Type: TypeQueueUpdate, UserID: tt.user, Status: queue.StatusWaiting, Position: ptr(pos),
				Ahead: ptr(pos - 1), EtaSeconds: tt.eta, TicketsLeft: tt.give.TicketsLeft, Outlook: tt.give.Outlook}
			if tt.give.Status != "" {
				want.Status = tt.give.Status
			}
			wantJSON, err := json.Marshal(want)
			require.NoError(t, err)
			require.JSONEq(t, string(wantJSON), string(gotJSON))
		})
	}
}

// ClientJSON is what a client receives for a message, so that a snapshot built
// from it matches the live messages.
func TestClientJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		give Message
		want string
	}{
		{name: "session.expired with its reason", give: Message{Type: TypeSessionExpired, UserID: "u1", SessionID: "s-1", Reason: "timed_out"},
			want: `{"type":"session.expired","session_id":"s-1","reason":"timed_out"}`},
		{name: "queue.update of a lobby fan", give: Message{Type: TypeQueueUpdate, UserID: "u1", Status: queue.StatusLobby, Number: 7, TicketsLeft: 3},
			want: `{"type":"queue.update","user_id":"u1","status":"lobby","position":null,"ahead":null,"eta_seconds":null,"tickets_left":3}`},
		{name: "queue.update with an outlook", give: Message{Type: TypeQueueUpdate, UserID: "u1", Position: ptr(int64(2)), Ahead: ptr(int64(1)),
			TicketsLeft: 3, Outlook: queue.OutlookGood},
			want: `{"type":"queue.update","user_id":"u1","status":"waiting","position":2,"ahead":1,"eta_seconds":null,"tickets_left":3,"outlook":"good"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ClientJSON(tt.give)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(b))
		})
	}
}
