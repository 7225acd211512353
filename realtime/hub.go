// Package realtime pushes live updates to the WebSocket clients of
// GET /api/v1/events/{id}/live. Each replica runs one Hub for its own clients;
// replicas exchange messages over Redis pub/sub, one channel per event
// (Channel), subscribed only while the replica has a client of that event.
//
// The hub never waits for a client: the fan-out stores each client's pending
// state and wakes a short-lived writer goroutine. Bursts are coalesced (the
// latest queue.update per client, the latest availability and merged seat
// changes per zone, flushed at most once per FlushInterval per zone), ordered
// messages are never dropped, and a client that cannot keep up is closed.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by Serve when the hub is closing or closed.
var ErrClosed = errors.New("live hub closed")

// Options tune a Hub; zero values take the defaults.
type Options struct {
	// SendBuffer is how many ordered messages (targeted, sale, pong) may wait
	// for one client before it is closed as too slow. Default 64.
	SendBuffer int
	// PingInterval is how often each client is pinged, to keep proxies from
	// closing idle connections and to find dead peers. Default 25 s.
	PingInterval time.Duration
	// WriteTimeout bounds each write and each wait for a pong. Default 15 s:
	// a phone in a tunnel, or a busy client, catches up from the coalesced
	// state cheaper than it reconnects and reads a snapshot.
	WriteTimeout time.Duration
	// FlushInterval is the least time between two flushes of one zone's
	// availability and seat changes. Default 250 ms: a seat map redrawn four
	// times a second looks live, and each flush is one write per shopper.
	FlushInterval time.Duration
	// WaitingEvery is the least time between two rounds of the changes that
	// coalesce (position, availability, seats) to a client that is not
	// shopping: a fan in line, on the event page or on the dashboard. A fan
	// n thousand places from the front gets them n times less often, at most
	// ten times. Shopping fans get every flush. Default 1 s; negative: every
	// client gets every flush.
	WaitingEvery time.Duration
	// Log gets what cannot be returned: bus and subscription errors. Default: discard.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.SendBuffer <= 0 {
		o.SendBuffer = 64
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 15 * time.Second
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 250 * time.Millisecond
	}
	if o.WaitingEvery == 0 {
		o.WaitingEvery = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Hub is one replica's set of live clients.
type Hub struct {
	rdb    redis.UniversalClient
	opts   Options
	log    *slog.Logger
	ps     *redis.PubSub
	cancel context.CancelFunc
	bufs   sync.Pool // writers' scratch buffers for queue.updates

	mu     sync.Mutex
	events map[string]*event // only events with at least one local client
	closed bool

	clients    sync.WaitGroup // Serve calls past registration
	loops      sync.WaitGroup
	resub      chan struct{} // the set of events changed: (un)subscribe
	admissions admissions
}

// NewHub starts a hub. It never fails on Redis: the subscription connects in
// the background, and go-redis reconnects and resubscribes it as needed.
func NewHub(rdb redis.UniversalClient, opts Options) *Hub {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		rdb:        rdb,
		opts:       opts,
		log:        opts.Log,
		ps:         rdb.Subscribe(ctx),
		cancel:     cancel,
		events:     make(map[string]*event),
		resub:      make(chan struct{}, 1),
		admissions: admissions{ready: make(chan struct{}, 1)},
	}
	h.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	// A large buffer absorbs bursts while the bus goroutine fans out a tick.
	// The subscriptions' confirmations come too: a second one for a channel
	// is a resubscription after a lost connection (see receive).
	msgs := h.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	h.loops.Add(2)
	go func() {
		defer h.loops.Done()
		h.receive(msgs)
	}()
	go func() {
		defer h.loops.Done()
		h.subscribe(ctx)
	}()
	return h
}

// Serve runs one client until it disconnects, ctx ends or the hub closes, and
// closes conn. It writes the snapshot first (each element JSON-encoded; pass
// json.RawMessage for ready bytes), then live messages. Messages published
// before Serve registers the client are not delivered: build the snapshot just
// before calling Serve.
//
// For the least memory per connection, get conn from Accept and call Serve on
// a goroutine of its own while the HTTP handler returns: net/http then frees
// the request, its buffers and the handler's stack (~7.5 KB per connection
// instead of ~22 KB, see BenchmarkFanout). ctx must then outlive the request,
// whose context ends when the handler returns.
//
// It returns nil when the peer went away, ErrSlowClient, ErrClosed, ctx's
// error, or the error that ended the client (such as an unanswered ping).
func (h *Hub) Serve(ctx context.Context, conn *websocket.Conn, info ClientInfo, snapshot []any) error {
	snap := make([][]byte, 0, len(snapshot))
	for i, m := range snapshot {
		b, err := json.Marshal(m)
		if err != nil {
			_ = conn.Close(websocket.StatusInternalError, "")
			return fmt.Errorf("encode snapshot message %d: %w", i, err)
		}
		snap = append(snap, b)
	}
	userJSON, _ := json.Marshal(info.UserID) // a string always encodes
	c := &client{hub: h, conn: conn, info: info, userJSON: userJSON, snap: snap}
	if err := h.register(c); err != nil {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return err
	}
	defer h.unregister(c)

	conn.SetReadLimit(readLimit)
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.shutdown(ctx.Err(), websocket.StatusGoingAway, "")
	})
	defer stop()
	c.mu.Lock()
	if !c.closing {
		c.ping = time.AfterFunc(h.opts.PingInterval, c.pingNow)
	}
	c.kick() // the snapshot
	c.mu.Unlock()

	readErr := c.read()
	c.mu.Lock()
	if !c.closing {
		c.stopLocked(nil)
	}
	c.mu.Unlock()
	_ = conn.CloseNow() // also waits for a close handshake in flight
	c.writers.Wait()    // quick now that the connection is closed
	if c.deadline != nil {
		c.deadline.Stop()
	}
	return c.result(readErr)
}

