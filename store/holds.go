package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/boxofficehq/boxoffice/payments"
)

// Hold statuses. A hold ends once: RELEASED by the fan (or their leaving),
// EXPIRED when its time ran out, BOOKED when paid for; a booked hold whose
// booking is cancelled says CANCELLED.
const (
	HoldActive    = "ACTIVE"
	HoldBooked    = "BOOKED"
	HoldReleased  = "RELEASED"
	HoldExpired   = "EXPIRED"
	HoldCancelled = "CANCELLED"
)

var (
	// ErrTicketsTaken is the database refusing tickets that are no longer available.
	ErrTicketsTaken = errors.New("tickets are no longer available")
	// ErrHoldNotActive is a hold that was released, expired or booked meanwhile,
	// or whose time is up.
	ErrHoldNotActive = errors.New("the hold is no longer active")
	// ErrLimitReached is the database refusing a hold that would take a fan past
	// the event's tickets per fan (held and booked together).
	ErrLimitReached = errors.New("the fan would hold more tickets than the event allows")
)

// Hold is a reservation: tickets kept for one fan until paid, released or expired.
type Hold struct {
	ID          string
	EventID     string
	ZoneID      string
	UserID      string
	SessionID   string
	Tickets     []HoldTicket
	AmountCents int64
	Currency    string
	ExpiresAt   time.Time
	Status      string
	BookingID   string
	CreatedAt   time.Time
	// Grace is the event's payment grace: a hold with a payment in progress
	// lasts this much past ExpiresAt.
	Grace time.Duration
}

// BookableAt reports whether a payment made for the hold may still buy it at
// t: the hold is active and t is before its end plus the payment grace (a
// payment exists only for holds that were active when it was made).
func (h *Hold) BookableAt(t time.Time) bool {
	return h.Status == HoldActive && t.Before(h.ExpiresAt.Add(h.Grace))
}

// HoldTicket is one ticket of a hold or booking.
type HoldTicket struct {
	ID     int64
	ZoneID string
	SeatID string
	// CheckedInAt is when a booked ticket was let in at the door, if it was.
	CheckedInAt *time.Time
}

// NewHold asks for specific seats or a quantity from a zone.
type NewHold struct {
	ID, EventID, ZoneID, UserID, SessionID string
	Seats                                  []string
	Quantity                               int
	ExpiresAt                              time.Time
}

