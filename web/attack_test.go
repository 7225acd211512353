package web_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// attackEvent is an open event with a GA pool of 100 and 40 VIP seats, short
// sessions and no payment grace, so that holds expire during the test. A
// session is long enough for a fan to reserve, pay and book on a loaded
// machine (the race detector, the browser tests beside): with 4 s, nobody
// booked there.
func attackEvent(t *testing.T, e *env) *store.Event {
	t.Helper()
	ctx := context.Background()
	org := storetest.Organizer(t, e.db)
	ev := storetest.Event(t, e.db, org.ID, 100, store.Row{Row: "1", Seats: 10}, store.Row{Row: "2", Seats: 10},
		store.Row{Row: "3", Seats: 10}, store.Row{Row: "4", Seats: 10})
	maxActive, hold, grace := 1000, 12, 0
	ev, err := e.db.UpdateEvent(ctx, ev.ID, store.Settings{MaxActiveShoppers: &maxActive, HoldSeconds: &hold, PaymentGraceSeconds: &grace})
	require.NoError(t, err)
	storetest.CleanRedis(t, e.rdb, ev.ID)
	return ev
}

// fanRun is one fan's whole visit through one instance: join, get in, reserve
// something random and then pay and book, cancel, book and cancel the booking,
// or walk away and let the hold expire.
func fanRun(e *env, token, eventID string, rng *rand.Rand) {
	path := "/api/v1/events/" + eventID + "/queue"
	if e.call(http.MethodPost, path, token, nil).Status != http.StatusOK {
		return
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := e.call(http.MethodGet, path, token, nil)
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			return
		}
		if r.JSON(e.t)["status"] == "admitted" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var body map[string]any
	if rng.IntN(2) == 0 {
		seats := []string{}
		for range 1 + rng.IntN(3) {
			seats = append(seats, fmt.Sprintf("%d%c", 1+rng.IntN(4), 'A'+rng.IntN(10)))
		}
		body = map[string]any{"event_id": eventID, "zone_id": "VIP", "seats": seats}
	} else {
		body = map[string]any{"event_id": eventID, "zone_id": "GA", "quantity": 1 + rng.IntN(3)}
	}
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", token, body)
	if r.Status != http.StatusCreated {
		return
	}
	hold := r.JSON(e.t)["reservation"].(map[string]any)["id"]
	switch choice := rng.IntN(10); {
	case choice < 2: // walks away: the hold expires
		return
	case choice < 3:
		e.call(http.MethodPost, "/api/v1/tickets/cancel", token, map[string]any{"reservation_id": hold})
		return
	default:
		r = e.call(http.MethodPost, "/api/v1/payments", token, map[string]any{"reservation_id": hold})
		if r.Status != http.StatusCreated {
			return
		}
		pay := r.JSON(e.t)["payment"].(map[string]any)["id"].(string)
		e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", token, map[string]any{"card_number": "4242424242424242"})
		r = e.call(http.MethodPost, "/api/v1/tickets/book", token, map[string]any{"reservation_id": hold, "payment_id": pay})
		if r.Status == http.StatusOK && choice == 9 {
			b := r.JSON(e.t)["booking"].(map[string]any)["id"]
			e.call(http.MethodPost, "/api/v1/tickets/cancel", token, map[string]any{"booking_id": b})
		}
	}
}

// saleParts runs a replica's loops at a sale's pace, a little faster than
// serve's defaults so that tests end sooner.
var saleParts = envParts{every: app.Intervals{Admission: 50 * time.Millisecond, Expiry: 100 * time.Millisecond,
	Settle: 200 * time.Millisecond, Repair: 200 * time.Millisecond, Reap: 500 * time.Millisecond,
	Drift: 500 * time.Millisecond, Presence: time.Second}}

// attack runs 500 fans through two instances at once, with both instances'
// loops running; mid, if set, runs halfway through.
func attack(t *testing.T, mid func(one, two *env, ev *store.Event)) (*env, *store.Event) {
	one, two := newEnvWith(t, saleParts), newEnvWith(t, saleParts)
	ev := attackEvent(t, one)
	ctx := context.Background()
	one.listing.add(ev.ID)
	two.listing.add(ev.ID)
	const fans = 500
	tokens := make([]string, fans)
	for i := range tokens {
		tokens[i], _ = one.fan()
	}
	var wg sync.WaitGroup
	for i, token := range tokens {
		e := []*env{one, two}[i%2]
		rng := rand.New(rand.NewPCG(uint64(i), 42))
		wg.Go(func() { fanRun(e, token, ev.ID, rng) })
	}
	if mid != nil {
		// Mid-sale: once some bookings exist and while fans are still buying.
		require.Eventually(t, func() bool {
			var n int
			require.NoError(t, one.db.Pool().QueryRow(ctx, `SELECT count(*) FROM bookings WHERE event_id = $1`, ev.ID).Scan(&n))
			return n >= 10
		}, 90*time.Second, 20*time.Millisecond) // generous: a loaded machine books slowly
		mid(one, two, ev)
	}
	wg.Wait()
	// Every hold not booked or cancelled must expire on its own: no traffic
	// needed. Then Redis must agree with PostgreSQL, repaired by the drift check
	// if it had to be.
	require.Eventually(t, func() bool {
		var active int
		require.NoError(t, one.db.Pool().QueryRow(ctx, `SELECT count(*) FROM holds WHERE event_id = $1 AND status = 'ACTIVE'`, ev.ID).Scan(&active))
		if active > 0 {
			return false
		}
		snap, err := one.db.InventorySnapshot(ctx, ev.ID)
		require.NoError(t, err)
		diffs, err := one.inv.Drift(ctx, snap)
		return err == nil && len(diffs) == 0
	}, 45*time.Second, 100*time.Millisecond, "holds left active, or Redis disagrees")
	return one, ev
}

