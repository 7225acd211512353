package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hold statuses.
const (
	HoldActive   = "ACTIVE"
	HoldBooked   = "BOOKED"
	HoldReleased = "RELEASED"
	HoldExpired  = "EXPIRED"
)

var (
	// ErrTicketsTaken is the database refusing tickets that are no longer available.
	ErrTicketsTaken = errors.New("tickets are no longer available")
	// ErrHoldNotActive is a hold that was released, expired or booked meanwhile.
	ErrHoldNotActive = errors.New("the hold is no longer active")
)

// Hold is a reservation: tickets kept for one fan until paid, released or expired.
type Hold struct {
	ID          string       `json:"id"`
	EventID     string       `json:"event_id"`
	ZoneID      string       `json:"zone_id"`
	UserID      string       `json:"-"`
	SessionID   string       `json:"-"`
	Tickets     []HoldTicket `json:"tickets"`
	AmountCents int64        `json:"amount_cents"`
	Currency    string       `json:"currency"`
	ExpiresAt   time.Time    `json:"expires_at"`
	Status      string       `json:"status"`
	CreatedAt   time.Time    `json:"created_at"`
}

// HoldTicket is one ticket of a hold or booking.
type HoldTicket struct {
	ID     int64  `json:"id"`
	SeatID string `json:"seat_id,omitempty"`
}

// NewHold asks for specific seats or a quantity from a zone.
type NewHold struct {
	ID, EventID, ZoneID, UserID, SessionID string
	Seats                                  []string
	Quantity                               int
	ExpiresAt                              time.Time
}

// CreateHold reserves the tickets in one transaction, or none of them. Seats are
// taken by conditional updates; pool tickets are handed out in stage order with
// SKIP LOCKED, so concurrent holds never wait on each other's rows.
func (db *DB) CreateHold(ctx context.Context, n NewHold) (*Hold, error) {
	var h *Hold
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var (
			rows pgx.Rows
			err  error
			want = n.Quantity
		)
		if len(n.Seats) > 0 {
			want = len(n.Seats)
			const q = `
				UPDATE tickets SET status = 'RESERVED', hold_id = $4
				WHERE event_id = $1 AND zone_id = $2 AND seat_id = ANY($3) AND status = 'AVAILABLE'
				RETURNING id, coalesce(seat_id, '')`
			rows, err = tx.Query(ctx, q, n.EventID, n.ZoneID, n.Seats, n.ID)
		} else {
			const q = `
				WITH picked AS (
					SELECT id FROM tickets
					WHERE event_id = $1 AND zone_id = $2 AND status = 'AVAILABLE'
					ORDER BY number
					LIMIT $3
					FOR UPDATE SKIP LOCKED
				)
				UPDATE tickets t SET status = 'RESERVED', hold_id = $4
				FROM picked WHERE t.id = picked.id
				RETURNING t.id, coalesce(t.seat_id, '')`
			rows, err = tx.Query(ctx, q, n.EventID, n.ZoneID, n.Quantity, n.ID)
		}
		if err != nil {
			return fmt.Errorf("reserve tickets: %w", err)
		}
		tickets, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HoldTicket])
		if err != nil {
			return fmt.Errorf("reserve tickets: %w", translate(err))
		}
		if want <= 0 || len(tickets) != want {
			return ErrTicketsTaken // rolls back what was taken
		}
		ids := make([]int64, len(tickets))
		for i, t := range tickets {
			ids[i] = t.ID
		}
		const qh = `
			INSERT INTO holds (id, event_id, zone_id, user_id, session_id, amount_cents, expires_at)
			SELECT $1, $2, $3, $4, $5, z.price_cents * $6, $7
			FROM zones z WHERE z.event_id = $2 AND z.id = $3`
		if _, err := tx.Exec(ctx, qh, n.ID, n.EventID, n.ZoneID, n.UserID, n.SessionID, len(tickets), n.ExpiresAt); err != nil {
			return fmt.Errorf("insert hold: %w", translate(err))
		}
		const qt = `INSERT INTO hold_tickets (hold_id, ticket_id) SELECT $1, unnest($2::bigint[])`
		if _, err := tx.Exec(ctx, qt, n.ID, ids); err != nil {
			return fmt.Errorf("insert hold tickets: %w", translate(err))
		}
		h, err = holdTx(ctx, tx, n.ID, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

const holdColumns = `h.id, h.event_id, h.zone_id, h.user_id, h.session_id, h.amount_cents, e.currency,
	h.expires_at, h.status, h.created_at`

func scanHold(row pgx.Row) (*Hold, error) {
	var h Hold
	err := row.Scan(&h.ID, &h.EventID, &h.ZoneID, &h.UserID, &h.SessionID, &h.AmountCents, &h.Currency,
		&h.ExpiresAt, &h.Status, &h.CreatedAt)
	if err != nil {
		return nil, translate(err)
	}
	return &h, nil
}

// holdTx reads a hold and its tickets, locking the hold row when forUpdate.
func holdTx(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (*Hold, error) {
	q := `SELECT ` + holdColumns + ` FROM holds h JOIN events e ON e.id = h.event_id WHERE h.id = $1`
	if forUpdate {
		q += ` FOR UPDATE OF h`
	}
	h, err := scanHold(tx.QueryRow(ctx, q, id))
	if err != nil {
		return nil, fmt.Errorf("hold %s: %w", id, err)
	}
	tickets, err := ticketsOf(ctx, tx, holdLinks, []string{id})
	if err != nil {
		return nil, err
	}
	h.Tickets = tickets[id]
	return h, nil
}

// querier is what the pool and a transaction both offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// The tables that link tickets to their holds and bookings.
const (
	holdLinks    = "hold_tickets"
	bookingLinks = "booking_tickets"
)

// ticketsOf reads the tickets of many holds or bookings in one query, each
// owner's in stage order.
func ticketsOf(ctx context.Context, q querier, links string, owners []string) (map[string][]HoldTicket, error) {
	owner := "hold_id"
	if links == bookingLinks {
		owner = "booking_id"
	}
	sql := `
		SELECT l.` + owner + `, t.id, coalesce(t.seat_id, '')
		FROM ` + links + ` l JOIN tickets t ON t.id = l.ticket_id
		WHERE l.` + owner + ` = ANY($1)
		ORDER BY t.number`
	rows, err := q.Query(ctx, sql, owners)
	if err != nil {
		return nil, fmt.Errorf("tickets of %s: %w", links, err)
	}
	defer rows.Close()
	out := make(map[string][]HoldTicket, len(owners))
	for rows.Next() {
		var (
			id string
			t  HoldTicket
		)
		if err := rows.Scan(&id, &t.ID, &t.SeatID); err != nil {
			return nil, fmt.Errorf("tickets of %s: %w", links, err)
		}
		out[id] = append(out[id], t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tickets of %s: %w", links, translate(err))
	}
	return out, nil
}

// Hold returns one hold with its tickets.
func (db *DB) Hold(ctx context.Context, id string) (*Hold, error) {
	var h *Hold
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) (err error) {
		h, err = holdTx(ctx, tx, id, false)
		return err
	})
	return h, err
}

// HoldsOf lists a fan's last 200 holds, newest first, in two queries.
func (db *DB) HoldsOf(ctx context.Context, userID string) ([]*Hold, error) {
	q := `SELECT ` + holdColumns + ` FROM holds h JOIN events e ON e.id = h.event_id
		WHERE h.user_id = $1 ORDER BY h.created_at DESC LIMIT 200`
	rows, err := db.pool.Query(ctx, q, userID)
	if err != nil {
		return nil, fmt.Errorf("holds of %s: %w", userID, err)
	}
	holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Hold, error) { return scanHold(r) })
	if err != nil {
		return nil, fmt.Errorf("holds of %s: %w", userID, err)
	}
	ids := make([]string, len(holds))
	for i, h := range holds {
		ids[i] = h.ID
	}
	tickets, err := ticketsOf(ctx, db.pool, holdLinks, ids)
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		h.Tickets = tickets[h.ID]
	}
	return holds, nil
}