// CreateHold reserves the tickets in one transaction, or none of them. The
// fan's tickets in the event, held and booked, are counted under a lock per fan
// and event first, so the limit per fan holds here too, whatever Redis said.
// Seats are taken by conditional updates; pool tickets are handed out in stage
// order with SKIP LOCKED, so concurrent holds never wait on each other's rows.
// The statements go in one batch with the BEGIN; what they find is checked
// after, and a refusal rolls everything back (see inTx).
func (db *DB) CreateHold(ctx context.Context, n NewHold) (*Hold, error) {
	want := n.Quantity
	if len(n.Seats) > 0 {
		want = len(n.Seats)
	}
	if want <= 0 {
		return nil, ErrTicketsTaken
	}
	var (
		h         *Hold
		max, have int
		taken     int64
	)
	err := db.inTx(ctx, func(b *pgx.Batch) {
		queueLimit(b, n.EventID, n.UserID, &max, &have)
		const (
			pool = `
				WITH picked AS (
					SELECT id FROM tickets
					WHERE event_id = $1 AND zone_id = $2 AND status = 'AVAILABLE'
					ORDER BY number
					LIMIT $3
					FOR UPDATE SKIP LOCKED
				)
				UPDATE tickets t SET status = 'RESERVED', hold_id = $4
				FROM picked WHERE t.id = picked.id`
			seats = `
				UPDATE tickets SET status = 'RESERVED', hold_id = $4
				WHERE event_id = $1 AND zone_id = $2 AND seat_id = ANY($3) AND status = 'AVAILABLE'`
		)
		q, which := pool, any(n.Quantity)
		if len(n.Seats) > 0 {
			q, which = seats, n.Seats
		}
		b.Queue(q, n.EventID, n.ZoneID, which, n.ID).Exec(func(tag pgconn.CommandTag) error {
			taken = tag.RowsAffected()
			return nil
		})
		b.Queue(`
			INSERT INTO holds (id, event_id, zone_id, user_id, session_id, amount_cents, expires_at)
			SELECT $1, $2, $3, $4, $5, z.price_cents * $6, $7
			FROM zones z WHERE z.event_id = $2 AND z.id = $3`,
			n.ID, n.EventID, n.ZoneID, n.UserID, n.SessionID, want, n.ExpiresAt)
		b.Queue(`INSERT INTO hold_tickets (hold_id, ticket_id) SELECT $1, id FROM tickets WHERE hold_id = $1`, n.ID)
		b.Queue(holdsQuery+`h.id = $1`, n.ID).
			QueryRow(func(row pgx.Row) (err error) {
				if h, err = scanHold(row); errors.Is(err, ErrNotFound) {
					return nil // no such zone: no tickets were taken either
				}
				return err
			})
	}, func() (*pgx.Batch, error) {
		switch {
		case have+want > max:
			return nil, fmt.Errorf("%w: %d held or booked, %d more asked, at most %d", ErrLimitReached, have, want, max)
		case taken != int64(want) || h == nil:
			return nil, ErrTicketsTaken // rolls back what was taken
		}
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reserve tickets: %w", translate(err))
	}
	return h, nil
}

// queueLimit queues the taking of the fan's lock for the event and the count
// of their tickets in it, held and booked together, with the event's limit.
// The lock is released with the transaction; two holds of one fan wait for
// each other there, no one else does. The counts walk the fan's own holds and
// bookings and their tickets by key (OFFSET 0, as in ticketByID), whatever the
// planner knows of the tables.
func queueLimit(b *pgx.Batch, eventID, userID string, max, have *int) {
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`, eventID, userID)
	b.Queue(`
		SELECT e.max_tickets_per_user,
			(SELECT count(*) FROM holds h CROSS JOIN LATERAL
				(SELECT FROM hold_tickets ht WHERE ht.hold_id = h.id AND ht.active OFFSET 0) ht
			 WHERE h.event_id = $1 AND h.user_id = $2 AND h.status = 'ACTIVE')
			+ (SELECT count(*) FROM bookings b CROSS JOIN LATERAL
				(SELECT FROM booking_tickets bt WHERE bt.booking_id = b.id AND bt.active OFFSET 0) bt
			 WHERE b.event_id = $1 AND b.user_id = $2 AND b.status = 'CONFIRMED')
		FROM events e WHERE e.id = $1`, eventID, userID).QueryRow(func(row pgx.Row) error {
		return row.Scan(max, have)
	})
}

// holdColumns are a hold's row, its event's currency and grace, and its
// tickets (in stage order) in one value, so one query reads a hold whole.
const holdColumns = `h.id, h.event_id, h.zone_id, h.user_id, h.session_id, h.amount_cents, e.currency,
	h.expires_at, h.status, coalesce(h.booking_id, ''), h.created_at, e.payment_grace_seconds, (
		SELECT coalesce(json_agg(json_build_object('ID', t.id, 'ZoneID', t.zone_id, 'SeatID', coalesce(t.seat_id, ''))
			ORDER BY t.zone_id, t.number), '[]')
		FROM hold_tickets l CROSS JOIN LATERAL (` + ticketByID + `) t WHERE l.hold_id = h.id)`

// ticketByID reads one ticket of a hold or booking by its key. OFFSET 0 keeps
// the planner from turning the lookup into a join of its choosing: without
// statistics on tickets (a new event, autovacuum slow or off) it would
// hash-join over a full scan of every event's tickets, once per read.
const ticketByID = `SELECT id, zone_id, seat_id, number FROM tickets WHERE id = l.ticket_id OFFSET 0`

// Likewise a payment's holds and a hold's payments are selected with
// = ANY(ARRAY(SELECT …)), never IN (SELECT …): the planner may make IN a join
// that scans and sorts every hold (or payment) when it has no statistics on
// them; the array is read first and then looked up by key.

func scanHold(row pgx.Row) (*Hold, error) {
	var (
		h     Hold
		grace int
	)
	err := row.Scan(&h.ID, &h.EventID, &h.ZoneID, &h.UserID, &h.SessionID, &h.AmountCents, &h.Currency,
		&h.ExpiresAt, &h.Status, &h.BookingID, &h.CreatedAt, &grace, &h.Tickets)
	if err != nil {
		return nil, translate(err)
	}
	h.Grace = time.Duration(grace) * time.Second
	return &h, nil
}

// readHolds reads the holds that where (on h, with any ORDER BY and locking)
// selects, each whole, in one query.
func readHolds(ctx context.Context, q DBTX, where string, args ...any) ([]*Hold, error) {
	rows, err := q.Query(ctx, holdsQuery+where, args...)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	return collectHolds(rows)
}

// queueHolds queues readHolds' query, its answer into *holds. Transactions
// that lock holds (FOR UPDATE OF h) take them in id order, and before any
// payment, so two never wait on each other.
func queueHolds(b *pgx.Batch, holds *[]*Hold, where string, args ...any) {
	b.Queue(holdsQuery+where, args...).Query(func(rows pgx.Rows) (err error) {
		*holds, err = collectHolds(rows)
		return err
	})
}

const holdsQuery = `SELECT ` + holdColumns + ` FROM holds h JOIN events e ON e.id = h.event_id WHERE `

func collectHolds(rows pgx.Rows) ([]*Hold, error) {
	holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, fmt.Errorf("holds: %w", translate(err))
	}
	return holds, nil
}

// Hold returns one hold with its tickets.
func (db *DB) Hold(ctx context.Context, id string) (*Hold, error) {
	h, err := scanHold(db.pool.QueryRow(ctx, holdsQuery+`h.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", id, err)
	}
	return h, nil
}