func (h *Hub) register(c *client) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	ev := h.events[c.info.EventID]
	if ev == nil {
		ev = newEvent(h, c.info.EventID)
		h.events[ev.id] = ev
		h.wakeSubscriber()
	}
	c.ev = ev
	ev.mu.Lock()
	ev.add(c)
	ev.mu.Unlock()
	h.clients.Add(1)
	return nil
}

func (h *Hub) unregister(c *client) {
	defer h.clients.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := c.ev
	ev.mu.Lock()
	ev.remove(c)
	gone := ev.gone
	ev.mu.Unlock()
	if gone {
		delete(h.events, ev.id)
		h.wakeSubscriber()
	}
}

// event returns the event's local state, or nil when it has no local client.
func (h *Hub) event(eventID string) *event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events[eventID]
}

// Clients returns how many clients of the event this replica serves.
func (h *Hub) Clients(eventID string) int {
	ev := h.event(eventID)
	if ev == nil {
		return 0
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return len(ev.clients)
}

// LocalUsers returns the distinct users with a client of the event on this
// replica, so that the queue can look up their numbers in one batched call
// after the lobby shuffle and hand them to SetNumbers.
func (h *Hub) LocalUsers(eventID string) []string {
	ev := h.event(eventID)
	if ev == nil {
		return nil
	}
	return ev.users()
}

// Events lists the events with at least one client on this replica.
func (h *Hub) Events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.events))
	for id := range h.events {
		ids = append(ids, id)
	}
	return ids
}

// SetNumbers sets the place in line of local users (user id → number) and
// moves lobby clients to "waiting". Once the event has had a tick, each
// numbered client gets its position at once.
func (h *Hub) SetNumbers(eventID string, numbers map[string]int64) {
	if ev := h.event(eventID); ev != nil {
		ev.setNumbers(numbers)
	}
}

// Admissions signals when ticks have admitted fans who have a live connection
// here: an open connection claims its fan's admission, and the claim (I/O) is
// for the caller to make. Take them with TakeAdmissions.
func (h *Hub) Admissions() <-chan struct{} { return h.admissions.ready }

// TakeAdmissions returns the fans connected here whom ticks admitted since the
// last call, by event. The fan-out never blocks on this and never drops one:
// what is not taken yet waits here.
func (h *Hub) TakeAdmissions() map[string][]string { return h.admissions.take() }

// admissions collects the admitted fans of local clients for TakeAdmissions.
type admissions struct {
	mu      sync.Mutex
	byEvent map[string][]string
	ready   chan struct{} // holds one signal while byEvent is not empty
}

func (a *admissions) add(eventID string, users []string) {
	a.mu.Lock()
	if a.byEvent == nil {
		a.byEvent = make(map[string][]string)
	}
	a.byEvent[eventID] = append(a.byEvent[eventID], users...)
	a.mu.Unlock()
	select {
	case a.ready <- struct{}{}:
	default: // a signal is pending; the taker will see these too
	}
}

func (a *admissions) take() map[string][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.byEvent
	a.byEvent = nil
	return out
}

// Close closes every client with StatusGoingAway (on SIGTERM, so that clients
// reconnect to another replica), waits for their Serve calls to return, and
// ends the subscription.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var all []*client
	for _, ev := range h.events {
		ev.mu.Lock()
		all = append(all, ev.clients...)
		ev.mu.Unlock()
	}
	h.mu.Unlock()
	for _, c := range all {
		c.mu.Lock()
		c.shutdown(ErrClosed, websocket.StatusGoingAway, "server shutting down")
		c.mu.Unlock()
	}
	h.clients.Wait()
	h.cancel()
	err := h.ps.Close()
	h.loops.Wait()
	if err != nil {
		return fmt.Errorf("close live subscription: %w", err)
	}
	return nil
}
