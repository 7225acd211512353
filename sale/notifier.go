package sale

import (
	"context"

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
// reservation to its fan.
type Notifier struct {
	Hub       Publisher
	Inventory Counter
}

// TicketsChanged publishes a zone's new availability and its changed seats.
func (n Notifier) TicketsChanged(ctx context.Context, eventID, zoneID string, seats map[string]string) {
	if counts, err := n.Inventory.Counts(ctx, eventID); err == nil {
		for _, z := range counts {
			if z.ZoneID == zoneID {
				_ = n.Hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeAvailabilityUpdate, ZoneID: zoneID, AvailableTickets: z.Available})
			}
		}
	}
	if len(seats) > 0 {
		_ = n.Hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeSeatUpdate, ZoneID: zoneID, Seats: seats})
	}
}

// HoldExpired tells the fan whose reservation ran out.
func (n Notifier) HoldExpired(ctx context.Context, h *store.Hold) {
	_ = n.Hub.Publish(ctx, h.EventID, realtime.Message{Type: realtime.TypeReservationExpired, UserID: h.UserID, ReservationID: h.ID})
}