// checkInvariants verifies, in the database, that no ticket was sold twice,
// that every zone adds up, and that Redis agrees with PostgreSQL.
func checkInvariants(t *testing.T, e *env, ev *store.Event) {
	t.Helper()
	ctx := context.Background()
	var doubles int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT bt.ticket_id FROM booking_tickets bt JOIN tickets t ON t.id = bt.ticket_id
			WHERE t.event_id = $1 AND bt.active GROUP BY bt.ticket_id HAVING count(*) > 1) d`, ev.ID).Scan(&doubles))
	require.Zero(t, doubles, "a ticket is in two active bookings")
	var mismatched int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM tickets t
		WHERE t.event_id = $1 AND (
			(t.status = 'BOOKED') <> EXISTS (SELECT 1 FROM booking_tickets bt JOIN bookings b ON b.id = bt.booking_id
				WHERE bt.ticket_id = t.id AND bt.active AND b.status = 'CONFIRMED' AND b.id = t.booking_id)
			OR t.status = 'RESERVED')`, ev.ID).Scan(&mismatched))
	require.Zero(t, mismatched, "a ticket's status disagrees with its bookings, or is still held")

	fresh, err := e.db.Event(ctx, ev.ID)
	require.NoError(t, err)
	redisCounts, err := e.inv.Counts(ctx, ev.ID)
	require.NoError(t, err)
	byZone := map[string][3]int{}
	for _, z := range redisCounts {
		byZone[z.ZoneID] = [3]int{z.Available, z.Held, z.Booked}
	}
	sold := 0
	for _, z := range fresh.Zones {
		require.Equal(t, z.Capacity, z.AvailableTickets+z.ReservedTickets+z.BookedTickets, "zone %s adds up", z.ID)
		require.Equal(t, [3]int{z.AvailableTickets, z.ReservedTickets, z.BookedTickets}, byZone[z.ID], "Redis agrees on zone %s", z.ID)
		sold += z.BookedTickets
	}
	require.Positive(t, sold, "the attack sold something")
	t.Logf("sold %d of %d tickets", sold, fresh.Capacity)
	var confirmedTickets int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM booking_tickets bt JOIN bookings b ON b.id = bt.booking_id
		WHERE b.event_id = $1 AND b.status = 'CONFIRMED'`, ev.ID).Scan(&confirmedTickets))
	require.Equal(t, sold, confirmedTickets, "every booked ticket belongs to exactly one confirmed booking")
}

// 500 fans on two instances reserve overlapping seats and pool tickets, pay,
// book, cancel and walk away; afterwards the database shows no double booking,
// every zone adds up, Redis agrees, and everything not sold is on sale again.
func TestInvariantsUnderAttack(t *testing.T) {
	one, ev := attack(t, nil)
	checkInvariants(t, one, ev)
}

// Losing the event's Redis keys halfway through loses no booking and sells
// nothing twice; the inventory is rebuilt from PostgreSQL and agrees with it.
func TestRedisLossMidSale(t *testing.T) {
	var before []string
	one, ev := attack(t, func(one, _ *env, ev *store.Event) {
		ctx := context.Background()
		rows, err := one.db.Pool().Query(ctx, `SELECT id FROM bookings WHERE event_id = $1 AND status = 'CONFIRMED'`, ev.ID)
		require.NoError(t, err)
		before, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		storetest.CleanRedis(t, one.rdb, ev.ID)
	})
	ctx := context.Background()
	for _, id := range before {
		// Only its fan ends a booking, and a fan's cancellation owes the
		// payment back in the same transaction. (Not a time: a cancellation
		// running when the bookings were read stamps its start.)
		var (
			status     string
			cancelled  bool
			refundOwed bool
		)
		require.NoError(t, one.db.Pool().QueryRow(ctx, `
			SELECT b.status, b.cancelled_at IS NOT NULL, p.refund_due OR p.status = 'refunded'
			FROM bookings b JOIN payments p ON p.id = b.payment_id WHERE b.id = $1`, id).Scan(&status, &cancelled, &refundOwed))
		if status != store.BookingConfirmed {
			require.True(t, status == store.BookingCancelled && cancelled && refundOwed,
				"booking %s was lost, not cancelled by its fan: %s", id, status)
		}
	}
	t.Logf("%d bookings before the flush, all kept", len(before))
	checkInvariants(t, one, ev)
}
