package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// holdRow writes a hold and takes its tickets, in plain SQL so the test does not
// lean on the booking flow it is meant to mirror.
func holdRow(t *testing.T, pool *pgxpool.Pool, eventID, zoneID, userID, status string, numbers ...int) string {
	t.Helper()
	ctx := context.Background()
	id := store.NewID("hld")
	_, err := pool.Exec(ctx, `
		INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, status, expires_at)
		VALUES ($1, $2, $3, $4, 0, $5, now() + interval '10 minutes')`, id, eventID, zoneID, userID, status)
	require.NoError(t, err)
	active := status == "ACTIVE"
	if active {
		_, err = pool.Exec(ctx, `
			UPDATE tickets SET status = 'RESERVED', hold_id = $4
			WHERE event_id = $1 AND zone_id = $2 AND number = ANY($3)`, eventID, zoneID, numbers, id)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO hold_tickets (hold_id, ticket_id, active)
		SELECT $1, id, $5 FROM tickets WHERE event_id = $2 AND zone_id = $3 AND number = ANY($4)`,
		id, eventID, zoneID, numbers, active)
	require.NoError(t, err)
	return id
}

// bookingRow books tickets for a fan: a paid payment, its booking and the
// hold it bought.
func bookingRow(t *testing.T, pool *pgxpool.Pool, eventID, zoneID, userID, status string, numbers ...int) string {
	t.Helper()
	ctx := context.Background()
	id := store.NewID("bkg")
	_, err := pool.Exec(ctx, `
		INSERT INTO payments (id, event_id, user_id, provider, amount_cents, currency, status)
		VALUES ($1, $2, $3, 'test', 0, 'usd', 'succeeded')`, id, eventID, userID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents, status)
		VALUES ($1, $2, $3, $1, 0, $4)`, id, eventID, userID, status)
	require.NoError(t, err)
	holdStatus := map[string]string{"CONFIRMED": "BOOKED", "CANCELLED": "CANCELLED"}[status]
	_, err = pool.Exec(ctx, `
		INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, status, booking_id, expires_at)
		VALUES ($1, $2, $3, $4, 0, $5, $1, now() + interval '10 minutes')`, id, eventID, zoneID, userID, holdStatus)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO payment_holds (payment_id, hold_id, position) VALUES ($1, $1, 0)`, id)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO booking_tickets (booking_id, ticket_id, active)
		SELECT $1, id, $5 FROM tickets WHERE event_id = $2 AND zone_id = $3 AND number = ANY($4)`,
		id, eventID, zoneID, numbers, status == "CONFIRMED")
	require.NoError(t, err)
	if status == "CONFIRMED" {
		_, err = pool.Exec(ctx, `
			UPDATE tickets SET status = 'BOOKED', booking_id = $4
			WHERE event_id = $1 AND zone_id = $2 AND number = ANY($3)`, eventID, zoneID, numbers, id)
		require.NoError(t, err)
	}
	return id
}

