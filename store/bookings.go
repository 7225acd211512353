package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

// Book settles a succeeded payment in one transaction: when all its holds are
// still bookable at now, their tickets are BOOKED and one booking is written;
// otherwise the payment is owed back, in the same transaction, and Book returns
// ErrHoldNotActive (a hold gone or run out) or ErrHoldBooked (bought with
// another payment). Booking a booked payment returns its booking; a payment
// that did not succeed is payments.ErrNotSucceeded, one owed back or refunded
// payments.ErrSettled.
func (db *DB) Book(ctx context.Context, paymentID string, now time.Time) (*Booking, error) {
	var (
		b       *Booking
		refused error // committed with the refund it owes
	)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var holdIDs []string
		if err := tx.QueryRow(ctx, `SELECT ARRAY(SELECT hold_id FROM payment_holds WHERE payment_id = $1)`, paymentID).Scan(&holdIDs); err != nil {
			return fmt.Errorf("payment %s: %w", paymentID, err)
		}
		if len(holdIDs) == 0 {
			return fmt.Errorf("payment %s: %w", paymentID, ErrNotFound)
		}
		holds, err := lockHolds(ctx, tx, holdIDs)
		if err != nil {
			return err
		}
		ps, err := lockPayments(ctx, tx, `p.id = $1`, paymentID)
		if err != nil {
			return err
		}
		p := ps[0]
		switch {
		case p.BookingID != "":
			b, err = bookingTx(ctx, tx, p.BookingID, false)
			return err
		case p.Status == payments.StatusRefunded || p.RefundDue:
			return payments.ErrSettled
		case p.Status != payments.StatusSucceeded:
			return payments.ErrNotSucceeded
		}
		for _, h := range holds {
			switch {
			case h.Status == HoldBooked || h.Status == HoldCancelled:
				refused = ErrHoldBooked
			case !h.BookableAt(now) && refused == nil:
				refused = ErrHoldNotActive
			}
		}
		if refused != nil {
			p.OweRefund(now)
			return savePayment(ctx, tx, p)
		}
		id := NewID("bkg")
		const qb = `
			INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents)
			VALUES ($1, $2, $3, $4, $5)`
		if _, err := tx.Exec(ctx, qb, id, p.EventID, p.UserID, p.ID, p.AmountCents); err != nil {
			return fmt.Errorf("insert booking: %w", translate(err))
		}
		tickets := 0
		for _, h := range holds {
			tickets += len(h.Tickets)
		}
		const qt = `
			UPDATE tickets SET status = 'BOOKED', booking_id = $2
			WHERE hold_id = ANY($1) AND status = 'RESERVED'`
		tag, err := tx.Exec(ctx, qt, holdIDs, id)
		if err != nil {
			return fmt.Errorf("book tickets: %w", translate(err))
		}
		if tag.RowsAffected() != int64(tickets) {
			return ErrTicketsTaken // cannot happen while the holds are active; refuse rather than sell short
		}
		const qbt = `
			INSERT INTO booking_tickets (booking_id, ticket_id)
			SELECT $1, ticket_id FROM hold_tickets WHERE hold_id = ANY($2) AND active`
		if _, err := tx.Exec(ctx, qbt, id, holdIDs); err != nil {
			return fmt.Errorf("insert booking tickets: %w", translate(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE hold_tickets SET active = false WHERE hold_id = ANY($1)`, holdIDs); err != nil {
			return fmt.Errorf("end hold tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE holds SET status = 'BOOKED', booking_id = $2, ended_at = now() WHERE id = ANY($1)`, holdIDs, id); err != nil {
			return fmt.Errorf("end holds: %w", err)
		}
		if err := p.Booked(id); err != nil {
			return err
		}
		if err := savePayment(ctx, tx, p); err != nil {
			return err
		}
		b, err = bookingTx(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return b, nil
}

// CancelBooking cancels a confirmed booking and puts its tickets back on sale;
// its payment is owed back in the same transaction.
func (db *DB) CancelBooking(ctx context.Context, id string) (*Booking, error) {
	now := db.now()
	var b *Booking
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if b, err = bookingTx(ctx, tx, id, true); err != nil {
			return err
		}
		if b.Status != BookingConfirmed {
			return ErrBookingCancelled
		}
		if _, err := lockHolds(ctx, tx, b.HoldIDs); err != nil {
			return err
		}
		const qt = `
			UPDATE tickets SET status = 'AVAILABLE', booking_id = NULL, hold_id = NULL
			WHERE booking_id = $1 AND status = 'BOOKED'`
		if _, err := tx.Exec(ctx, qt, id); err != nil {
			return fmt.Errorf("release booked tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE booking_tickets SET active = false WHERE booking_id = $1`, id); err != nil {
			return fmt.Errorf("release booking tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE holds SET status = 'CANCELLED' WHERE booking_id = $1`, id); err != nil {
			return fmt.Errorf("cancel holds: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'CANCELLED', cancelled_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("cancel booking: %w", err)
		}
		b.Status = BookingCancelled
		ps, err := lockPayments(ctx, tx, `p.id = $1`, b.PaymentID)
		if err != nil {
			return err
		}
		if ps[0].OweRefund(now) {
			return savePayment(ctx, tx, ps[0])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

const bookingColumns = `b.id, b.event_id, b.user_id, b.payment_id, b.amount_cents, e.currency, b.status, b.created_at,
	ARRAY(SELECT h.id FROM holds h WHERE h.booking_id = b.id ORDER BY h.created_at, h.id)`

func scanBooking(row pgx.Row) (*Booking, error) {
	var b Booking
	err := row.Scan(&b.ID, &b.EventID, &b.UserID, &b.PaymentID, &b.AmountCents, &b.Currency, &b.Status, &b.CreatedAt, &b.HoldIDs)
	if err != nil {
		return nil, translate(err)
	}
	return &b, nil
}

// withTickets fills in the bookings' tickets, and their zone from the first.
func withTickets(ctx context.Context, q querier, bookings []*Booking) error {
	ids := make([]string, len(bookings))
	for i, b := range bookings {
		ids[i] = b.ID
	}
	tickets, err := ticketsOf(ctx, q, bookingLinks, ids)
	if err != nil {
		return err
	}
	for _, b := range bookings {
		b.Tickets = tickets[b.ID]
		if len(b.Tickets) > 0 {
			b.ZoneID = b.Tickets[0].ZoneID
		}
	}
	return nil
}

// bookingTx reads one booking with its tickets, locking it when forUpdate.
func bookingTx(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (*Booking, error) {
	q := `SELECT ` + bookingColumns + ` FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.id = $1`
	if forUpdate {
		q += ` FOR UPDATE OF b`
	}
	b, err := scanBooking(tx.QueryRow(ctx, q, id))
	if err != nil {
		return nil, fmt.Errorf("booking %s: %w", id, err)
	}
	if err := withTickets(ctx, tx, []*Booking{b}); err != nil {
		return nil, err
	}
	return b, nil
}

// Booking returns one booking.
func (db *DB) Booking(ctx context.Context, id string) (*Booking, error) {
	var b *Booking
	err := db.readTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) (err error) {
		b, err = bookingTx(ctx, tx, id, false)
		return err
	})
	return b, err
}

// BookingsOf lists a fan's last 200 bookings, newest first, in two queries.
func (db *DB) BookingsOf(ctx context.Context, userID string) ([]*Booking, error) {
	q := `SELECT ` + bookingColumns + ` FROM bookings b JOIN events e ON e.id = b.event_id
		WHERE b.user_id = $1 ORDER BY b.created_at DESC LIMIT 200`
	rows, err := db.pool.Query(ctx, q, userID)
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	bookings, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	if err := withTickets(ctx, db.pool, bookings); err != nil {
		return nil, err
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
