package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/boxofficehq/boxoffice/inventory"
)

// InventorySnapshot reads an event's inventory as inventory.Rebuild needs it:
// zones, every ticket in stage order, active holds with their tickets and each
// fan's held + booked count. One read-only REPEATABLE READ transaction, so the
// parts agree with each other. TakenAt is the application's clock just before
// the read began: anything committed after it may be missing, and Rebuild keeps
// the holds Redis decided around then.
func (db *DB) InventorySnapshot(ctx context.Context, eventID string) (*inventory.Snapshot, error) {
	snap := &inventory.Snapshot{EventID: eventID, TakenAt: db.now(), Users: map[string]int{}}
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := db.readTx(ctx, opts, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, kind FROM zones WHERE event_id = $1 ORDER BY position`, eventID)
		if err != nil {
			return fmt.Errorf("zones: %w", err)
		}
		snap.Zones, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (inventory.SnapshotZone, error) {
			var z inventory.SnapshotZone
			return z, r.Scan(&z.ID, &z.Kind)
		})
		if err != nil {
			return fmt.Errorf("zones: %w", err)
		}
		if len(snap.Zones) == 0 { // every event has a zone: no zones, no event
			return ErrNotFound
		}
		for i := range snap.Zones {
			if err := zoneTickets(ctx, tx, eventID, &snap.Zones[i]); err != nil {
				return err
			}
		}
		if err := activeHolds(ctx, tx, snap); err != nil {
			return err
		}
		if err := bookedPerUser(ctx, tx, snap); err != nil {
			return err
		}
		return cancelledBookings(ctx, tx, snap)
	})
	if err != nil {
		return nil, fmt.Errorf("inventory snapshot of %s: %w", eventID, err)
	}
	return snap, nil
}

// zoneTickets reads a zone's tickets in stage order and, for seats, the rows
// they form. One query per zone walks the (event_id, zone_id, number) index in
// order, where one query for the event would sort every ticket.
func zoneTickets(ctx context.Context, tx pgx.Tx, eventID string, z *inventory.SnapshotZone) error {
	const q = `
		SELECT coalesce(seat_id, ''), coalesce(seat_row, ''), coalesce(row_index, -1), status
		FROM tickets
		WHERE event_id = $1 AND zone_id = $2
		ORDER BY number`
	rows, err := tx.Query(ctx, q, eventID, z.ID)
	if err != nil {
		return fmt.Errorf("tickets of %s: %w", z.ID, err)
	}
	defer rows.Close()
	var (
		t              inventory.SnapshotTicket
		row            string
		rowIndex, last int
		seen           = map[int]bool{}
	)
	for rows.Next() {
		if err := rows.Scan(&t.SeatID, &row, &rowIndex, &t.Status); err != nil {
			return fmt.Errorf("tickets of %s: %w", z.ID, err)
		}
		if z.Kind == inventory.Seated {
			if len(z.Rows) == 0 || rowIndex != last {
				// Stage order runs row by row; a row met twice would break the ranges
				// best-available searches.
				if seen[rowIndex] {
					return fmt.Errorf("tickets of %s: row %s is not contiguous in stage order", z.ID, row)
				}
				seen[rowIndex], last = true, rowIndex
				z.Rows = append(z.Rows, inventory.SnapshotRow{Row: row, Offset: len(z.Tickets)})
			}
			z.Rows[len(z.Rows)-1].Len++
		}
		z.Tickets = append(z.Tickets, t)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("tickets of %s: %w", z.ID, err)
	}
	return nil
}

// activeHolds reads the ACTIVE holds and the tickets they still hold: seats in
// a seated zone, a count in a pool. Their tickets count toward their fans.
func activeHolds(ctx context.Context, tx pgx.Tx, snap *inventory.Snapshot) error {
	const q = `
		SELECT h.id, h.zone_id, h.user_id, t.seat_id
		FROM holds h
		JOIN hold_tickets ht ON ht.hold_id = h.id AND ht.active
		JOIN tickets t ON t.id = ht.ticket_id AND t.status = 'RESERVED'
		WHERE h.event_id = $1 AND h.status = 'ACTIVE'
		ORDER BY h.id, t.number`
	rows, err := tx.Query(ctx, q, snap.EventID)
	if err != nil {
		return fmt.Errorf("active holds: %w", err)
	}
	defer rows.Close()
	var (
		id, zoneID, userID string
		seatID             *string
	)
	for rows.Next() {
		if err := rows.Scan(&id, &zoneID, &userID, &seatID); err != nil {
			return fmt.Errorf("active holds: %w", err)
		}
		n := len(snap.Holds)
		if n == 0 || snap.Holds[n-1].ID != id {
			snap.Holds = append(snap.Holds, inventory.SnapshotHold{ID: id, ZoneID: zoneID, UserID: userID})
			n++
		}
		if h := &snap.Holds[n-1]; seatID != nil {
			h.Seats = append(h.Seats, *seatID)
		} else {
			h.Quantity++
		}
		snap.Users[userID]++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("active holds: %w", err)
	}
	return nil
}

// bookedPerUser adds each fan's booked tickets of confirmed bookings, counted
// as the per-fan limit in PostgreSQL counts them (queueLimit): each booking's
// tickets by key. Joined with tickets instead, the planner (with statistics
// from when nothing was booked) walked every booked ticket once per booking:
// 2.7 s a snapshot with 1,500 bookings, most of PostgreSQL's time on a
// rehearsed day.
func bookedPerUser(ctx context.Context, tx pgx.Tx, snap *inventory.Snapshot) error {
	const q = `
		SELECT b.user_id, count(*)
		FROM bookings b CROSS JOIN LATERAL
			(SELECT FROM booking_tickets bt WHERE bt.booking_id = b.id AND bt.active OFFSET 0) bt
		WHERE b.event_id = $1 AND b.status = 'CONFIRMED'
		GROUP BY b.user_id`
	rows, err := tx.Query(ctx, q, snap.EventID)
	if err != nil {
		return fmt.Errorf("booked tickets per fan: %w", err)
	}
	defer rows.Close()
	var (
		userID string
		n      int
	)
	for rows.Next() {
		if err := rows.Scan(&userID, &n); err != nil {
			return fmt.Errorf("booked tickets per fan: %w", err)
		}
		snap.Users[userID] += n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("booked tickets per fan: %w", err)
	}
	return nil
}

// cancelledBookings lists the event's cancelled bookings per zone: their
// tickets are on sale in the snapshot already.
func cancelledBookings(ctx context.Context, tx pgx.Tx, snap *inventory.Snapshot) error {
	const q = `
		SELECT DISTINCT b.id, t.zone_id
		FROM bookings b
		JOIN booking_tickets bt ON bt.booking_id = b.id
		JOIN tickets t ON t.id = bt.ticket_id
		WHERE b.event_id = $1 AND b.status = 'CANCELLED'`
	rows, err := tx.Query(ctx, q, snap.EventID)
	if err != nil {
		return fmt.Errorf("cancelled bookings: %w", err)
	}
	snap.Cancelled, err = pgx.CollectRows(rows, pgx.RowToStructByPos[inventory.CancelledBooking])
	if err != nil {
		return fmt.Errorf("cancelled bookings: %w", err)
	}
	return nil
}
