package rehearse

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier is how the check reads PostgreSQL; *pgxpool.Pool and pgx.Tx satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Check is one invariant and whether it held.
type Check struct {
	Name   string `json:"name"`
	Source string `json:"source"` // database or client
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Invariants is the database's check of one event.
type Invariants struct {
	EventID string `json:"event_id"`
	// SettleSeconds is how long the check waited for the server to settle
	// every succeeded payment (0: nothing was left to settle).
	SettleSeconds float64 `json:"settle_seconds"`
	Checks        []Check `json:"checks"`
}

// unsettledQ counts the event's succeeded payments the server has yet to
// settle: a refund owed and not yet acknowledged, or no confirmed booking yet.
const unsettledQ = `
	SELECT count(*) FROM payments p
	WHERE p.event_id = $1 AND p.status = 'succeeded'
	  AND (p.refund_due OR NOT EXISTS (
	      SELECT 1 FROM bookings b WHERE b.payment_id = p.id AND b.status = 'CONFIRMED'))`

// CheckInvariants checks in SQL what must hold of an event after any sale, after
// waiting up to settle for the server's settler to finish what a sale leaves
// it (docs/PAYMENTS.md: a success is settled within seconds):
//
//   - every ticket is booked at most once, and a ticket is BOOKED exactly when
//     it is in a confirmed booking;
//   - per zone, available + held + booked tickets = the zone's capacity (held:
//     in an active reservation; booked: in a confirmed booking);
//   - every succeeded payment is in one confirmed booking or refunded, and no
//     refunded payment still has a confirmed booking;
//   - no fan holds and owns more tickets than the event's limit.
func CheckInvariants(ctx context.Context, db Querier, eventID string, settle time.Duration) (*Invariants, error) {
	if err := eventInDB(ctx, db, eventID); err != nil {
		return nil, err
	}
	inv := &Invariants{EventID: eventID}
	start := time.Now()
	for {
		var n int
		if err := db.QueryRow(ctx, unsettledQ, eventID).Scan(&n); err != nil {
			return nil, fmt.Errorf("count unsettled payments: %w", err)
		}
		if n == 0 || time.Since(start) >= settle {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	inv.SettleSeconds = time.Since(start).Seconds()
	for _, check := range []func(context.Context, Querier, string) (Check, error){
		bookedOnce, zonesAddUp, paymentsSettled, withinLimit,
	} {
		c, err := check(ctx, db, eventID)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.Name, err)
		}
		c.Source = "database"
		inv.Checks = append(inv.Checks, c)
	}
	return inv, nil
}

func eventInDB(ctx context.Context, db Querier, eventID string) error {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)`, eventID).Scan(&exists); err != nil {
		return fmt.Errorf("read event %s from the database: %w", eventID, err)
	}
	if !exists {
		return fmt.Errorf("event %s is not in this database (-database-url)", eventID)
	}
	return nil
}

func bookedOnce(ctx context.Context, db Querier, eventID string) (Check, error) {
	c := Check{Name: "ticket_booked_once"}
	// twice: tickets in two confirmed bookings at once. disagree: tickets whose
	// own status and booking differ from the confirmed booking that holds them.
	const q = `
		WITH active AS (
		    SELECT bt.ticket_id, b.id AS booking_id
		    FROM booking_tickets bt JOIN bookings b ON b.id = bt.booking_id
		    WHERE b.event_id = $1 AND b.status = 'CONFIRMED' AND bt.active)
		SELECT
		    (SELECT count(*) FROM (SELECT ticket_id FROM active GROUP BY ticket_id HAVING count(*) > 1) d),
		    (SELECT count(*) FROM tickets t
		     WHERE t.event_id = $1
		       AND ((t.status = 'BOOKED') <> EXISTS (SELECT 1 FROM active a WHERE a.ticket_id = t.id)
		            OR t.status = 'BOOKED' AND NOT EXISTS (
		                SELECT 1 FROM active a WHERE a.ticket_id = t.id AND a.booking_id = t.booking_id)))`
	var twice, disagree int
	if err := db.QueryRow(ctx, q, eventID).Scan(&twice, &disagree); err != nil {
		return c, err
	}
	c.OK = twice == 0 && disagree == 0
	c.Detail = fmt.Sprintf("%d tickets in two confirmed bookings; %d tickets whose status disagrees with their booking", twice, disagree)
	return c, nil
}

func zonesAddUp(ctx context.Context, db Querier, eventID string) (Check, error) {
	c := Check{Name: "zone_counts"}
	const q = `
		SELECT z.id, z.capacity,
		    (SELECT count(*) FROM tickets t WHERE t.event_id = z.event_id AND t.zone_id = z.id AND t.status = 'AVAILABLE'),
		    (SELECT count(*) FROM holds h JOIN hold_tickets ht ON ht.hold_id = h.id AND ht.active
		         JOIN tickets t ON t.id = ht.ticket_id
		     WHERE h.event_id = z.event_id AND h.status = 'ACTIVE' AND t.zone_id = z.id),
		    (SELECT count(*) FROM bookings b JOIN booking_tickets bt ON bt.booking_id = b.id AND bt.active
		         JOIN tickets t ON t.id = bt.ticket_id
		     WHERE b.event_id = z.event_id AND b.status = 'CONFIRMED' AND t.zone_id = z.id)
		FROM zones z WHERE z.event_id = $1 ORDER BY z.position`
	rows, err := db.Query(ctx, q, eventID)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	c.OK = true
	var parts []string
	for rows.Next() {
		var (
			zone                          string
			capacity, avail, held, booked int64
		)
		if err := rows.Scan(&zone, &capacity, &avail, &held, &booked); err != nil {
			return c, err
		}
		sign := "="
		if avail+held+booked != capacity {
			c.OK, sign = false, "≠"
		}
		parts = append(parts, fmt.Sprintf("%s: %d available + %d held + %d booked %s %d", zone, avail, held, booked, sign, capacity))
	}
	c.Detail = strings.Join(parts, "; ")
	return c, rows.Err()
}

func paymentsSettled(ctx context.Context, db Querier, eventID string) (Check, error) {
	c := Check{Name: "payments_settled"}
	const q = `
		SELECT
		    (SELECT count(*) FROM payments WHERE event_id = $1 AND status IN ('succeeded', 'refunded')),
		    (SELECT count(*) FROM payments p WHERE p.event_id = $1 AND p.status = 'refunded'),
		    (SELECT count(*) FROM payments p WHERE p.event_id = $1 AND p.status = 'refunded'
		         AND EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id AND b.status = 'CONFIRMED'))`
	var paid, refunded, refundedBooked, unsettled int
	if err := db.QueryRow(ctx, q, eventID).Scan(&paid, &refunded, &refundedBooked); err != nil {
		return c, err
	}
	if err := db.QueryRow(ctx, unsettledQ, eventID).Scan(&unsettled); err != nil {
		return c, err
	}
	c.OK = unsettled == 0 && refundedBooked == 0
	c.Detail = fmt.Sprintf("%d payments succeeded: %d booked, %d refunded; %d neither booked nor refunded; %d refunded but still booked",
		paid, paid-refunded-unsettled, refunded, unsettled, refundedBooked)
	return c, nil
}

func withinLimit(ctx context.Context, db Querier, eventID string) (Check, error) {
	c := Check{Name: "fan_limit"}
	const q = `
		WITH owned AS (
		    SELECT h.user_id, count(*) AS n FROM holds h JOIN hold_tickets ht ON ht.hold_id = h.id AND ht.active
		    WHERE h.event_id = $1 AND h.status = 'ACTIVE' GROUP BY h.user_id
		    UNION ALL
		    SELECT b.user_id, count(*) FROM bookings b JOIN booking_tickets bt ON bt.booking_id = b.id AND bt.active
		    WHERE b.event_id = $1 AND b.status = 'CONFIRMED' GROUP BY b.user_id)
		SELECT e.max_tickets_per_user,
		    (SELECT count(*) FROM (SELECT user_id FROM owned GROUP BY user_id HAVING sum(n) > e.max_tickets_per_user) o),
		    (SELECT coalesce(max(s), 0) FROM (SELECT sum(n) AS s FROM owned GROUP BY user_id) m)
		FROM events e WHERE e.id = $1`
	var limit, over, most int
	if err := db.QueryRow(ctx, q, eventID).Scan(&limit, &over, &most); err != nil {
		return c, err
	}
	c.OK = over == 0
	c.Detail = fmt.Sprintf("%d fans over the limit of %d; the most any fan holds and owns is %d", over, limit, most)
	return c, nil
}
