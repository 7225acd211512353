package realtime

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
)

// event holds one event's local clients and turns bus messages into their
// pending writes. Lock order: Hub.mu, then event.mu, then client.mu.
type event struct {
	id  string
	hub *Hub

	mu      sync.Mutex
	clients []*client          // swap-removed by client.idx: cheaper to walk than a map
	byUser  map[string]*client // first tab of each user; more tabs chain on client.nextTab
	last    *tick              // latest tick, for clients numbered after it
	zones   map[string]*zoneState
	gone    bool // the last client left; timers still in flight must do nothing
}

// zoneState throttles one zone's availability and seat changes to one flush
// per flush interval, so a burst reaches each client as a few messages.
type zoneState struct {
	id        string
	lastAvail []byte // the last availability.update, for fans who start shopping
	lastFlush time.Time
	timer     *time.Timer // a trailing flush is scheduled
	avail     *int
	seats     map[string]string
}

func newEvent(h *Hub, id string) *event {
	return &event{id: id, hub: h, byUser: make(map[string]*client), zones: make(map[string]*zoneState)}
}

// add and remove run under ev.mu.
func (ev *event) add(c *client) {
	c.idx = len(ev.clients)
	ev.clients = append(ev.clients, c)
	c.nextTab = ev.byUser[c.info.UserID]
	ev.byUser[c.info.UserID] = c
}

func (ev *event) remove(c *client) {
	last := len(ev.clients) - 1
	moved := ev.clients[last]
	ev.clients[c.idx], moved.idx = moved, c.idx
	ev.clients[last] = nil
	ev.clients = ev.clients[:last]
	u := c.info.UserID
	if first := ev.byUser[u]; first == c {
		if c.nextTab == nil {
			delete(ev.byUser, u)
		} else {
			ev.byUser[u] = c.nextTab
		}
	} else {
		for p := first; p != nil; p = p.nextTab {
			if p.nextTab == c {
				p.nextTab = c.nextTab
				break
			}
		}
	}
	c.nextTab = nil
	if len(ev.clients) == 0 {
		ev.gone = true
		for _, z := range ev.zones {
			if z.timer != nil {
				z.timer.Stop()
			}
		}
	}
}

// deliver hands one bus message to every local client it concerns. It never
// blocks on a client: it only stores pending writes and wakes writers.
func (ev *event) deliver(m *Message) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.gone {
		return
	}
	switch m.Type {
	case TypeQueueTick:
		ev.tick(m)
	case TypeQueueUpdate, TypeSessionAdmitted, TypeSessionExpired, TypeReservationExpired:
		ev.targeted(m)
	case TypeSaleUpdate:
		b, err := clientMessage(m)
		if err != nil {
			ev.hub.log.Warn("live message dropped", "event", ev.id, "type", m.Type, "err", err)
			return
		}
		for _, c := range ev.clients {
			c.enqueue(b)
		}
	case TypeAvailabilityUpdate:
		z := ev.zone(m.ZoneID)
		n := m.AvailableTickets
		z.avail = &n
		ev.zoneChanged(z)
	case TypeSeatUpdate:
		z := ev.zone(m.ZoneID)
		if z.seats == nil {
			z.seats = make(map[string]string, len(m.Seats))
		}
		for seat, status := range m.Seats {
			z.seats[seat] = status
		}
		ev.zoneChanged(z)
	default:
		ev.hub.log.Warn("live message of unknown type dropped", "event", ev.id, "type", m.Type)
	}
}

func (ev *event) tick(m *Message) {
	admitted := m.Admitted
	if ev.last != nil && ev.last.admitted > admitted {
		// Controllers on several replicas publish, so an older counter can
		// arrive after a newer one: positions must never move back.
		admitted = ev.last.admitted
	}
	t := newTick(m, admitted)
	ev.last = t
	var local []string
	for _, u := range m.AdmittedUsers {
		if ev.byUser[u] != nil {
			local = append(local, u)
		}
		for c := ev.byUser[u]; c != nil; c = c.nextTab {
			ev.startShopping(c)
		}
	}
	if len(local) > 0 {
		// An open live connection claims the admission; the claim is I/O, so it
		// is handed over rather than made here.
		ev.hub.admissions.add(ev.id, local)
	}
	for _, c := range ev.clients {
		if c.movedBy(t) {
			c.offerTick(t, c.info.Number, ev.pace(c))
		}
	}
}

// startShopping turns a fan in line into a shopper: unpaced, with every
// zone's latest count, which the line did not send. Runs under ev.mu.
func (ev *event) startShopping(c *client) {
	wasInLine := c.inLine()
	c.info.Status = queue.StatusAdmitted
	c.admitted()
	if !wasInLine {
		return
	}
	for _, z := range ev.zones {
		if z.lastAvail != nil {
			c.offerZone(z.id, z.lastAvail, nil, 0)
		}
	}
}

// inLine reports whether the client's fan waits in line. Runs under ev.mu.
func (c *client) inLine() bool {
	switch c.info.Status {
	case queue.StatusLobby, queue.StatusWaiting, queue.StatusSoldOut:
		return true
	}
	return false
}

// Beyond this many places from the front, a waiting fan's updates slow down
// in proportion, down to one every farthest × Options.WaitingEvery.
const (
	nearPlaces = 1000
	farthest   = 10
)

