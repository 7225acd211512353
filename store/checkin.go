package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrCheckedIn is a booking with a ticket let in at the door: it can no longer
// be cancelled, since the fan has used what they would be refunded for.
var ErrCheckedIn = errors.New("a ticket of this booking was checked in at the door")

// TicketSale is one booking that sold a ticket. A ticket row is sold again
// after a cancellation, so one ticket may have several, at most one active.
type TicketSale struct {
	BookingID string
	EventID   string
}

// TicketSales lists every booking that ever sold the ticket.
func (db *DB) TicketSales(ctx context.Context, ticketID int64) ([]TicketSale, error) {
	const q = `
		SELECT l.booking_id, b.event_id
		FROM booking_tickets l JOIN bookings b ON b.id = l.booking_id
		WHERE l.ticket_id = $1`
	rows, err := db.pool.Query(ctx, q, ticketID)
	if err != nil {
		return nil, fmt.Errorf("sales of ticket %d: %w", ticketID, translate(err))
	}
	sales, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TicketSale])
	if err != nil {
		return nil, fmt.Errorf("sales of ticket %d: %w", ticketID, translate(err))
	}
	return sales, nil
}

// CheckIn is what the door learned of one ticket of one booking.
type CheckIn struct {
	BookingID   string
	TicketID    int64
	ZoneID      string
	SeatID      string
	Holder      string // the fan's name
	Cancelled   bool   // the booking was cancelled: the ticket is not valid
	First       bool   // this call checked the ticket in
	CheckedInAt time.Time
}

// CheckTicketIn lets the booking's ticket in at the door, once: the first call
// records at (and who scanned it) and says First; every later call, however
// concurrent, finds that first time. A cancelled booking's ticket is never let in.
func (db *DB) CheckTicketIn(ctx context.Context, bookingID string, ticketID int64, by string, at time.Time) (*CheckIn, error) {
	ci := &CheckIn{BookingID: bookingID, TicketID: ticketID}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// The share lock on the booking waits for a cancellation under way (which
		// locks it for update) and holds one off until this check-in is committed,
		// so a booking is never both cancelled and let in.
		const read = `
			SELECT b.status, u.name, t.zone_id, coalesce(t.seat_id, ''), l.active
			FROM bookings b
			JOIN users u ON u.id = b.user_id
			JOIN booking_tickets l ON l.booking_id = b.id
			JOIN tickets t ON t.id = l.ticket_id
			WHERE b.id = $1 AND l.ticket_id = $2
			FOR SHARE OF b`
		var (
			status string
			active bool
		)
		if err := tx.QueryRow(ctx, read, bookingID, ticketID).Scan(&status, &ci.Holder, &ci.ZoneID, &ci.SeatID, &active); err != nil {
			return translate(err)
		}
		if status != BookingConfirmed || !active {
			ci.Cancelled = true
			return nil
		}
		// Concurrent scans queue on the row; the first commits, and the others
		// find checked_in_at set when PostgreSQL re-checks the condition.
		const mark = `
			UPDATE booking_tickets SET checked_in_at = $3, checked_in_by = $4
			WHERE booking_id = $1 AND ticket_id = $2 AND active AND checked_in_at IS NULL
			RETURNING checked_in_at`
		err := tx.QueryRow(ctx, mark, bookingID, ticketID, at, by).Scan(&ci.CheckedInAt)
		if err == nil {
			ci.First = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		const first = `SELECT checked_in_at FROM booking_tickets WHERE booking_id = $1 AND ticket_id = $2`
		return tx.QueryRow(ctx, first, bookingID, ticketID).Scan(&ci.CheckedInAt)
	})
	if err != nil {
		return nil, fmt.Errorf("check in ticket %d of %s: %w", ticketID, bookingID, translate(err))
	}
	return ci, nil
}
