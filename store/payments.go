package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/boxofficehq/boxoffice/payments"
)

// LivePaymentError is a hold that already has a live payment (pending, or
// succeeded and not yet booked): a hold has at most one. Payment is that one.
type LivePaymentError struct{ Payment *payments.Payment }

func (e *LivePaymentError) Error() string {
	return "a payment for this reservation is in progress: " + e.Payment.ID
}

// CreatePayment stores a new payment for its holds, once the provider has made
// it. In one transaction it locks the holds, checks that they are the fan's,
// of one event, active and not run out at now, and that none has a live
// payment (*LivePaymentError names it). Its amount is the holds' total. The
// statements go in one batch with the BEGIN; a refusal rolls the insert back.
func (db *DB) CreatePayment(ctx context.Context, p *payments.Payment, now time.Time) error {
	var (
		holds []*Hold
		live  []*payments.Payment
	)
	err := db.inTx(ctx, func(b *pgx.Batch) {
		queueHolds(b, &holds, `h.id = ANY($1) ORDER BY h.id FOR UPDATE OF h`, p.HoldIDs)
		queuePayments(b, &live, `p.id = ANY(ARRAY(SELECT payment_id FROM payment_holds WHERE hold_id = ANY($1))) ORDER BY p.id FOR UPDATE OF p`, p.HoldIDs)
		b.Queue(`
			INSERT INTO payments (id, event_id, user_id, provider, provider_ref, amount_cents, currency, status, check_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING created_at, updated_at`,
			p.ID, p.EventID, p.UserID, p.Provider, p.ProviderRef, p.AmountCents, p.Currency, p.Status, nullTime(p.CheckAt),
		).QueryRow(func(row pgx.Row) error { return row.Scan(&p.CreatedAt, &p.UpdatedAt) })
		b.Queue(`
			INSERT INTO payment_holds (payment_id, hold_id, position)
			SELECT $1, x.hold_id, x.position - 1 FROM unnest($2::text[]) WITH ORDINALITY AS x (hold_id, position)
			JOIN holds h ON h.id = x.hold_id`, p.ID, p.HoldIDs) // an unknown hold is refused below, not by the foreign key
	}, func() (*pgx.Batch, error) {
		if len(holds) != len(sortedUnique(p.HoldIDs)) {
			return nil, fmt.Errorf("holds of payment %s: %w", p.ID, ErrNotFound)
		}
		for _, h := range holds {
			switch {
			case h.UserID != p.UserID || h.EventID != p.EventID:
				return nil, fmt.Errorf("hold %s: %w", h.ID, ErrNotFound)
			case h.Status != HoldActive || !now.Before(h.ExpiresAt):
				return nil, fmt.Errorf("hold %s: %w", h.ID, ErrHoldNotActive)
			}
		}
		for _, other := range live {
			if other.Live() {
				return nil, &LivePaymentError{Payment: other}
			}
		}
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("create payment: %w", translate(err))
	}
	return nil
}

func sortedUnique(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// The columns of a payment: its row, its holds in order and its booking.
const paymentColumns = `p.id, p.event_id, p.user_id, p.provider, p.provider_ref, p.amount_cents, p.currency, p.status,
	p.refund_due, p.refund_attempts, p.refund_next_at, p.refund_error, p.check_at, p.succeeded_at, p.refunded_at,
	p.created_at, p.updated_at,
	ARRAY(SELECT ph.hold_id FROM payment_holds ph WHERE ph.payment_id = p.id ORDER BY ph.position),
	coalesce((SELECT b.id FROM bookings b WHERE b.payment_id = p.id), '')`

func scanPayment(row pgx.Row) (*payments.Payment, error) {
	var (
		p                                      payments.Payment
		refundNext, check, succeeded, refunded *time.Time
	)
	err := row.Scan(&p.ID, &p.EventID, &p.UserID, &p.Provider, &p.ProviderRef, &p.AmountCents, &p.Currency, &p.Status,
		&p.RefundDue, &p.RefundAttempts, &refundNext, &p.RefundError, &check, &succeeded, &refunded,
		&p.CreatedAt, &p.UpdatedAt, &p.HoldIDs, &p.BookingID)
	if err != nil {
		return nil, translate(err)
	}
	p.RefundNextAt, p.CheckAt, p.SucceededAt, p.RefundedAt = deref(refundNext), deref(check), deref(succeeded), deref(refunded)
	return &p, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// queuePayments queues the reading of the payments that where (on p, with any
// locking) selects, into *ps.
func queuePayments(b *pgx.Batch, ps *[]*payments.Payment, where string, args ...any) {
	b.Queue(paymentsQuery+where, args...).Query(func(rows pgx.Rows) (err error) {
		*ps, err = collectPayments(rows)
		return err
	})
}

const paymentsQuery = `SELECT ` + paymentColumns + ` FROM payments p WHERE `

func collectPayments(rows pgx.Rows) ([]*payments.Payment, error) {
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*payments.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("payments: %w", translate(err))
	}
	return ps, nil
}

// queueSavePayment queues the write of a payment's state (its row, locked
// before), and reads back when it changed.
func queueSavePayment(b *pgx.Batch, p *payments.Payment) {
	const q = `
		UPDATE payments SET status = $2, refund_due = $3, refund_attempts = $4, refund_next_at = $5,
			refund_error = $6, check_at = $7, succeeded_at = $8, refunded_at = $9, updated_at = now()
		WHERE id = $1
		RETURNING updated_at`
	b.Queue(q, p.ID, p.Status, p.RefundDue, p.RefundAttempts, nullTime(p.RefundNextAt), p.RefundError,
		nullTime(p.CheckAt), nullTime(p.SucceededAt), nullTime(p.RefundedAt)).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&p.UpdatedAt); err != nil {
			return fmt.Errorf("save payment %s: %w", p.ID, translate(err))
		}
		return nil
	})
}

