package realtime

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// job is one write taken from the pending state.
type job struct {
	msg   []byte
	queue queueSlot
	seats *seatBatch
	ping  bool
}

// next takes the next write: the snapshot, then the oldest pending change,
// then a due ping. It returns false, and the writer exits, when none is left.
func (c *client) next() (j job, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		c.writing = false
		return j, false
	}
	if len(c.snap) > 0 {
		j.msg, c.snap[0], c.snap = c.snap[0], nil, c.snap[1:]
		if len(c.snap) == 0 {
			c.snap = nil
		}
		return j, true
	}
	const (
		none = iota
		fifo
		queue
		avail
		seats
	)
	pick, zone, oldest := none, 0, uint64(0)
	consider := func(kind, z int, seq uint64) {
		if pick == none || seq < oldest {
			pick, zone, oldest = kind, z, seq
		}
	}
	if len(c.fifo) > 0 {
		consider(fifo, 0, c.fifo[0].seq)
	}
	// A round of paced changes sends what was pending when it began; what
	// changes meanwhile waits for the next. An ordered message waiting behind
	// paced changes lets them all go first: the client sees the bus order.
	var newest uint64
	if c.queue.set() {
		newest = c.queue.seq
	}
	for i := range c.zones {
		newest = max(newest, c.zones[i].availSeq, c.zones[i].seatsSeq)
	}
	if newest > c.roundSeq {
		now := time.Now()
		switch {
		case c.every == 0 || len(c.fifo) > 0:
			c.roundSeq = c.seq
		case c.pacedDue(now):
			c.round, c.roundSeq = now, c.seq
		default:
			c.armPace(c.round.Add(c.every))
		}
	}
	if c.queue.set() && c.queue.seq <= c.roundSeq {
		consider(queue, 0, c.queue.seq)
	}
	for i := range c.zones {
		if z := &c.zones[i]; z.avail != nil && z.availSeq <= c.roundSeq {
			consider(avail, i, z.availSeq)
		}
		if z := &c.zones[i]; z.seats != nil && z.seatsSeq <= c.roundSeq {
			consider(seats, i, z.seatsSeq)
		}
	}
	switch pick {
	case fifo:
		j.msg, c.fifo[0], c.fifo = c.fifo[0].msg, pending{}, c.fifo[1:]
		if len(c.fifo) == 0 {
			c.fifo = nil // let the backing array go
		}
	case queue:
		j.queue, c.queue = c.queue, queueSlot{}
	case avail, seats:
		z := &c.zones[zone]
		if pick == avail {
			j.msg, z.avail = z.avail, nil
		} else {
			j.seats, z.seats = z.seats, nil
		}
		if z.avail == nil && z.seats == nil {
			c.zones = append(c.zones[:zone], c.zones[zone+1:]...)
			if len(c.zones) == 0 {
				c.zones = nil
			}
		}
	default:
		if !c.pingDue {
			c.writing = false
			return j, false
		}
		c.pingDue = false
		j.ping = true
	}
	return j, true
}

// write drains the pending state, then exits. Each write has its own
// deadline: a client that cannot take a message in WriteTimeout is cut off,
// and only its own writer ever waits for it.
func (c *client) write() {
	defer c.writers.Done()
	bp := c.hub.bufs.Get().(*[]byte)
	defer c.hub.bufs.Put(bp)
	for {
		j, ok := c.next()
		if !ok {
			return
		}
		msg := j.msg
		var err error
		switch {
		case j.queue.tick != nil:
			*bp = j.queue.tick.appendUpdate((*bp)[:0], c.userJSON, j.queue.number)
			msg = *bp
		case j.queue.msg != nil:
			msg = j.queue.msg
		case j.seats != nil:
			if msg = j.seats.enc; msg == nil {
				msg, err = j.seats.encode()
			}
		}
		switch {
		case err != nil:
		case j.ping:
			err = c.pingPeer()
		default:
			err = c.send(msg)
		}
		if err != nil {
			c.fail(err)
			return
		}
		if j.ping {
			c.mu.Lock()
			if !c.closing {
				c.ping.Reset(c.hub.opts.PingInterval)
			}
			c.mu.Unlock()
		}
	}
}

// send writes one message. Its deadline is a timer reused across writes
// rather than a context per write: a context deadline costs a dozen
// allocations per write, and a tick is one write per waiting client.
func (c *client) send(msg []byte) error {
	if c.deadline == nil {
		c.deadline = time.AfterFunc(c.hub.opts.WriteTimeout, c.writeTimedOut)
	} else {
		c.deadline.Reset(c.hub.opts.WriteTimeout)
	}
	err := c.conn.Write(context.Background(), websocket.MessageText, msg)
	c.deadline.Stop()
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// writeTimedOut cuts off a client that took no message for WriteTimeout.
func (c *client) writeTimedOut() {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: a write took over %s", ErrSlowClient, c.hub.opts.WriteTimeout)
	}
	c.mu.Unlock()
	_ = c.conn.CloseNow() // unblocks the write
}

// pingPeer checks the peer is alive; a dead one never answers.
func (c *client) pingPeer() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.WriteTimeout)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNoPong, err)
	}
	return nil
}

// fail drops a client whose writes fail: the peer is dead or too slow, so no
// close handshake is attempted.
func (c *client) fail(err error) {
	c.mu.Lock()
	c.writing = false
	if !c.closing {
		c.stopLocked(err)
	}
	c.mu.Unlock()
	_ = c.conn.CloseNow()
}
