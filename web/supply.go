package web

import (
	"context"
	"sync"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/store"
)

// supplyTTL bounds how stale the counts behind tickets_left and outlook are.
const supplyTTL = 250 * time.Millisecond

type supplyCache struct {
	mu      sync.Mutex
	entries map[string]cachedSupply
	onSale  []*store.Event
	listed  time.Time
	soldOut map[string]bool // as last published, to announce changes once
}

type cachedSupply struct {
	s  queue.Supply
	at time.Time
}

// supply is the event's inventory as the line sees it: live counts from Redis,
// or PostgreSQL's while Redis has not loaded the event. Status calls take it
// from a cache; the admission controller reads it fresh (and refreshes the cache)
// so that a sell-out stops admission at the very next step.
func (s *Server) supply(ctx context.Context, ev *store.Event, fresh bool) (queue.Supply, error) {
	s.supplies.mu.Lock()
	hit, ok := s.supplies.entries[ev.ID]
	s.supplies.mu.Unlock()
	if ok && !fresh && time.Since(hit.at) < supplyTTL {
		return hit.s, nil
	}
	var sup queue.Supply
	counts, err := s.inv.Counts(ctx, ev.ID)
	if err != nil || len(counts) == 0 {
		sup = queue.Supply{Available: ev.AvailableTickets, Held: ev.ReservedTickets, Booked: ev.BookedTickets}
	}
	for _, z := range counts {
		sup.Available += z.Available
		sup.Held += z.Held
		sup.Booked += z.Booked
	}
	line, err := s.line.Counts(ctx, ev.ID)
	if err != nil {
		return sup, err
	}
	sup.Shoppers, sup.Admitted = line.Active+line.Pending, line.Admitted
	s.supplies.mu.Lock()
	if s.supplies.entries == nil {
		s.supplies.entries = map[string]cachedSupply{}
	}
	s.supplies.entries[ev.ID] = cachedSupply{s: sup, at: time.Now()}
	s.supplies.mu.Unlock()
	return sup, nil
}

// withSupply fills in what the inventory tells a fan in line.
func (s *Server) withSupply(ctx context.Context, ev *store.Event, p *queue.Place) (*placeResponse, error) {
	sup, err := s.supply(ctx, ev, false)
	if err != nil {
		return nil, err
	}
	r := &placeResponse{Place: p, TicketsLeft: sup.Available}
	if p.Status == queue.StatusLobby || p.Status == queue.StatusWaiting {
		if sup.SoldOut() {
			p.Status = queue.StatusSoldOut
		}
		if p.Position != nil {
			r.Outlook = sup.Outlook(*p.Position)
		}
	}
	return r, nil
}

// LineEvents lists the events whose line is open, each with whether it is sold
// out, for the admission controller. PostgreSQL is read every two seconds; the
// counts come from Redis every step.
func (s *Server) LineEvents(ctx context.Context) ([]queue.Event, error) {
	s.supplies.mu.Lock()
	events, listed := s.supplies.onSale, s.supplies.listed
	s.supplies.mu.Unlock()
	if time.Since(listed) > 2*time.Second {
		list, err := s.store.OnSale(ctx)
		if err != nil {
			return nil, err
		}
		s.supplies.mu.Lock()
		s.supplies.onSale, s.supplies.listed, events = list, time.Now(), list
		s.supplies.mu.Unlock()
	}
	out := make([]queue.Event, 0, len(events))
	for _, e := range events {
		qe := queue.EventOf(e)
		if sup, err := s.supply(ctx, e, true); err == nil {
			qe.SoldOut = sup.SoldOut()
			s.announceSoldOut(ctx, e.ID, qe.SoldOut)
		}
		out = append(out, qe)
	}
	return out, nil
}

// announceSoldOut tells everyone watching when the sale sells out, and when
// tickets come back. Every replica may announce; clients take it as a state.
func (s *Server) announceSoldOut(ctx context.Context, eventID string, soldOut bool) {
	s.supplies.mu.Lock()
	if s.supplies.soldOut == nil {
		s.supplies.soldOut = map[string]bool{}
	}
	was, known := s.supplies.soldOut[eventID]
	s.supplies.soldOut[eventID] = soldOut
	s.supplies.mu.Unlock()
	if known && was == soldOut || !known && !soldOut {
		return
	}
	status := store.SaleOpen
	if soldOut {
		status = store.SaleSoldOut
	}
	if err := s.hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeSaleUpdate, SaleStatus: status}); err != nil {
		s.log.WarnContext(ctx, "publish sale status", "event", eventID, "err", err)
	}
}