// Holds returns the holds of ids that exist, in id order.
func (db *DB) Holds(ctx context.Context, ids []string) ([]*Hold, error) {
	return readHolds(ctx, db.pool, `h.id = ANY($1) ORDER BY h.id`, ids)
}

// HoldsOf lists a fan's last 200 holds, newest first.
func (db *DB) HoldsOf(ctx context.Context, userID string) ([]*Hold, error) {
	return readHolds(ctx, db.pool, `h.user_id = $1 ORDER BY h.created_at DESC LIMIT 200`, userID)
}

// EndHold ends an active hold, RELEASED or EXPIRED, and puts its tickets back
// on sale. In the same transaction, every succeeded payment for the hold that
// has bought nothing is owed back (refunds lists them), so the money cannot be
// kept without tickets even if this replica dies next. Ending a hold that is no
// longer active is ErrHoldNotActive and changes nothing.
func (db *DB) EndHold(ctx context.Context, id, status string) (h *Hold, refunds []string, err error) {
	now := db.now()
	var (
		holds []*Hold
		ps    []*payments.Payment
	)
	err = db.inTx(ctx, func(b *pgx.Batch) {
		queueHolds(b, &holds, `h.id = $1 ORDER BY h.id FOR UPDATE OF h`, id)
		// Its payments, after it: every transaction locks holds first.
		queuePayments(b, &ps, `p.id = ANY(ARRAY(SELECT payment_id FROM payment_holds WHERE hold_id = $1)) ORDER BY p.id FOR UPDATE OF p`, id)
	}, func() (*pgx.Batch, error) {
		if len(holds) == 0 {
			return nil, fmt.Errorf("hold %s: %w", id, ErrNotFound)
		}
		if h = holds[0]; h.Status != HoldActive {
			return nil, ErrHoldNotActive
		}
		var b pgx.Batch
		b.Queue(`UPDATE tickets SET status = 'AVAILABLE', hold_id = NULL WHERE hold_id = $1 AND status = 'RESERVED'`, id)
		b.Queue(`UPDATE hold_tickets SET active = false WHERE hold_id = $1`, id)
		b.Queue(`UPDATE holds SET status = $2, ended_at = now() WHERE id = $1`, id, status)
		for _, p := range ps {
			if p.OweRefund(now) {
				queueSavePayment(&b, p)
				refunds = append(refunds, p.ID)
			}
		}
		return &b, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("end hold %s: %w", id, err)
	}
	h.Status = status
	return h, refunds, nil
}

// DueHolds lists active holds whose time is up: expires_at passed, plus the
// payment grace for holds with a live payment (pending, or succeeded and not
// yet booked).
func (db *DB) DueHolds(ctx context.Context, now time.Time, limit int) ([]string, error) {
	const q = `
		SELECT h.id FROM holds h JOIN events e ON e.id = h.event_id
		WHERE h.status = 'ACTIVE' AND h.expires_at <= $1
		  AND (h.expires_at + make_interval(secs => e.payment_grace_seconds) <= $1
		       OR NOT EXISTS (` + livePaymentOfHold + `))
		ORDER BY h.expires_at
		LIMIT $2`
	rows, err := db.pool.Query(ctx, q, now, limit)
	if err != nil {
		return nil, fmt.Errorf("due holds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("due holds: %w", err)
	}
	return ids, nil
}

// livePaymentOfHold selects a payment of hold h that may still buy it: pending,
// or succeeded and neither owed back nor booked (a booked payment's holds are
// not active any more).
const livePaymentOfHold = `
	SELECT 1 FROM payment_holds ph JOIN payments p ON p.id = ph.payment_id
	WHERE ph.hold_id = h.id AND (p.status = 'pending' OR (p.status = 'succeeded' AND NOT p.refund_due))`

// ActiveHoldsOfSession lists the fan's active holds for the event.
func (db *DB) ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error) {
	return db.holdIDs(ctx, `SELECT id FROM holds WHERE event_id = $1 AND user_id = $2 AND status = 'ACTIVE'`, eventID, userID)
}

// UnpaidHoldsOfSession lists the fan's active holds for the event that have no
// payment in progress: those end with the session at once; the others get the
// payment grace.
func (db *DB) UnpaidHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error) {
	return db.holdIDs(ctx, `SELECT h.id FROM holds h WHERE h.event_id = $1 AND h.user_id = $2 AND h.status = 'ACTIVE'
		AND NOT EXISTS (`+livePaymentOfHold+`)`, eventID, userID)
}

func (db *DB) holdIDs(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	return ids, nil
}

// KnownHolds returns which of the ids the database has: a hold decided in
// Redis that is not here after its write could have finished never will be.
func (db *DB) KnownHolds(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM holds WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("known holds: %w", err)
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("known holds: %w", translate(err))
	}
	out := make(map[string]bool, len(known))
	for _, id := range known {
		out[id] = true
	}
	return out, nil
}
