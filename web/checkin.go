package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/door"
	"github.com/boxofficehq/boxoffice/store"
)

// Door signs ticket codes and checks them in; *door.Door satisfies it.
type Door interface {
	Code(eventID, bookingID string, ticketID int64) string
	CheckIn(ctx context.Context, eventID, code, by string) (door.Scan, error)
}

type checkedTicketJSON struct {
	ID         int64  `json:"id"`
	BookingID  string `json:"booking_id"`
	ZoneID     string `json:"zone_id"`
	SeatID     string `json:"seat_id,omitempty"`
	HolderName string `json:"holder_name"`
}

type checkinJSON struct {
	Result      string             `json:"result"`
	Reason      string             `json:"reason,omitempty"`
	Ticket      *checkedTicketJSON `json:"ticket,omitempty"`
	CheckedInAt *time.Time         `json:"checked_in_at,omitempty"`
}

func checkinOf(s door.Scan) checkinJSON {
	out := checkinJSON{Result: s.Result, Reason: s.Reason}
	if t := s.Ticket; t != nil {
		out.Ticket = &checkedTicketJSON{ID: t.TicketID, BookingID: t.BookingID, ZoneID: t.ZoneID, SeatID: t.SeatID, HolderName: t.Holder}
		at := t.CheckedInAt.UTC()
		out.CheckedInAt = &at
	}
	return out
}

// checkIn is a ticket's code scanned or typed at the event's door. Every
// answer about the code is 200, valid or not: a door reads the result, and an
// invalid code is the scanner's normal business, not a failed request.
func (s *Server) checkIn(c echo.Context) error {
	var r struct {
		Code string `json:"code"`
	}
	if err := decode(c, &r); err != nil {
		return err
	}
	if strings.TrimSpace(r.Code) == "" {
		return invalidField("code", "is required: the ticket's code, such as BX1-1234-ABCDEFGHIJKLMNOP")
	}
	ctx := c.Request().Context()
	ev, err := s.eventByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	scan, err := s.door.CheckIn(ctx, ev.ID, r.Code, currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]checkinJSON{"checkin": checkinOf(scan)})
}

// withCodes gives each ticket of a confirmed booking its code and QR code. A
// cancelled booking's codes let nobody in, so it shows none.
func (s *Server) withCodes(b bookingJSON) bookingJSON {
	if b.Status != store.BookingConfirmed || s.door == nil {
		return b
	}
	for i, t := range b.Tickets {
		code := s.door.Code(b.EventID, b.ID, t.ID)
		b.Tickets[i].Code = code
		q, err := door.QROf(code)
		if err != nil { // a code is short and alphanumeric: it always fits, unless the encoder broke
			s.log.Error("draw a ticket's QR code", "booking", b.ID, "err", err)
			continue
		}
		b.Tickets[i].QR = &qrJSON{Size: q.Size, Path: q.Path}
	}
	return b
}

// bookingAnswer is a booking as its owner sees it, with its tickets' codes.
func (s *Server) bookingAnswer(b *store.Booking) bookingJSON {
	return s.withCodes(bookingOf(b))
}

type bookingBody struct {
	Booking bookingJSON `json:"booking"`
}

// stripCodes keeps a booking answer for replays without its codes: the
// idempotency table holds no credential, and bookingAgain signs them anew.
func stripCodes(body []byte) []byte {
	var a bookingBody
	if json.Unmarshal(body, &a) != nil {
		return body
	}
	for i := range a.Booking.Tickets {
		a.Booking.Tickets[i].Code, a.Booking.Tickets[i].QR = "", nil
	}
	out, err := json.Marshal(a)
	if err != nil {
		return body
	}
	return out
}

// bookingAgain answers a replayed booking request with the stored answer and
// its codes, signed again.
func (s *Server) bookingAgain(c echo.Context, stored *store.StoredResponse) error {
	var a bookingBody
	if err := json.Unmarshal(stored.Body, &a); err != nil {
		return fmt.Errorf("replay booking: stored answer unreadable: %w", err)
	}
	return c.JSON(stored.Status, bookingBody{Booking: s.withCodes(a.Booking)})
}
