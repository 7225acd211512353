package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/boxofficehq/boxoffice/payments"
)

// Booking statuses.
const (
	BookingConfirmed = "CONFIRMED"
	BookingCancelled = "CANCELLED"
)

var (
	// ErrHoldBooked is a hold that another payment bought: this one is owed back.
	ErrHoldBooked = errors.New("the reservation was bought with another payment")
	// ErrBookingCancelled is a booking cancelled before.
	ErrBookingCancelled = errors.New("the booking is already cancelled")
)

// Booking is the tickets one payment bought: the tickets of its holds.
type Booking struct {
	ID          string
	EventID     string
	ZoneID      string // the first hold's zone
	UserID      string
	HoldIDs     []string
	PaymentID   string
	Tickets     []HoldTicket
	AmountCents int64
	Currency    string
	Status      string
	CreatedAt   time.Time
}

// Settlement is what Book did with a payment.
type Settlement struct {
	Payment *payments.Payment // as it is now
	Booking *Booking          // the booking it bought, now or before
	New     bool              // the booking was made now
}

// Book settles a payment in one transaction. status, when given, is the
// provider's latest word on it, recorded first (a payment only moves forward).
// When the payment has succeeded and all its holds are still bookable at now,
// their tickets are BOOKED and one booking is written; otherwise it is owed
// back, in the same transaction, and Book returns ErrHoldNotActive (a hold gone
// or run out) or ErrHoldBooked (bought with another payment). A booked payment
// returns its booking; one that has not succeeded is payments.ErrNotSucceeded,
// one owed back or refunded payments.ErrSettled. Unless the database failed,
// the settlement carries the payment whatever the answer.
func (db *DB) Book(ctx context.Context, paymentID, status string, now time.Time) (Settlement, error) {
	var (
		p       *payments.Payment
		b       *Booking
		outcome error // committed with what was recorded
		holds   []*Hold
		ps      []*payments.Payment
	)
	err := db.inTx(ctx, func(read *pgx.Batch) {
		// Holds before the payment, as every transaction locks them.
		queueHolds(read, &holds, `h.id = ANY(ARRAY(SELECT hold_id FROM payment_holds WHERE payment_id = $1)) ORDER BY h.id FOR UPDATE OF h`, paymentID)
		queuePayments(read, &ps, `p.id = $1 FOR UPDATE OF p`, paymentID)
	}, func() (*pgx.Batch, error) {
		if len(ps) == 0 || len(holds) == 0 {
			return nil, ErrNotFound
		}
		p = ps[0]
		recorded := status != "" && p.Record(status, now)
		switch {
		case p.BookingID != "":
			outcome = errBooked
		case p.Status == payments.StatusRefunded || p.RefundDue:
			outcome = payments.ErrSettled
		case p.Status != payments.StatusSucceeded:
			outcome = payments.ErrNotSucceeded
		}
		if outcome == nil {
			outcome = unbookable(holds, now)
		}
		var write pgx.Batch
		switch {
		case outcome == errBooked:
			queueBooking(&write, &b, p.BookingID)
		case outcome == ErrHoldBooked || outcome == ErrHoldNotActive:
			p.OweRefund(now)
			recorded = true
		case outcome == nil:
			queueBook(&write, p, holds)
			queueBooking(&write, &b, p.BookingID)
			recorded = true
		}
		if recorded {
			queueSavePayment(&write, p)
		}
		return &write, nil
	})
	if err != nil {
		err = fmt.Errorf("book payment %s: %w", paymentID, translate(err))
	}
	switch {
	case err != nil:
		return Settlement{}, err
	case outcome == errBooked:
		return Settlement{Payment: p, Booking: b}, nil
	}
	return Settlement{Payment: p, Booking: b, New: b != nil}, outcome
}

// unbookable says why the holds cannot be bought together at now, if they
// cannot: ErrHoldBooked when another payment bought one, else ErrHoldNotActive
// when one ended or ran out.
func unbookable(holds []*Hold, now time.Time) error {
	var err error
	for _, h := range holds {
		switch {
		case h.Status == HoldBooked || h.Status == HoldCancelled:
			return ErrHoldBooked
		case !h.BookableAt(now):
			err = ErrHoldNotActive
		}
	}
	return err
}

// errBooked is Book finding the payment booked before: it answers with that booking.
var errBooked = errors.New("booked before")

// queueBook queues the booking of the holds' tickets with payment p, which
// has succeeded and whose holds are bookable.
func queueBook(b *pgx.Batch, p *payments.Payment, holds []*Hold) {
	id := NewID("bkg")
	holdIDs := make([]string, len(holds))
	tickets := 0
	for i, h := range holds {
		holdIDs[i] = h.ID
		tickets += len(h.Tickets)
	}
	_ = p.Booked(id) // cannot fail: p succeeded and is unsettled
	b.Queue(`INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents) VALUES ($1, $2, $3, $4, $5)`,
		id, p.EventID, p.UserID, p.ID, p.AmountCents)
	b.Queue(`UPDATE tickets SET status = 'BOOKED', booking_id = $2 WHERE hold_id = ANY($1) AND status = 'RESERVED'`,
		holdIDs, id).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != int64(tickets) {
			return ErrTicketsTaken // cannot happen while the holds are active; refuse rather than sell short
		}
		return nil
	})
	b.Queue(`INSERT INTO booking_tickets (booking_id, ticket_id) SELECT $1, ticket_id FROM hold_tickets WHERE hold_id = ANY($2) AND active`,
		id, holdIDs)
	b.Queue(`UPDATE hold_tickets SET active = false WHERE hold_id = ANY($1)`, holdIDs)
	b.Queue(`UPDATE holds SET status = 'BOOKED', booking_id = $2, ended_at = now() WHERE id = ANY($1)`, holdIDs, id)
}

