package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
)

// sessionHeader carries the signed session token. Optional: without it the
// caller's active session is looked up; with it, the token must be the one of
// that session.
const sessionHeader = "X-Session-Token"

type reserveRequest struct {
	EventID       string   `json:"event_id"`
	ZoneID        string   `json:"zone_id"`
	Seats         []string `json:"seats"`
	Quantity      int      `json:"quantity"`
	BestAvailable bool     `json:"best_available"`
	UserID        string   `json:"user_id"`
}

func invalidField(field, msg string) error {
	return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: field + " " + msg,
		Details: map[string]any{"field": field}}
}

func (s *Server) reserve(c echo.Context) error {
	var r reserveRequest
	if err := decode(c, &r); err != nil {
		return err
	}
	u := currentUser(c)
	if r.UserID != "" && r.UserID != u.ID {
		return newError(http.StatusForbidden, "forbidden", "user_id must be your own id (or left out)")
	}
	if r.EventID == "" {
		return invalidField("event_id", "is required")
	}
	ev, err := s.eventByID(c.Request().Context(), r.EventID)
	if err != nil {
		return err
	}
	z, ok := ev.Zone(r.ZoneID)
	if !ok {
		return invalidField("zone_id", "is not a zone of "+ev.ID)
	}
	asked := max(len(r.Seats), r.Quantity)
	switch {
	case len(r.Seats) > 0 && (r.Quantity != 0 || r.BestAvailable):
		return invalidField("seats", "go alone: ask for seats, or for a quantity")
	case len(r.Seats) > 0 && z.Kind != inventory.Seated:
		return invalidField("seats", "are for seated zones; "+z.ID+" is general admission: ask for a quantity")
	case r.BestAvailable && z.Kind != inventory.Seated:
		return invalidField("best_available", "is for seated zones")
	case len(r.Seats) == 0 && z.Kind == inventory.Seated && !r.BestAvailable:
		return invalidField("seats", "are needed in a seated zone, or set best_available with a quantity")
	case asked <= 0:
		return invalidField("quantity", "must be at least 1 (or name seats)")
	case asked > ev.MaxTicketsPerUser:
		return &apiError{Status: http.StatusConflict, Code: "limit_reached", Message: "at most " + strconv.Itoa(ev.MaxTicketsPerUser) + " tickets per fan"}
	}
	slices.Sort(r.Seats)
	if len(slices.Compact(slices.Clone(r.Seats))) != len(r.Seats) {
		return invalidField("seats", "name a seat twice")
	}
	sess, err := s.sessions.Session(c.Request().Context(), queue.EventOf(ev), u.ID, c.Request().Header.Get(sessionHeader))
	if err != nil {
		return err
	}
	h, err := s.booking.Reserve(c.Request().Context(), booking.Request{Event: ev, ZoneID: z.ID, UserID: u.ID,
		SessionID: sess.ID, Until: sess.ExpiresAt, Seats: r.Seats, Quantity: r.Quantity, BestAvailable: r.BestAvailable})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]reservationJSON{"reservation": reservationOf(h)})
}

func (s *Server) getReservation(c echo.Context) error {
	h, err := s.booking.Mine(c.Request().Context(), c.Param("id"), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]reservationJSON{"reservation": reservationOf(h)})
}

func (s *Server) myReservations(c echo.Context) error {
	hs, err := s.store.HoldsOf(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]reservationJSON{"reservations": list(hs, reservationOf)})
}

// createPayment starts one payment for one reservation, several, or every
// reservation the fan holds in an event.
func (s *Server) createPayment(c echo.Context) error {
	var r struct {
		ReservationID  string   `json:"reservation_id"`
		ReservationIDs []string `json:"reservation_ids"`
		EventID        string   `json:"event_id"`
	}
	if err := decode(c, &r); err != nil {
		return err
	}
	ctx, u := c.Request().Context(), currentUser(c)
	given := 0
	for _, set := range []bool{r.ReservationID != "", r.ReservationIDs != nil, r.EventID != ""} {
		if set {
			given++
		}
	}
	holds := r.ReservationIDs
	switch {
	case given != 1:
		return invalidField("reservation_id", "or reservation_ids or event_id: give exactly one")
	case r.ReservationID != "":
		holds = []string{r.ReservationID}
	case r.EventID != "":
		ids, err := s.store.ActiveHoldsOfSession(ctx, r.EventID, u.ID)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return newError(http.StatusNotFound, "not_found", "you hold no active reservation in event "+r.EventID)
		}
		holds = ids
	case len(holds) == 0 || len(holds) > booking.MaxHoldsPerPayment:
		return invalidField("reservation_ids", "must list 1 to "+strconv.Itoa(booking.MaxHoldsPerPayment)+" reservations")
	}
	if slices.Contains(holds, "") || len(slices.Compact(slices.Sorted(slices.Values(holds)))) != len(holds) {
		return invalidField("reservation_ids", "must name each reservation once")
	}
	co, err := s.booking.Pay(ctx, u.ID, holds)
	if err != nil {
		return err
	}
	resp := map[string]any{"payment": paymentOf(co.Payment, co.ClientSecret)}
	if s.publishable != "" { // Stripe's Payment Element needs it beside the client secret
		resp["publishable_key"] = s.publishable
	}
	status := http.StatusOK // the payment already in progress for these reservations
	if co.Created {
		status = http.StatusCreated
	}
	return c.JSON(status, resp)
}

