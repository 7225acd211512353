package sale

import (
	"context"
	"errors"
	"sync"

	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/store"
)

// Publisher sends live messages to every replica's clients; *realtime.Hub
// satisfies it.
type Publisher interface {
	Publish(ctx context.Context, eventID string, msg realtime.Message) error
}

// Notifier tells live clients what booking changes (it is booking.Notifier):
// availability and seat updates for everyone watching, and an expired
// reservation to its fan. Ticket changes are gathered and sent by Flush, which
// its owner runs every tenth of a second: a burst of holds and bookings costs
// one counts read and a message or two per zone, not a round of Redis calls
// each, and watchers see the latest state (as the hub would send them anyway).
type Notifier struct {
	hub Publisher
	inv Counter

	mu      sync.Mutex
	pending map[string]map[string]*zoneChange // event → zone → what changed
}

type zoneChange struct{ seats map[string]string }

// NewNotifier sends through hub, reading counts from inv.
func NewNotifier(hub Publisher, inv Counter) *Notifier {
	return &Notifier{hub: hub, inv: inv, pending: map[string]map[string]*zoneChange{}}
}

// TicketsChanged notes a zone's changed seats (nil for a pool), for the next Flush.
func (n *Notifier) TicketsChanged(_ context.Context, eventID, zoneID string, seats map[string]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	zones := n.pending[eventID]
	if zones == nil {
		zones = map[string]*zoneChange{}
		n.pending[eventID] = zones
	}
	z := zones[zoneID]
	if z == nil {
		z = &zoneChange{}
		zones[zoneID] = z
	}
	for seat, status := range seats {
		if z.seats == nil {
			z.seats = map[string]string{}
		}
		z.seats[seat] = status // the latest wins
	}
}

// Flush publishes what changed since the last Flush: each changed zone's
// availability, and its seats' latest states.
func (n *Notifier) Flush(ctx context.Context) error {
	n.mu.Lock()
	pending := n.pending
	n.pending = map[string]map[string]*zoneChange{}
	n.mu.Unlock()
	var errs []error
	for eventID, zones := range pending {
		counts, err := n.inv.Counts(ctx, eventID)
		if err != nil {
			// Redis is away, or lost the event and has not rebuilt it yet:
			// kept for a later Flush, not dropped, or watchers would keep
			// these zones' old counts and seats until they changed again.
			n.keep(eventID, zones)
			errs = append(errs, err)
			continue
		}
		for _, c := range counts {
			if zones[c.ZoneID] != nil {
				errs = append(errs, n.hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeAvailabilityUpdate,
					ZoneID: c.ZoneID, AvailableTickets: c.Available}))
			}
		}
		for zoneID, z := range zones {
			if len(z.seats) > 0 {
				errs = append(errs, n.hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeSeatUpdate,
					ZoneID: zoneID, Seats: z.seats}))
			}
		}
	}
	return errors.Join(errs...)
}

// keep puts back changes that Flush could not publish, under any newer ones.
func (n *Notifier) keep(eventID string, zones map[string]*zoneChange) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.pending[eventID]
	if now == nil {
		n.pending[eventID] = zones
		return
	}
	for zoneID, z := range zones {
		newer := now[zoneID]
		if newer == nil {
			now[zoneID] = z
			continue
		}
		for seat, status := range z.seats {
			if _, ok := newer.seats[seat]; !ok {
				if newer.seats == nil {
					newer.seats = map[string]string{}
				}
				newer.seats[seat] = status
			}
		}
	}
}

// HoldExpired tells the fan whose reservation ran out, at once.
func (n *Notifier) HoldExpired(ctx context.Context, h *store.Hold) {
	_ = n.hub.Publish(ctx, h.EventID, realtime.Message{Type: realtime.TypeReservationExpired, UserID: h.UserID, ReservationID: h.ID})
}
