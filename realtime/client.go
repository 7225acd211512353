package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/boxofficehq/boxoffice/queue"
)

// ErrSlowClient ends a client whose ordered messages piled up beyond
// Options.SendBuffer, or that took no message for Options.WriteTimeout.
var ErrSlowClient = errors.New("live client too slow")

// ErrNoPong ends a client that answered no ping within Options.WriteTimeout:
// the peer is gone, or too busy to read.
var ErrNoPong = errors.New("live client answered no ping")

// readLimit bounds what a client may send: it only ever sends pings.
const readLimit = 4 << 10

// ClientInfo describes one live connection.
type ClientInfo struct {
	EventID string
	UserID  string
	// Number is the fan's place in line; 0 while in the lobby or not in line.
	Number int64
	// Status is where the fan stands. Ticks move only clients that are
	// numbered and neither admitted nor expired.
	Status queue.Status
}

// client is one connection. It has no goroutine of its own besides the one
// in Serve that reads: a writer goroutine runs only while there is something
// to write, which keeps an idle connection near the cost of one goroutine.
type client struct {
	hub      *Hub
	ev       *event
	conn     *websocket.Conn
	userJSON []byte // the user id as a JSON string, for the hand-made queue.update

	// Guarded by ev.mu.
	info    ClientInfo
	idx     int
	nextTab *client

	// Pending writes, guarded by mu. Each carries the sequence number of its
	// latest change and the writer sends the oldest first, so the client sees
	// the bus order minus superseded states (an expiry is never overtaken by
	// the queue.update of a later rejoin).
	mu      sync.Mutex
	seq     uint64
	snap    [][]byte  // the snapshot, written before anything else
	fifo    []pending // targeted, sale and pong messages: in order, never dropped
	queue   queueSlot
	zones   []zonePending // a handful of zones: a slice beats a map here
	pingDue bool
	writing bool           // a writer goroutine is running
	writers sync.WaitGroup // lets Serve wait for the last writer's verdict
	// deadline is the writers' write timeout; only the running writer uses it.
	deadline *time.Timer
	closing  bool  // nothing more is written; pending writes were dropped
	err      error // why the hub ended the connection
	ping     *time.Timer
	// Pacing of the coalescing writes (queue, zones) for a client that is not
	// shopping: a round starts at most every `every` (0: no pacing) and sends
	// the changes up to roundSeq, the last one before it began. The timer
	// wakes the writer when the next round is due.
	every     time.Duration
	round     time.Time
	roundSeq  uint64
	paceTimer *time.Timer
	paceAt    time.Time // when paceTimer fires; zero when it is not armed
}

type pending struct {
	msg []byte
	seq uint64
}

// queueSlot is the client's next queue.update: latest wins.
type queueSlot struct {
	tick   *tick // rendered by the writer for number
	number int64
	msg    []byte // a targeted queue.update, ready to send
	seq    uint64
}

func (q *queueSlot) set() bool { return q.tick != nil || q.msg != nil }

// zonePending is one zone's latest availability and merged seat changes.
type zonePending struct {
	zone     string
	avail    []byte
	availSeq uint64
	seats    *seatBatch
	seatsSeq uint64
}

// movedBy reports whether t changes the client's position. Runs under ev.mu.
func (c *client) movedBy(t *tick) bool {
	return c.info.Number > t.admitted && c.info.Status != queue.StatusAdmitted && c.info.Status != queue.StatusExpired
}

// kick starts a writer unless one runs already. Runs under c.mu.
func (c *client) kick() {
	if !c.writing && !c.closing {
		c.writing = true
		c.writers.Add(1)
		go c.write()
	}
}

// enqueue appends an ordered message; a client that cannot keep up is closed
// rather than allowed to grow without bound.
func (c *client) enqueue(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.fifo) >= c.hub.opts.SendBuffer {
		c.shutdown(ErrSlowClient, websocket.StatusPolicyViolation, "too slow")
		return
	}
	c.seq++
	c.fifo = append(c.fifo, pending{msg: b, seq: c.seq})
	c.kick()
}