func (s *Server) confirmPayment(c echo.Context) error {
	var r struct {
		CardNumber string `json:"card_number"`
	}
	if err := decode(c, &r); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.booking.Confirm(ctx, c.Param("id"), currentUser(c).ID, r.CardNumber)
	if err != nil {
		return err
	}
	if p.BookingID != "" {
		s.booked(ctx, p.EventID, p.UserID)
	}
	secret, err := s.payableSecret(ctx, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]paymentJSON{"payment": paymentOf(p, secret)})
}

// payableSecret is the client secret of a payment that can still be paid
// (pending, or failed and open to another card); a settled payment's answer
// needs none, and asking the provider for it would cost a call to Stripe.
func (s *Server) payableSecret(ctx context.Context, p *payments.Payment) (string, error) {
	if p.Status != payments.StatusPending && p.Status != payments.StatusFailed {
		return "", nil
	}
	return s.booking.ClientSecret(ctx, p)
}

func (s *Server) myPayments(c echo.Context) error {
	ps, err := s.booking.MyPayments(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]paymentJSON{"payments": list(ps, func(p *payments.Payment) paymentJSON {
		return paymentOf(p, "")
	})})
}

type bookRequest struct {
	ReservationID string `json:"reservation_id"`
	PaymentID     string `json:"payment_id"`
	// The original design's shape: the hold is found from the payment.
	EventID string   `json:"event_id"`
	ZoneID  string   `json:"zone_id"`
	Seats   []string `json:"seats"`
}

func (s *Server) book(c echo.Context) error {
	var r bookRequest
	if err := decode(c, &r); err != nil {
		return err
	}
	if r.PaymentID == "" {
		return invalidField("payment_id", "is required")
	}
	u := currentUser(c)
	if r.ReservationID == "" {
		p, err := s.booking.MyPayment(c.Request().Context(), r.PaymentID, u.ID)
		if err != nil {
			return err
		}
		r.ReservationID = p.HoldIDs[0]
	}
	b, err := s.booking.Book(c.Request().Context(), r.ReservationID, r.PaymentID, u.ID)
	if err != nil {
		return err
	}
	s.booked(c.Request().Context(), b.EventID, u.ID)
	return c.JSON(http.StatusOK, map[string]bookingJSON{"booking": s.bookingAnswer(b)})
}

// booked ends the session of a fan who has booked and holds nothing more.
func (s *Server) booked(ctx context.Context, eventID, userID string) {
	if err := s.sessions.Booked(ctx, eventID, userID); err != nil {
		s.log.WarnContext(ctx, "end the session of a fan who booked", "event", eventID, "err", err)
	}
}

func (s *Server) cancel(c echo.Context) error {
	var r struct {
		ReservationID string `json:"reservation_id"`
		BookingID     string `json:"booking_id"`
	}
	if err := decode(c, &r); err != nil {
		return err
	}
	u := currentUser(c)
	switch {
	case (r.ReservationID == "") == (r.BookingID == ""):
		return invalidField("reservation_id", "or booking_id: give exactly one")
	case r.ReservationID != "":
		h, err := s.booking.Release(c.Request().Context(), r.ReservationID, u.ID)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]reservationJSON{"reservation": reservationOf(h)})
	}
	b, err := s.booking.CancelBooking(c.Request().Context(), r.BookingID, u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bookingJSON{"booking": s.bookingAnswer(b)})
}

// rebuildInventory replaces the event's live inventory in Redis with the
// database's state (organizers; the drift check does the same on its own).
func (s *Server) rebuildInventory(c echo.Context) error {
	ev, err := s.event(c)
	if err != nil {
		return err
	}
	if err := s.booking.Rebuild(c.Request().Context(), ev.ID); err != nil {
		return err
	}
	counts, err := s.inv.Counts(c.Request().Context(), ev.ID)
	if err != nil {
		return err
	}
	type zoneCounts struct {
		ZoneID    string `json:"zone_id"`
		Available int    `json:"available_tickets"`
		Held      int    `json:"reserved_tickets"`
		Booked    int    `json:"booked_tickets"`
	}
	return c.JSON(http.StatusOK, map[string]any{"event_id": ev.ID, "zones": list(counts, func(z inventory.ZoneCounts) zoneCounts {
		return zoneCounts{ZoneID: z.ZoneID, Available: z.Available, Held: z.Held, Booked: z.Booked}
	})})
}

func (s *Server) myBookings(c echo.Context) error {
	bs, err := s.store.BookingsOf(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]bookingJSON{"bookings": list(bs, s.bookingAnswer)})
}

// Booking is the reserve → pay → book → cancel flow; *booking.Service satisfies it.
type Booking interface {
	Reserve(ctx context.Context, r booking.Request) (*store.Hold, error)
	Mine(ctx context.Context, holdID, userID string) (*store.Hold, error)
	Release(ctx context.Context, holdID, userID string) (*store.Hold, error)
	EndSession(ctx context.Context, eventID, userID string, left bool) error
	Pay(ctx context.Context, userID string, holdIDs []string) (*booking.Checkout, error)
	Confirm(ctx context.Context, paymentID, userID, card string) (*payments.Payment, error)
	ClientSecret(ctx context.Context, p *payments.Payment) (string, error)
	MyPayment(ctx context.Context, paymentID, userID string) (*payments.Payment, error)
	MyPayments(ctx context.Context, userID string) ([]*payments.Payment, error)
	Book(ctx context.Context, holdID, paymentID, userID string) (*store.Booking, error)
	CancelBooking(ctx context.Context, bookingID, userID string) (*store.Booking, error)
	Rebuild(ctx context.Context, eventID string) error
}

// Counter reads live counts without PostgreSQL; *inventory.Inventory satisfies it.
type Counter interface {
	Counts(ctx context.Context, eventID string) ([]inventory.ZoneCounts, error)
}