// Payment returns one payment.
func (db *DB) Payment(ctx context.Context, id string) (*payments.Payment, error) {
	p, err := scanPayment(db.pool.QueryRow(ctx, paymentsQuery+`p.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", id, err)
	}
	return p, nil
}

// PaymentWithBooking returns a payment and the booking it bought, if any (nil),
// in one round trip.
func (db *DB) PaymentWithBooking(ctx context.Context, id string) (*payments.Payment, *Booking, error) {
	var (
		b     pgx.Batch
		p     *payments.Payment
		found []*Booking
	)
	b.Queue(paymentsQuery+`p.id = $1`, id).QueryRow(func(row pgx.Row) (err error) {
		p, err = scanPayment(row)
		return err
	})
	b.Queue(bookingsQuery+`b.payment_id = $1`, id).
		Query(func(rows pgx.Rows) (err error) {
			found, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Booking, error) { return scanBooking(r) })
			return err
		})
	if err := db.pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, fmt.Errorf("payment %s: %w", id, translate(err))
	}
	if len(found) == 0 {
		return p, nil, nil
	}
	return p, found[0], nil
}

// PaymentByRef finds a payment by its provider's reference.
func (db *DB) PaymentByRef(ctx context.Context, provider, ref string) (*payments.Payment, error) {
	p, err := scanPayment(db.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments p
		WHERE p.provider = $1 AND p.provider_ref = $2`, provider, ref))
	if err != nil {
		return nil, fmt.Errorf("payment %s: %w", ref, err)
	}
	return p, nil
}