func TestInventorySnapshot(t *testing.T) {
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ctx := context.Background()
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 6, store.Row{Row: "1", Seats: 3}, store.Row{Row: "2", Seats: 3})
	ann, bob, cyd := storetest.Fan(t, db), storetest.Fan(t, db), storetest.Fan(t, db)

	annHold := holdRow(t, pool, ev.ID, "VIP", ann.ID, "ACTIVE", 1, 2)     // 1A, 1B
	bobHold := holdRow(t, pool, ev.ID, "GA", bob.ID, "ACTIVE", 1, 2)      // two pool tickets
	holdRow(t, pool, ev.ID, "VIP", cyd.ID, "RELEASED", 3)                 // ended: not counted
	bookingRow(t, pool, ev.ID, "VIP", cyd.ID, "CONFIRMED", 6)             // 2C
	cancelled := bookingRow(t, pool, ev.ID, "GA", cyd.ID, "CANCELLED", 3) // not counted
	before := time.Now()

	snap, err := db.InventorySnapshot(ctx, ev.ID)
	require.NoError(t, err)
	require.Equal(t, ev.ID, snap.EventID)
	require.False(t, snap.TakenAt.Before(before))
	ticket := func(seat string, status inventory.TicketStatus) inventory.SnapshotTicket {
		return inventory.SnapshotTicket{SeatID: seat, Status: status}
	}
	require.Equal(t, []inventory.SnapshotZone{
		{ID: "GA", Kind: inventory.Pool, Tickets: []inventory.SnapshotTicket{
			ticket("", inventory.Reserved), ticket("", inventory.Reserved), ticket("", inventory.Available),
			ticket("", inventory.Available), ticket("", inventory.Available), ticket("", inventory.Available)}},
		{ID: "VIP", Kind: inventory.Seated,
			Rows: []inventory.SnapshotRow{{Row: "1", Offset: 0, Len: 3}, {Row: "2", Offset: 3, Len: 3}},
			Tickets: []inventory.SnapshotTicket{
				ticket("1A", inventory.Reserved), ticket("1B", inventory.Reserved), ticket("1C", inventory.Available),
				ticket("2A", inventory.Available), ticket("2B", inventory.Available), ticket("2C", inventory.Booked)}},
	}, snap.Zones)
	require.ElementsMatch(t, []inventory.SnapshotHold{
		{ID: annHold, ZoneID: "VIP", UserID: ann.ID, Seats: []string{"1A", "1B"}},
		{ID: bobHold, ZoneID: "GA", UserID: bob.ID, Quantity: 2},
	}, snap.Holds)
	require.Equal(t, map[string]int{ann.ID: 2, bob.ID: 2, cyd.ID: 1}, snap.Users)
	require.Equal(t, []inventory.CancelledBooking{{BookingID: cancelled, ZoneID: "GA"}}, snap.Cancelled)

	_, err = db.InventorySnapshot(ctx, "no-such-event")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// Redis rebuilt from the snapshot says what the database says.
func TestInventorySnapshotRebuildsRedis(t *testing.T) {
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ctx := context.Background()
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 50, store.Row{Row: "1", Seats: 10}, store.Row{Row: "2", Seats: 8})
	ann, bob := storetest.Fan(t, db), storetest.Fan(t, db)
	holdRow(t, pool, ev.ID, "VIP", ann.ID, "ACTIVE", 4, 5)
	holdRow(t, pool, ev.ID, "GA", ann.ID, "ACTIVE", 10, 11, 12)
	bookingRow(t, pool, ev.ID, "VIP", bob.ID, "CONFIRMED", 11, 12)
	bookingRow(t, pool, ev.ID, "GA", bob.ID, "CONFIRMED", 1)

	rdb := storetest.Redis(t)
	storetest.CleanRedis(t, rdb, ev.ID)
	inv := inventory.New(rdb, time.Now, queue.ActiveKey)
	snap, err := db.InventorySnapshot(ctx, ev.ID)
	require.NoError(t, err)
	require.NoError(t, inv.Rebuild(ctx, snap))

	e, err := db.Event(ctx, ev.ID)
	require.NoError(t, err)
	counts, err := inv.Counts(ctx, ev.ID)
	require.NoError(t, err)
	require.Len(t, counts, len(e.Zones))
	for i, z := range e.Zones {
		require.Equal(t, inventory.ZoneCounts{ZoneID: z.ID, Available: z.AvailableTickets, Held: z.ReservedTickets, Booked: z.BookedTickets}, counts[i])
	}
	seats, err := db.Seats(ctx, ev.ID, "VIP")
	require.NoError(t, err)
	live, err := inv.Seats(ctx, ev.ID, "VIP")
	require.NoError(t, err)
	require.Len(t, live, len(seats))
	for _, s := range seats {
		require.Equal(t, s.Status, live[s.ID], s.ID)
	}
	drift, err := inv.Drift(ctx, snap)
	require.NoError(t, err)
	require.Empty(t, drift)

	// Best available follows the database's rows: row 1 has 1A-1C and 1F-1J free.
	require.NoError(t, rdb.ZAdd(ctx, queue.ActiveKey(ev.ID), redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: bob.ID}).Err())
	h, err := inv.HoldBest(ctx, inventory.HoldRequest{EventID: ev.ID, ZoneID: "VIP", UserID: bob.ID, HoldID: store.NewID("hld"), Quantity: 3, MaxPerUser: ev.MaxTicketsPerUser})
	require.NoError(t, err)
	require.Equal(t, []string{"1A", "1B", "1C"}, h.Seats)
	// bob has 3 booked: one more would pass the limit of 6.
	_, err = inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: ev.ID, ZoneID: "GA", UserID: bob.ID, HoldID: store.NewID("hld"), Quantity: 1, MaxPerUser: ev.MaxTicketsPerUser})
	require.ErrorIs(t, err, inventory.ErrLimitReached)
}
