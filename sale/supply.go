package sale

import (
	"context"
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
	c := cachedSupply{s: sup, zones: counts, at: s.now()}
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
	c, _ := s.counts(ctx, ev, false)
	if c.zones == nil {
		for _, z := range ev.Zones {
			zones = append(zones, inventory.ZoneCounts{ZoneID: z.ID, Available: z.AvailableTickets})
		}
		return ev.SaleStatus, zones
	}
	return ev.SaleStatusAt(s.now(), c.s.Available), c.zones
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
