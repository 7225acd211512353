package web

import (
	"time"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

// The JSON shapes of reservations, payments and bookings (web/openapi.yaml).

type ticketJSON struct {
	ID     int64  `json:"id"`
	ZoneID string `json:"zone_id"`
	SeatID string `json:"seat_id,omitempty"`
	// Code and QR are a booked ticket's, shown to its owner only (checkin.go).
	Code        string     `json:"code,omitempty"`
	QR          *qrJSON    `json:"qr,omitempty"`
	CheckedInAt *time.Time `json:"checked_in_at,omitempty"`
}

// qrJSON is a QR code as one SVG path on a square of size modules.
type qrJSON struct {
	Size int    `json:"size"`
	Path string `json:"path"`
}

func ticketsJSON(ts []store.HoldTicket) []ticketJSON {
	out := make([]ticketJSON, len(ts))
	for i, t := range ts {
		out[i] = ticketJSON{ID: t.ID, ZoneID: t.ZoneID, SeatID: t.SeatID, CheckedInAt: t.CheckedInAt}
	}
	return out
}

type reservationJSON struct {
	ID          string       `json:"id"`
	EventID     string       `json:"event_id"`
	ZoneID      string       `json:"zone_id"`
	Tickets     []ticketJSON `json:"tickets"`
	AmountCents int64        `json:"amount_cents"`
	Currency    string       `json:"currency"`
	ExpiresAt   time.Time    `json:"expires_at"`
	Status      string       `json:"status"`
	BookingID   string       `json:"booking_id,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
}

func reservationOf(h *store.Hold) reservationJSON {
	return reservationJSON{ID: h.ID, EventID: h.EventID, ZoneID: h.ZoneID, Tickets: ticketsJSON(h.Tickets),
		AmountCents: h.AmountCents, Currency: h.Currency, ExpiresAt: h.ExpiresAt, Status: h.Status,
		BookingID: h.BookingID, CreatedAt: h.CreatedAt}
}

type paymentJSON struct {
	ID             string    `json:"id"`
	ReservationID  string    `json:"reservation_id"`
	ReservationIDs []string  `json:"reservation_ids"`
	EventID        string    `json:"event_id"`
	Provider       string    `json:"provider"`
	AmountCents    int64     `json:"amount_cents"`
	Currency       string    `json:"currency"`
	Status         string    `json:"status"`
	RefundPending  bool      `json:"refund_pending"`
	BookingID      string    `json:"booking_id,omitempty"`
	ClientSecret   string    `json:"client_secret,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

func paymentOf(p *payments.Payment, clientSecret string) paymentJSON {
	return paymentJSON{ID: p.ID, ReservationID: p.HoldIDs[0], ReservationIDs: p.HoldIDs, EventID: p.EventID,
		Provider: p.Provider, AmountCents: p.AmountCents, Currency: p.Currency, Status: p.Status,
		RefundPending: p.RefundDue, BookingID: p.BookingID, ClientSecret: clientSecret, CreatedAt: p.CreatedAt}
}

type bookingJSON struct {
	ID             string       `json:"id"`
	EventID        string       `json:"event_id"`
	ZoneID         string       `json:"zone_id"`
	ReservationID  string       `json:"reservation_id"`
	ReservationIDs []string     `json:"reservation_ids"`
	PaymentID      string       `json:"payment_id"`
	Tickets        []ticketJSON `json:"tickets"`
	AmountCents    int64        `json:"amount_cents"`
	Currency       string       `json:"currency"`
	Status         string       `json:"status"`
	CreatedAt      time.Time    `json:"created_at"`
}

func bookingOf(b *store.Booking) bookingJSON {
	out := bookingJSON{ID: b.ID, EventID: b.EventID, ZoneID: b.ZoneID, ReservationIDs: b.HoldIDs, PaymentID: b.PaymentID,
		Tickets: ticketsJSON(b.Tickets), AmountCents: b.AmountCents, Currency: b.Currency, Status: b.Status, CreatedAt: b.CreatedAt}
	if len(b.HoldIDs) > 0 {
		out.ReservationID = b.HoldIDs[0]
	}
	return out
}

// list maps every element; never nil, so an empty list is [] in JSON.
func list[T, J any](xs []T, f func(T) J) []J {
	out := make([]J, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