// EndHold releases an active hold's tickets back on sale, marking it RELEASED or
// EXPIRED. Ending a hold that is no longer active is ErrHoldNotActive and changes
// nothing.
func (db *DB) EndHold(ctx context.Context, id, status string) (*Hold, error) {
	var h *Hold
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if h, err = holdTx(ctx, tx, id, true); err != nil {
			return err
		}
		if h.Status != HoldActive {
			return ErrHoldNotActive
		}
		const q = `
			UPDATE tickets SET status = 'AVAILABLE', hold_id = NULL
			WHERE hold_id = $1 AND status = 'RESERVED'`
		if _, err := tx.Exec(ctx, q, id); err != nil {
			return fmt.Errorf("release tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE hold_tickets SET active = false WHERE hold_id = $1`, id); err != nil {
			return fmt.Errorf("release hold tickets: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE holds SET status = $2, ended_at = now() WHERE id = $1`, id, status); err != nil {
			return fmt.Errorf("end hold: %w", err)
		}
		h.Status = status
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// DueHolds lists active holds whose time is up: expires_at passed, plus the
// payment grace for holds with a payment in flight.
func (db *DB) DueHolds(ctx context.Context, now time.Time, limit int) ([]string, error) {
	const q = `
		SELECT h.id FROM holds h JOIN events e ON e.id = h.event_id
		WHERE h.status = 'ACTIVE' AND h.expires_at <= $1
		  AND (h.expires_at + make_interval(secs => e.payment_grace_seconds) <= $1
		       OR NOT EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = h.id AND p.status = 'pending'))
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

// ActiveHoldsOfSession lists a session's active holds, which end with it.
func (db *DB) ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM holds WHERE event_id = $1 AND user_id = $2 AND status = 'ACTIVE'`, eventID, userID)
	if err != nil {
		return nil, fmt.Errorf("active holds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("active holds: %w", err)
	}
	return ids, nil
}