// offerQueue sets the client's next queue.update, paced by every.
func (c *client) offerQueue(q queueSlot, every time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.seq++
	q.seq = c.seq
	c.queue = q
	c.kickPaced(every)
}

func (c *client) offerTick(t *tick, number int64, every time.Duration) {
	c.offerQueue(queueSlot{tick: t, number: number}, every)
}

func (c *client) clearQueue() {
	c.mu.Lock()
	c.queue = queueSlot{}
	c.mu.Unlock()
}

// admitted drops a pending position, which the admission would contradict,
// and ends the pacing: a shopping fan gets every change at once.
func (c *client) admitted() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = queueSlot{}
	if c.every != 0 {
		c.every = 0
		if len(c.zones) > 0 {
			c.kick()
		}
	}
}

// pacedDue reports whether a round may start at now. Runs under c.mu.
func (c *client) pacedDue(now time.Time) bool {
	return c.every == 0 || !now.Before(c.round.Add(c.every))
}

// kickPaced starts a writer for a coalescing change now if a round is due,
// else arms the timer for when it is: a waiting fan's change costs no
// goroutine until then. Runs under c.mu.
func (c *client) kickPaced(every time.Duration) {
	c.every = every
	if c.pacedDue(time.Now()) {
		c.kick()
		return
	}
	c.armPace(c.round.Add(c.every))
}

// armPace makes sure a writer starts by at. Runs under c.mu.
func (c *client) armPace(at time.Time) {
	if !c.paceAt.IsZero() && !c.paceAt.After(at) {
		return // armed for then or sooner
	}
	c.paceAt = at
	if c.paceTimer == nil {
		c.paceTimer = time.AfterFunc(time.Until(at), c.paceDue)
	} else {
		c.paceTimer.Reset(time.Until(at))
	}
}

func (c *client) paceDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paceAt = time.Time{}
	c.kick()
}

func (c *client) offerZone(zone string, avail []byte, seats *seatBatch, every time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	i := 0
	for i < len(c.zones) && c.zones[i].zone != zone {
		i++
	}
	if i == len(c.zones) {
		c.zones = append(c.zones, zonePending{zone: zone})
	}
	z := &c.zones[i]
	c.seq++
	if avail != nil {
		z.avail, z.availSeq = avail, c.seq
	}
	if seats != nil {
		if z.seats == nil {
			z.seats = seats
		} else {
			z.seats = z.seats.merge(seats)
		}
		z.seatsSeq = c.seq
	}
	c.kickPaced(every)
}

// shutdown ends the connection with a close frame and drops what is pending.
// Runs under c.mu. The close handshake can take seconds, so it runs on its own
// goroutine: the caller may be the fan-out.
func (c *client) shutdown(cause error, code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.stopLocked(cause)
	go func() { _ = c.conn.Close(code, reason) }()
}

// stopLocked marks the client closed and frees its pending writes. Runs under c.mu.
func (c *client) stopLocked(cause error) {
	c.closing = true
	if c.err == nil {
		c.err = cause
	}
	c.snap, c.fifo, c.queue, c.zones = nil, nil, queueSlot{}, nil
	if c.ping != nil {
		c.ping.Stop()
	}
	if c.paceTimer != nil {
		c.paceTimer.Stop()
	}
}

// pingNow asks the writer to ping, so that pings queue behind writes in flight.
func (c *client) pingNow() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.pingDue = true
	c.kick()
}

// read answers the client's pings until the connection ends. It is what keeps
// the connection's control frames (pongs, close) flowing.
func (c *client) read() error {
	pong := []byte(`{"type":"pong"}`)
	for {
		typ, data, err := c.conn.Read(context.Background())
		if err != nil {
			return err
		}
		var in struct {
			Type string `json:"type"`
		}
		if typ == websocket.MessageText && json.Unmarshal(data, &in) == nil && in.Type == "ping" {
			c.enqueue(pong)
		}
		// Anything else is ignored, so that newer clients can talk to older servers.
	}
}

// result is Serve's error: the hub's reason, or nil when the peer went away.
func (c *client) result(readErr error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if websocket.CloseStatus(readErr) != -1 || errors.Is(readErr, io.EOF) || errors.Is(readErr, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("read: %w", readErr)
}
