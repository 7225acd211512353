package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Payment statuses.
const (
	PaymentPending   = "pending"
	PaymentSucceeded = "succeeded"
	PaymentFailed    = "failed"
	PaymentRefunded  = "refunded"
)

// Booking statuses.
const (
	BookingConfirmed = "CONFIRMED"
	BookingCancelled = "CANCELLED"
)

var (
	// ErrHoldBooked is a hold that already became a booking (with another payment).
	ErrHoldBooked = errors.New("the hold is already booked")
	// ErrBookingCancelled is a booking cancelled before.
	ErrBookingCancelled = errors.New("the booking is already cancelled")
)

// Payment is one attempt to pay for a hold.
type Payment struct {
	ID           string    `json:"id"`
	HoldID       string    `json:"reservation_id"`
	UserID       string    `json:"-"`
	Provider     string    `json:"provider"`
	ProviderRef  string    `json:"-"`
	AmountCents  int64     `json:"amount_cents"`
	Currency     string    `json:"currency"`
	Status       string    `json:"status"`
	ClientSecret string    `json:"client_secret"`
	CreatedAt    time.Time `json:"created_at"`
}

// CreatePayment stores a new payment.
func (db *DB) CreatePayment(ctx context.Context, p *Payment) error {
	const q = `
		INSERT INTO payments (id, hold_id, user_id, provider, provider_ref, amount_cents, currency, status, client_secret)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING created_at`
	err := db.pool.QueryRow(ctx, q, p.ID, p.HoldID, p.UserID, p.Provider, p.ProviderRef, p.AmountCents,
		p.Currency, p.Status, p.ClientSecret).Scan(&p.CreatedAt)
	if err != nil {
		return fmt.Errorf("create payment: %w", translate(err))
	}
	return nil
}

const paymentColumns = `id, hold_id, user_id, provider, provider_ref, amount_cents, currency, status, client_secret, created_at`

