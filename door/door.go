package door

import (
	"context"
	"time"

	"github.com/boxofficehq/boxoffice/store"
)

// Results of a scan.
const (
	Valid            = "valid"
	AlreadyCheckedIn = "already_checked_in"
	Invalid          = "invalid"
)

// Why a code is not valid.
const (
	// Unknown is a code that is malformed, altered, forged, or names no ticket
	// sold: a door cannot tell these apart, and should not help a forger to.
	Unknown = "unknown"
	// OtherEvent is a genuine code of a ticket to another event.
	OtherEvent = "other_event"
	// Cancelled is a genuine code whose booking was cancelled.
	Cancelled = "cancelled"
)

// Store is what the door needs from PostgreSQL; *store.DB satisfies it.
type Store interface {
	TicketSales(ctx context.Context, ticketID int64) ([]store.TicketSale, error)
	CheckTicketIn(ctx context.Context, bookingID string, ticketID int64, by string, at time.Time) (*store.CheckIn, error)
}

// Scan is the answer to one code shown at the door.
type Scan struct {
	Result string
	Reason string         // for Invalid
	Ticket *store.CheckIn // for Valid and AlreadyCheckedIn
}

// Door checks codes in.
type Door struct {
	codes *Codes
	store Store
	now   func() time.Time
}

// New builds a door on the store, with the codes of the deployment's secret.
func New(codes *Codes, s Store, now func() time.Time) *Door {
	return &Door{codes: codes, store: s, now: now}
}

// Code is the code of a ticket sold by a booking.
func (d *Door) Code(eventID, bookingID string, ticketID int64) string {
	return d.codes.Code(eventID, bookingID, ticketID)
}

// CheckIn checks the code's ticket in at the event's door, scanned by the
// organizer by: Valid the first time, AlreadyCheckedIn (with the first time)
// after that, however many doors scan it at once.
func (d *Door) CheckIn(ctx context.Context, eventID, code, by string) (Scan, error) {
	ticketID, ok := ParseCode(code)
	if !ok {
		return Scan{Result: Invalid, Reason: Unknown}, nil
	}
	sales, err := d.store.TicketSales(ctx, ticketID)
	if err != nil {
		return Scan{}, err
	}
	for _, s := range sales {
		if !d.codes.Signs(code, s.EventID, s.BookingID, ticketID) {
			continue
		}
		if s.EventID != eventID {
			return Scan{Result: Invalid, Reason: OtherEvent}, nil
		}
		ci, err := d.store.CheckTicketIn(ctx, s.BookingID, ticketID, by, d.now())
		switch {
		case err != nil:
			return Scan{}, err
		case ci.Cancelled:
			return Scan{Result: Invalid, Reason: Cancelled}, nil
		case ci.First:
			return Scan{Result: Valid, Ticket: ci}, nil
		}
		return Scan{Result: AlreadyCheckedIn, Ticket: ci}, nil
	}
	return Scan{Result: Invalid, Reason: Unknown}, nil
}
