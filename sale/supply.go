package sale

import (
	"context"
	"errors"
	"time"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
)

// supplyTTL bounds how stale the counts behind tickets_left and outlook are.
const supplyTTL = 250 * time.Millisecond

type cachedSupply struct {
	s     queue.Supply
	zones []inventory.ZoneCounts // nil when Redis had not the event
	rate  float64                // admissions per second over the last minute
	at    time.Time
}

// supply is the event's inventory as the line sees it: live counts from Redis,
// or PostgreSQL's while Redis has not loaded the event. Status calls take it
// from a cache; each step reads it fresh (and refreshes the cache) so that a
// sell-out stops admission at the very next step.
func (s *Service) supply(ctx context.Context, ev *store.Event, fresh bool) (queue.Supply, error) {
	c, err := s.counts(ctx, ev, fresh)
	return c.s, err
}

// counts is supply's reading, with each zone's counts.
func (s *Service) counts(ctx context.Context, ev *store.Event, fresh bool) (cachedSupply, error) {
	s.mu.Lock()
	hit, ok := s.supplies[ev.ID]
	s.mu.Unlock()
	if ok && !fresh && s.now().Sub(hit.at) < supplyTTL {
		return hit, nil
	}
	var sup queue.Supply
	counts, err := s.inv.Counts(ctx, ev.ID)
	if err != nil || len(counts) == 0 {
		counts = nil
		sup = queue.Supply{Available: ev.AvailableTickets, Held: ev.ReservedTickets, Booked: ev.BookedTickets}
	}
	if err != nil && !errors.Is(err, inventory.ErrNotLoaded) {
		return cachedSupply{s: sup}, err // Redis is out of reach: no second wait for it
	}
	for _, z := range counts {
		sup.Available += z.Available
		sup.Held += z.Held
		sup.Booked += z.Booked
	}
	line, err := s.queue.Counts(ctx, ev.ID)
	if err != nil {
		return cachedSupply{s: sup, zones: counts}, err
	}
	sup.Shoppers, sup.Admitted = line.Active+line.Pending, line.Admitted
	if line.State == "lobby" {
		sup.Lobby = line.Length
	}
	s.mu.Lock()
	if len(s.supplies) > 10_000 {
		s.supplies = map[string]cachedSupply{}
	}
	c := cachedSupply{s: sup, zones: counts, rate: line.Rate, at: s.now()}
	s.supplies[ev.ID] = c
	s.mu.Unlock()
	return c, nil
}

// Now is the event's sale status and each zone's count of available tickets
// as the last step read them from Redis (at most supplyTTL old), or as the
// cached event has them while Redis has not the event: a new live socket's
// snapshot. The cached event's own may be a second old, and a change announced
// in that second, before the socket joined the hub, would never reach it; read
// from Redis for every socket, they would cost two round trips each at the
// opening, when every fan connects at once.
func (s *Service) Now(ctx context.Context, ev *store.Event) (status string, zones []inventory.ZoneCounts) {
	c, _ := s.counts(ctx, ev, false) // without Redis's counts, c.s has the cached event's
	zones = c.zones
	if zones == nil {
		for _, z := range ev.Zones {
			zones = append(zones, inventory.ZoneCounts{ZoneID: z.ID, Available: z.AvailableTickets})
		}
	}
	return ev.SaleStatusAt(s.now(), c.s.Available), zones
}

// supplyOf is the supply of an event known only by id: as the step before read
// it, or read now.
func (s *Service) supplyOf(ctx context.Context, eventID string) (queue.Supply, error) {
	s.mu.Lock()
	e := s.listed[eventID]
	s.mu.Unlock()
	if e == nil {
		var err error
		if e, err = s.store.Event(ctx, eventID); err != nil {
			return queue.Supply{}, err
		}
	}
	return s.supply(ctx, e, false)
}

// Line is the line as everyone sees it, the same for every fan: what a live
// queue.tick carries, from which a page that knows its fan's number works out
// the position, the wait and the outlook (as realtime does for each socket).
type Line struct {
	SaleStatus  string
	Admitted    int64   // the admission counter: the fan numbered n is at position max(n-Admitted, 1)
	Rate        float64 // admissions per second over the last minute; 0 while unknown
	TicketsLeft int
	Bounds      *queue.Bounds // nil while sold out: every waiting fan's outlook is unlikely
	Lobby       *int64        // fans in the lobby, before the opening
	At          time.Time     // when it was read from Redis
}

// Line reads the line from the reading each step refreshes on this replica
// (at most supplyTTL old, with the admission counter and rate of this
// replica's last step), so that polling it costs Redis nothing while the event
// is on sale, however many fans poll.
func (s *Service) Line(ctx context.Context, ev *store.Event) (Line, error) {
	c, err := s.counts(ctx, ev, false)
	if err != nil {
		return Line{}, err
	}
	l := Line{SaleStatus: ev.SaleStatusAt(s.now(), c.s.Available), Admitted: c.s.Admitted, Rate: c.rate,
		TicketsLeft: c.s.Available, Bounds: boundsOf(c.s), At: c.at}
	if l.SaleStatus == store.SaleLobby || l.SaleStatus == store.SaleScheduled {
		l.Lobby = &c.s.Lobby
	}
	return l, nil
}

// boundsOf is what the supply tells every waiting fan: the positions where the
// outlook changes, or nil while sold out (every fan's outlook is unlikely).
func boundsOf(sup queue.Supply) *queue.Bounds {
	if sup.SoldOut() {
		return nil
	}
	b := sup.Bounds()
	return &b
}
