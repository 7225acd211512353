package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// bookingFixture makes an event with one pool ticket and n fans, each with a paid
// hold row, so the only thing left to race on is the ticket itself.
func bookingFixture(t *testing.T, db *store.DB, pool *pgxpool.Pool, n int) (ticketID int64, eventID string, fans []string) {
	t.Helper()
	ctx := context.Background()
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 1)
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM tickets WHERE event_id = $1`, ev.ID).Scan(&ticketID))
	for i := range n {
		fan := storetest.Fan(t, db)
		hold := fmt.Sprintf("%s-hold-%d", ev.ID, i)
		_, err := pool.Exec(ctx, `
			INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, expires_at)
			VALUES ($1, $2, 'GA', $3, 5000, now() + interval '10 minutes')`, hold, ev.ID, fan.ID)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `
			INSERT INTO payments (id, event_id, user_id, provider, amount_cents, currency, status)
			VALUES ($1, $2, $3, 'test', 5000, 'usd', 'succeeded')`, hold, ev.ID, fan.ID)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `INSERT INTO payment_holds (payment_id, hold_id, position) VALUES ($1, $1, 0)`, hold)
		require.NoError(t, err)
		fans = append(fans, fan.ID)
	}
	return ticketID, ev.ID, fans
}

// race runs attempt on n separate connections (so its tests do not run in
// parallel: PostgreSQL allows 100 connections in all) released at the same moment and
// counts the attempts that committed.
func race(t *testing.T, n int, attempt func(ctx context.Context, conn *pgx.Conn, i int) error) int {
	t.Helper()
	ctx := context.Background()
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		c, err := pgx.Connect(ctx, storetest.URL(t))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(context.Background()) })
		conns[i] = c
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		start = make(chan struct{})
	)
	for i, c := range conns {
		wg.Go(func() {
			<-start
			if attempt(ctx, c, i) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return wins
}

// The database alone refuses a second booking of a ticket: 50 connections run the
// booking transaction as plain SQL at once, and exactly one commits.
func TestDatabaseRefusesDoubleBookingUnderConcurrency(t *testing.T) {
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ticketID, eventID, fans := bookingFixture(t, db, pool, 50)

	wins := race(t, 50, func(ctx context.Context, conn *pgx.Conn, i int) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			booking := fmt.Sprintf("%s-booking-%d", eventID, i)
			hold := fmt.Sprintf("%s-hold-%d", eventID, i)
			if _, err := tx.Exec(ctx, `
				INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents)
				VALUES ($1, $2, $3, $4, 5000)`, booking, eventID, fans[i], hold); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO booking_tickets (booking_id, ticket_id) VALUES ($1, $2)`, booking, ticketID); err != nil {
				return err
			}
			// Unconditional on purpose: the unique index, not this statement, must stop the rest.
			_, err := tx.Exec(ctx, `UPDATE tickets SET status = 'BOOKED', booking_id = $1 WHERE id = $2`, booking, ticketID)
			return err
		})
	})
	require.Equal(t, 1, wins)

	var bookings, links int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM bookings WHERE event_id = $1`, eventID).Scan(&bookings))
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM booking_tickets WHERE ticket_id = $1 AND active`, ticketID).Scan(&links))
	require.Equal(t, 1, bookings)
	require.Equal(t, 1, links)
	var owner string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT t.booking_id FROM tickets t JOIN booking_tickets bt ON bt.ticket_id = t.id AND bt.booking_id = t.booking_id
		WHERE t.id = $1 AND t.status = 'BOOKED'`, ticketID).Scan(&owner))
}

// The conditional update that the application uses lets exactly one of 50 take
// an available ticket, even without the link table.
func TestConditionalUpdateSellsTicketOnce(t *testing.T) {
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ticketID, eventID, _ := bookingFixture(t, db, pool, 1)
	_, err := pool.Exec(context.Background(), `
		INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents)
		SELECT h.id || '-b', h.event_id, h.user_id, h.id, 5000 FROM holds h WHERE h.event_id = $1`, eventID)
	require.NoError(t, err)

	wins := race(t, 50, func(ctx context.Context, conn *pgx.Conn, i int) error {
		tag, err := conn.Exec(ctx, `
			UPDATE tickets SET status = 'BOOKED', booking_id = $1 || '-hold-0-b'
			WHERE id = $2 AND status = 'AVAILABLE'`, eventID, ticketID)
		if err == nil && tag.RowsAffected() != 1 {
			return pgx.ErrNoRows
		}
		return err
	})
	require.Equal(t, 1, wins)
}

// A second active hold on a ticket is refused by the database; once the first
// hold ends, the ticket can be held again.
func TestDatabaseRefusesSecondActiveHold(t *testing.T) {
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ticketID, eventID, _ := bookingFixture(t, db, pool, 50)

	wins := race(t, 50, func(ctx context.Context, conn *pgx.Conn, i int) error {
		_, err := conn.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) VALUES ($1, $2)`,
			fmt.Sprintf("%s-hold-%d", eventID, i), ticketID)
		return err
	})
	require.Equal(t, 1, wins)

	ctx := context.Background()
	_, err := pool.Exec(ctx, `UPDATE hold_tickets SET active = false WHERE ticket_id = $1`, ticketID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) VALUES ($1, $2)`, eventID+"-hold-49", ticketID)
	if err != nil { // hold 49 may have been the winner: then any other hold will do
		_, err = pool.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) VALUES ($1, $2)`, eventID+"-hold-0", ticketID)
		if err != nil {
			_, err = pool.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) VALUES ($1, $2)`, eventID+"-hold-1", ticketID)
		}
	}
	require.NoError(t, err)
}

// A ticket's status cannot disagree with its owner columns.
func TestTicketStatusMatchesOwner(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	pool := storetest.Pool(t)
	ticketID, _, _ := bookingFixture(t, db, pool, 0)
	for _, q := range []string{
		`UPDATE tickets SET status = 'BOOKED' WHERE id = $1`,
		`UPDATE tickets SET status = 'RESERVED' WHERE id = $1`,
		`UPDATE tickets SET status = 'SOLD' WHERE id = $1`,
	} {
		_, err := pool.Exec(context.Background(), q, ticketID)
		require.Error(t, err, q)
	}
}