// pace is how often the client gets coalescing changes (0: every flush). A
// shopping fan needs each seat as it goes; a fan far back in line needs to
// see the place move, not each step of it. Runs under ev.mu.
func (ev *event) pace(c *client) time.Duration {
	every := ev.hub.opts.WaitingEvery
	if every < 0 || c.info.Status == queue.StatusAdmitted {
		return 0
	}
	if ev.last != nil && c.movedBy(ev.last) {
		ahead := c.info.Number - ev.last.admitted
		every *= time.Duration(min(max(ahead/nearPlaces, 1), farthest))
	}
	return every
}

func (ev *event) targeted(m *Message) {
	first := ev.byUser[m.UserID]
	if first == nil {
		return // the user has no tab on this replica
	}
	b, err := clientMessage(m)
	if err != nil {
		ev.hub.log.Warn("live message dropped", "event", ev.id, "type", m.Type, "err", err)
		return
	}
	for c := first; c != nil; c = c.nextTab {
		switch m.Type {
		case TypeQueueUpdate:
			if m.Number > 0 {
				c.info.Number = m.Number
			}
			switch m.Status {
			case "":
			case queue.StatusAdmitted:
				ev.startShopping(c)
			default:
				c.info.Status = m.Status
			}
			c.offerQueue(queueSlot{msg: b}, 0) // an answer to the fan's own change: at once
		case TypeSessionAdmitted:
			ev.startShopping(c)
			c.enqueue(b)
		case TypeSessionExpired:
			c.info.Status = queue.StatusExpired
			c.clearQueue()
			c.enqueue(b)
		default:
			c.enqueue(b)
		}
	}
}

// setNumbers gives local users their place in line after the lobby shuffle.
func (ev *event) setNumbers(numbers map[string]int64) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for u, n := range numbers {
		for c := ev.byUser[u]; c != nil; c = c.nextTab {
			c.info.Number = n
			if c.info.Status == "" || c.info.Status == queue.StatusLobby {
				c.info.Status = queue.StatusWaiting
			}
			if ev.last != nil && c.movedBy(ev.last) {
				c.offerTick(ev.last, n, 0) // show the position now rather than at the next tick
			}
		}
	}
}

func (ev *event) users() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	users := make([]string, 0, len(ev.byUser))
	for u := range ev.byUser {
		users = append(users, u)
	}
	return users
}

func (ev *event) zone(id string) *zoneState {
	z := ev.zones[id]
	if z == nil {
		z = &zoneState{id: id}
		ev.zones[id] = z
	}
	return z
}

// zoneChanged flushes at once when the zone was quiet for a flush interval
// (a lone change is not delayed), else once the interval has passed.
func (ev *event) zoneChanged(z *zoneState) {
	if z.timer != nil {
		return // the scheduled flush will carry this change too
	}
	wait := z.lastFlush.Add(ev.hub.opts.FlushInterval).Sub(ev.hub.opts.Now())
	if wait <= 0 {
		ev.flushZone(z)
		return
	}
	z.timer = time.AfterFunc(wait, func() {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		z.timer = nil
		if !ev.gone {
			ev.flushZone(z)
		}
	})
}

// flushZone encodes the zone's pending changes once and offers the same bytes to every client.
func (ev *event) flushZone(z *zoneState) {
	z.lastFlush = ev.hub.opts.Now()
	var avail []byte
	var seats *seatBatch
	var err error
	if z.avail != nil {
		avail, err = json.Marshal(availabilityUpdate{Type: TypeAvailabilityUpdate, ZoneID: z.id, AvailableTickets: *z.avail})
		if err != nil {
			ev.hub.log.Error("encode availability.update", "event", ev.id, "zone", z.id, "err", err)
			avail = nil
		}
		z.avail = nil
		if avail != nil {
			z.lastAvail = avail
		}
	}
	if len(z.seats) > 0 {
		seats = &seatBatch{zone: z.id, seats: z.seats}
		if seats.enc, err = seats.encode(); err != nil {
			ev.hub.log.Error("encode seat.update", "event", ev.id, "zone", z.id, "err", err)
			seats = nil
		}
		z.seats = nil // the batch now shares this map read-only
	}
	if avail == nil && seats == nil {
		return
	}
	for _, c := range ev.clients {
		// A fan in line gets no zone changes: queue.update carries the tickets
		// left, and zone counts would be most of the line's messages. Starting
		// to shop, the fan gets every zone's latest count (startShopping), and
		// reads the seat map.
		if !c.inLine() {
			c.offerZone(z.id, avail, seats, ev.pace(c))
		}
	}
}

// seatBatch is a seat.update for one zone. A batch from flushZone is shared by
// every client and never changed; a client that falls behind merges batches
// into one it owns.
type seatBatch struct {
	zone  string
	seats map[string]string
	enc   []byte // nil once merged: the writer encodes it
	owned bool
}

func (s *seatBatch) encode() ([]byte, error) {
	return json.Marshal(seatUpdate{Type: TypeSeatUpdate, ZoneID: s.zone, Seats: s.seats})
}

// merge returns pending with next's seats on top (the latest status per seat wins).
func (s *seatBatch) merge(next *seatBatch) *seatBatch {
	if !s.owned {
		m := make(map[string]string, len(s.seats)+len(next.seats))
		for k, v := range s.seats {
			m[k] = v
		}
		s = &seatBatch{zone: s.zone, seats: m, owned: true}
	}
	for k, v := range next.seats {
		s.seats[k] = v
	}
	s.enc = nil
	return s
}