// PaymentsOf lists a fan's last 200 payments, newest first.
func (db *DB) PaymentsOf(ctx context.Context, userID string) ([]*payments.Payment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments p
		WHERE p.user_id = $1 ORDER BY p.created_at DESC LIMIT 200`, userID)
	if err != nil {
		return nil, fmt.Errorf("payments of %s: %w", userID, err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*payments.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("payments of %s: %w", userID, translate(err))
	}
	return ps, nil
}

// UpdatePayment applies change to the payment inside a transaction that locks
// its row, and saves the result; change's error rolls everything back.
func (db *DB) UpdatePayment(ctx context.Context, id string, change func(p *payments.Payment) error) (*payments.Payment, error) {
	var (
		p  *payments.Payment
		ps []*payments.Payment
	)
	err := db.inTx(ctx, func(b *pgx.Batch) {
		queuePayments(b, &ps, `p.id = $1 FOR UPDATE OF p`, id)
	}, func() (*pgx.Batch, error) {
		if len(ps) == 0 {
			return nil, fmt.Errorf("payment %s: %w", id, ErrNotFound)
		}
		p = ps[0]
		if err := change(p); err != nil {
			return nil, err
		}
		var b pgx.Batch
		queueSavePayment(&b, p)
		return &b, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// lease is how long a replica has a due payment to itself: longer than any one
// provider call it makes for it. If the replica dies, another takes the payment
// up when the lease runs out.
const lease = 15 * time.Second

// ClaimDueRefunds hands this replica up to limit of the provider's payments
// whose refund is due at now, for lease; other replicas skip them meanwhile.
func (db *DB) ClaimDueRefunds(ctx context.Context, provider string, now time.Time, limit int) ([]*payments.Payment, error) {
	return db.claim(ctx, "refund_next_at", `refund_due AND refund_next_at <= $1`, provider, now, limit)
}

// ClaimDueChecks hands this replica up to limit of the provider's payments to
// settle: pending ones to ask the provider about, and successes that bought
// nothing yet.
func (db *DB) ClaimDueChecks(ctx context.Context, provider string, now time.Time, limit int) ([]*payments.Payment, error) {
	return db.claim(ctx, "check_at", `check_at <= $1`, provider, now, limit)
}

func (db *DB) claim(ctx context.Context, column, due, provider string, now time.Time, limit int) ([]*payments.Payment, error) {
	q := `
		WITH due AS (
			SELECT id FROM payments WHERE ` + due + ` AND provider = $4
			ORDER BY ` + column + ` LIMIT $2 FOR UPDATE SKIP LOCKED
		)
		UPDATE payments p SET ` + column + ` = $3 FROM due WHERE p.id = due.id
		RETURNING ` + paymentColumns
	rows, err := db.pool.Query(ctx, q, now, limit, now.Add(lease), provider)
	if err != nil {
		return nil, fmt.Errorf("claim due payments: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*payments.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("claim due payments: %w", translate(err))
	}
	return ps, nil
}

// Unsettled lists, for `payments reconcile`, the provider's payments the
// settler has yet to finish: refunds owed, successes that bought nothing,
// pending payments.
func (db *DB) Unsettled(ctx context.Context, provider string) ([]*payments.Payment, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments p
		WHERE p.provider = $1 AND (p.refund_due OR p.check_at IS NOT NULL) ORDER BY p.created_at`, provider)
	if err != nil {
		return nil, fmt.Errorf("unsettled payments: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*payments.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("unsettled payments: %w", translate(err))
	}
	return ps, nil
}

// The test provider's ledger (payments.Ledger). It is written lazily (see
// lazily): a charge's move lost in a database crash was not yet acted on by
// anything durable (recording the payment's new status would have flushed it),
// so the payment simply asks the provider again.

// CreateCharge opens a pending test charge.
func (db *DB) CreateCharge(ctx context.Context, ref string, amountCents int64, currency, clientSecret string) error {
	const q = `INSERT INTO test_charges (ref, amount_cents, currency, status, client_secret) VALUES ($1, $2, $3, 'pending', $4)`
	if err := db.lazily(ctx, func(b *pgx.Batch) { b.Queue(q, ref, amountCents, currency, clientSecret) }); err != nil {
		return fmt.Errorf("create test charge: %w", translate(err))
	}
	return nil
}

// Charge reads a test charge.
func (db *DB) Charge(ctx context.Context, ref string) (status, clientSecret string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT status, client_secret FROM test_charges WHERE ref = $1`, ref).Scan(&status, &clientSecret)
	if err != nil {
		return "", "", fmt.Errorf("test charge %s: %w", ref, translate(err))
	}
	return status, clientSecret, nil
}

// MoveCharge sets a test charge's status when it is one of from, and returns
// the status it has now either way.
func (db *DB) MoveCharge(ctx context.Context, ref, status string, from ...string) (string, error) {
	const q = `
		UPDATE test_charges SET status = CASE WHEN status = ANY($3) THEN $2 ELSE status END, updated_at = now()
		WHERE ref = $1 RETURNING status`
	var now string
	err := db.lazily(ctx, func(b *pgx.Batch) {
		b.Queue(q, ref, status, from).QueryRow(func(row pgx.Row) error { return row.Scan(&now) })
	})
	if err != nil {
		if errors.Is(translate(err), ErrNotFound) {
			return "", fmt.Errorf("test charge %s: %w", ref, ErrNotFound)
		}
		return "", fmt.Errorf("test charge %s: %w", ref, translate(err))
	}
	return now, nil
}