func scanPayment(row pgx.Row) (*Payment, error) {
	var p Payment
	err := row.Scan(&p.ID, &p.HoldID, &p.UserID, &p.Provider, &p.ProviderRef, &p.AmountCents, &p.Currency,
		&p.Status, &p.ClientSecret, &p.CreatedAt)
	if err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// Payment returns one payment.
func (db *DB) Payment(ctx context.Context, id string) (*Payment, error) {
	p, err := scanPayment(db.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", id, err)
	}
	return p, nil
}

// SetPaymentStatus records what the provider says. A refunded payment stays
// refunded, and a succeeded one never goes back to pending or failed.
func (db *DB) SetPaymentStatus(ctx context.Context, id, status string) (*Payment, error) {
	const q = `
		UPDATE payments SET status = $2, updated_at = now()
		WHERE id = $1 AND status <> 'refunded' AND (status <> 'succeeded' OR $2 = 'refunded')
		RETURNING ` + paymentColumns
	p, err := scanPayment(db.pool.QueryRow(ctx, q, id, status))
	if errors.Is(err, ErrNotFound) {
		return db.Payment(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("payment %s status: %w", id, err)
	}
	return p, nil
}

// Booking is tickets sold to a fan.
type Booking struct {
	ID          string       `json:"id"`
	EventID     string       `json:"event_id"`
	ZoneID      string       `json:"zone_id"`
	UserID      string       `json:"-"`
	HoldID      string       `json:"reservation_id"`
	PaymentID   string       `json:"payment_id"`
	Tickets     []HoldTicket `json:"tickets"`
	AmountCents int64        `json:"amount_cents"`
	Status      string       `json:"status"`
	CreatedAt   time.Time    `json:"created_at"`
}

// Book turns a paid hold into a booking in one transaction: tickets BOOKED, the
// booking and its tickets written, the hold ended. Booking the same payment again
// returns the same booking; a hold that is no longer active is ErrHoldNotActive.
func (db *DB) Book(ctx context.Context, holdID, paymentID string) (*Booking, error) {
	var b *Booking
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		h, err := holdTx(ctx, tx, holdID, true)
		if err != nil {
			return err
		}
		if h.Status == HoldBooked {
			existing, err := bookingTx(ctx, tx, `b.hold_id = $1`, holdID)
			if err != nil {
				return err
			}
			if existing.PaymentID != paymentID {
				return ErrHoldBooked
			}
			b = existing
			return nil
		}
		if h.Status != HoldActive {
			return ErrHoldNotActive
		}
		id := NewID("bkg")
		const qb = `
			INSERT INTO bookings (id, event_id, user_id, hold_id, payment_id, amount_cents)
			VALUES ($1, $2, $3, $4, $5, $6)`
		if _, err := tx.Exec(ctx, qb, id, h.EventID, h.UserID, h.ID, paymentID, h.AmountCents); err != nil {
			return fmt.Errorf("insert booking: %w", translate(err))
		}
		const qt = `
			UPDATE tickets SET status = 'BOOKED', booking_id = $2
			WHERE hold_id = $1 AND status = 'RESERVED'`
		tag, err := tx.Exec(ctx, qt, h.ID, id)
		if err != nil {
			return fmt.Errorf("book tickets: %w", translate(err))
		}
		if tag.RowsAffected() != int64(len(h.Tickets)) {
			return ErrTicketsTaken // cannot happen while the hold is active; refuse rather than sell short
		}
		const qbt = `
			INSERT INTO booking_tickets (booking_id, ticket_id)
			SELECT $1, ticket_id FROM hold_tickets WHERE hold_id = $2 AND active`
		if _, err := tx.Exec(ctx, qbt, id, h.ID); err != nil {
			return fmt.Errorf("insert booking tickets: %w", translate(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE hold_tickets SET active = false WHERE hold_id = $1`, h.ID); err != nil {
			return fmt.Errorf("end hold tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE holds SET status = 'BOOKED', ended_at = now() WHERE id = $1`, h.ID); err != nil {
			return fmt.Errorf("end hold: %w", err)
		}
		b, err = bookingTx(ctx, tx, `b.id = $1`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// CancelBooking cancels a confirmed booking and puts its tickets back on sale.
func (db *DB) CancelBooking(ctx context.Context, id string) (*Booking, error) {
	var b *Booking
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if b, err = bookingTx(ctx, tx, `b.id = $1`, id, "FOR UPDATE OF b"); err != nil {
			return err
		}
		if b.Status != BookingConfirmed {
			return ErrBookingCancelled
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
		if _, err := tx.Exec(ctx, `UPDATE bookings SET status = 'CANCELLED', cancelled_at = now() WHERE id = $1`, id); err != nil {
			return fmt.Errorf("cancel booking: %w", err)
		}
		b.Status = BookingCancelled
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

const bookingColumns = `b.id, b.event_id, h.zone_id, b.user_id, b.hold_id, b.payment_id, b.amount_cents, b.status, b.created_at`

func scanBooking(row pgx.Row) (*Booking, error) {
	var b Booking
	err := row.Scan(&b.ID, &b.EventID, &b.ZoneID, &b.UserID, &b.HoldID, &b.PaymentID, &b.AmountCents, &b.Status, &b.CreatedAt)
	if err != nil {
		return nil, translate(err)
	}
	return &b, nil
}

// bookingTx reads one booking with its tickets by the given condition on b.
func bookingTx(ctx context.Context, tx pgx.Tx, where string, arg any, lock ...string) (*Booking, error) {
	q := `SELECT ` + bookingColumns + ` FROM bookings b JOIN holds h ON h.id = b.hold_id WHERE ` + where
	for _, l := range lock {
		q += " " + l
	}
	b, err := scanBooking(tx.QueryRow(ctx, q, arg))
	if err != nil {
		return nil, fmt.Errorf("booking: %w", err)
	}
	tickets, err := ticketsOf(ctx, tx, bookingLinks, []string{b.ID})
	if err != nil {
		return nil, err
	}
	b.Tickets = tickets[b.ID]
	return b, nil
}

// Booking returns one booking.
func (db *DB) Booking(ctx context.Context, id string) (*Booking, error) {
	var b *Booking
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) (err error) {
		b, err = bookingTx(ctx, tx, `b.id = $1`, id)
		return err
	})
	return b, err
}

// BookingsOf lists a fan's last 200 bookings, newest first, in two queries.
func (db *DB) BookingsOf(ctx context.Context, userID string) ([]*Booking, error) {
	q := `SELECT ` + bookingColumns + ` FROM bookings b JOIN holds h ON h.id = b.hold_id
		WHERE b.user_id = $1 ORDER BY b.created_at DESC LIMIT 200`
	rows, err := db.pool.Query(ctx, q, userID)
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	bookings, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, fmt.Errorf("bookings of %s: %w", userID, err)
	}
	ids := make([]string, len(bookings))
	for i, b := range bookings {
		ids[i] = b.ID
	}
	tickets, err := ticketsOf(ctx, db.pool, bookingLinks, ids)
	if err != nil {
		return nil, err
	}
	for _, b := range bookings {
		b.Tickets = tickets[b.ID]
	}
	return bookings, nil
}

// PaymentStatus is the test provider's ledger: the status of a payment by its
// provider reference.
func (db *DB) PaymentStatus(ctx context.Context, ref string) (string, error) {
	var status string
	err := db.pool.QueryRow(ctx, `SELECT status FROM payments WHERE provider = 'test' AND provider_ref = $1`, ref).Scan(&status)
	if err != nil {
		return "", fmt.Errorf("payment %s: %w", ref, translate(err))
	}
	return status, nil
}

// SetPaymentStatusByRef records a provider's word on a payment, with the same
// one-way rules as SetPaymentStatus.
func (db *DB) SetPaymentStatusByRef(ctx context.Context, provider, ref, status string) error {
	const q = `
		UPDATE payments SET status = $3, updated_at = now()
		WHERE provider = $1 AND provider_ref = $2 AND status <> 'refunded' AND (status <> 'succeeded' OR $3 = 'refunded')`
	if _, err := db.pool.Exec(ctx, q, provider, ref, status); err != nil {
		return fmt.Errorf("payment %s status: %w", ref, err)
	}
	return nil
}

// PaymentByRef finds a payment by its provider's reference.
func (db *DB) PaymentByRef(ctx context.Context, provider, ref string) (*Payment, error) {
	p, err := scanPayment(db.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE provider = $1 AND provider_ref = $2`, provider, ref))
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", ref, err)
	}
	return p, nil
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

// UnsettledPayments lists a provider's payments that succeeded, or are still
// pending, without a booking: money that may be taken with no tickets, for the
// reconciliation to settle.
func (db *DB) UnsettledPayments(ctx context.Context, provider string) ([]*Payment, error) {
	const q = `
		SELECT ` + paymentColumns + ` FROM payments p
		WHERE p.provider = $1 AND p.status IN ('succeeded', 'pending')
		  AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id)
		ORDER BY p.created_at`
	rows, err := db.pool.Query(ctx, q, provider)
	if err != nil {
		return nil, fmt.Errorf("unsettled payments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("unsettled payments: %w", err)
	}
	return out, nil
}