// CancelBooking cancels a confirmed booking and puts its tickets back on sale;
// its payment is owed back in the same transaction. A booking with a ticket
// checked in at the door is ErrCheckedIn.
func (db *DB) CancelBooking(ctx context.Context, id string) (*Booking, error) {
	now := db.now()
	var (
		b         *Booking
		holds     []*Hold
		ps        []*payments.Payment
		checkedIn bool
	)
	err := db.inTx(ctx, func(read *pgx.Batch) {
		// Holds, then the booking, then its payment: the order every transaction locks in.
		queueHolds(read, &holds, `h.booking_id = $1 ORDER BY h.id FOR UPDATE OF h`, id)
		queueBooking(read, &b, id, "FOR UPDATE OF b")
		queuePayments(read, &ps, `p.id = (SELECT payment_id FROM bookings WHERE id = $1) FOR UPDATE OF p`, id)
		// Read after the booking's lock, which a check-in under way holds (shared)
		// until it commits: this sees every check-in there will be.
		read.Queue(`SELECT EXISTS (SELECT 1 FROM booking_tickets WHERE booking_id = $1 AND checked_in_at IS NOT NULL)`, id).
			QueryRow(func(row pgx.Row) error { return row.Scan(&checkedIn) })
	}, func() (*pgx.Batch, error) {
		switch {
		case b.Status != BookingConfirmed:
			return nil, ErrBookingCancelled
		case checkedIn:
			return nil, ErrCheckedIn
		}
		var write pgx.Batch
		write.Queue(`UPDATE tickets SET status = 'AVAILABLE', booking_id = NULL, hold_id = NULL WHERE booking_id = $1 AND status = 'BOOKED'`, id)
		write.Queue(`UPDATE booking_tickets SET active = false WHERE booking_id = $1`, id)
		write.Queue(`UPDATE holds SET status = 'CANCELLED' WHERE booking_id = $1`, id)
		write.Queue(`UPDATE bookings SET status = 'CANCELLED', cancelled_at = now() WHERE id = $1`, id)
		if len(ps) > 0 && ps[0].OweRefund(now) {
			queueSavePayment(&write, ps[0])
		}
		return &write, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel booking %s: %w", id, translate(err))
	}
	b.Status = BookingCancelled
	return b, nil
}

// bookingColumns are a booking's row, its holds and its tickets (in stage
// order, and its zone from the first), so one query reads a booking whole.
const bookingColumns = `b.id, b.event_id, b.user_id, b.payment_id, b.amount_cents, e.currency, b.status, b.created_at,
	ARRAY(SELECT h.id FROM holds h WHERE h.booking_id = b.id ORDER BY h.created_at, h.id), (
		SELECT coalesce(json_agg(json_build_object('ID', t.id, 'ZoneID', t.zone_id, 'SeatID', coalesce(t.seat_id, ''),
			'CheckedInAt', l.checked_in_at)
			ORDER BY t.zone_id, t.number), '[]')
		FROM booking_tickets l CROSS JOIN LATERAL (` + ticketByID + `) t WHERE l.booking_id = b.id)`

const bookingsQuery = `SELECT ` + bookingColumns + ` FROM bookings b JOIN events e ON e.id = b.event_id WHERE `

func scanBooking(row pgx.Row) (*Booking, error) {
	var b Booking
	err := row.Scan(&b.ID, &b.EventID, &b.UserID, &b.PaymentID, &b.AmountCents, &b.Currency, &b.Status, &b.CreatedAt,
		&b.HoldIDs, &b.Tickets)
	if err != nil {
		return nil, translate(err)
	}
	if len(b.Tickets) > 0 {
		b.ZoneID = b.Tickets[0].ZoneID
	}
	return &b, nil
}

// queueBooking queues the reading of one booking into *b, with a locking clause if given.
func queueBooking(batch *pgx.Batch, b **Booking, id string, lock ...string) {
	q := bookingsQuery + `b.id = $1 ` + strings.Join(lock, " ")
	batch.Queue(q, id).QueryRow(func(row pgx.Row) (err error) {
		if *b, err = scanBooking(row); err != nil {
			return fmt.Errorf("booking %s: %w", id, err)
		}
		return nil
	})
}

// Booking returns one booking.
func (db *DB) Booking(ctx context.Context, id string) (*Booking, error) {
	b, err := scanBooking(db.pool.QueryRow(ctx, bookingsQuery+`b.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("booking %s: %w", id, err)
	}
	return b, nil
}

// BookingsOf lists a fan's last 200 bookings, newest first.
func (db *DB) BookingsOf(ctx context.Context, userID string) ([]*Booking, error) {
	q := bookingsQuery + `b.user_id = $1 ORDER BY b.created_at DESC LIMIT 200`
	rows, err := db.pool.Query(ctx, q, userID)
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	bookings, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	return bookings, nil
}

// FirstDelivery records a provider event and reports whether it is new; a
// repeated delivery must have no further effect.
func (db *DB) FirstDelivery(ctx context.Context, provider, id, typ string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `INSERT INTO webhook_events (id, provider, type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, provider, typ)
	if err != nil {
		return false, fmt.Errorf("record webhook %q: %w", id, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

// ForgetDelivery undoes FirstDelivery when handling failed, so the provider's
// retry is handled again.
func (db *DB) ForgetDelivery(ctx context.Context, provider, id string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM webhook_events WHERE provider = $1 AND id = $2`, provider, id); err != nil {
		return fmt.Errorf("forget webhook %s: %w", id, err)
	}
	return nil
}
