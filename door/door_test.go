package door_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/door"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// book sells every ticket of the event's GA pool that is on sale to a new fan,
// through the store's own booking transaction.
func book(t *testing.T, db *store.DB, eventID string) *store.Booking {
	t.Helper()
	ctx := context.Background()
	pool := storetest.Pool(t)
	fan := storetest.Fan(t, db)
	hold, pay := store.NewID("hld"), store.NewID("pay")
	_, err := pool.Exec(ctx, `
		INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, expires_at)
		VALUES ($1, $2, 'GA', $3, 5000, now() + interval '10 minutes')`, hold, eventID, fan.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE tickets SET status = 'RESERVED', hold_id = $1 WHERE event_id = $2 AND status = 'AVAILABLE'`, hold, eventID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) SELECT $1, id FROM tickets WHERE hold_id = $1`, hold)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO payments (id, event_id, user_id, provider, amount_cents, currency, status)
		VALUES ($1, $2, $3, 'test', 5000, 'usd', 'succeeded')`, pay, eventID, fan.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO payment_holds (payment_id, hold_id, position) VALUES ($1, $2, 0)`, pay, hold)
	require.NoError(t, err)
	st, err := db.Book(ctx, pay, "", time.Now())
	require.NoError(t, err)
	return st.Booking
}

func newDoor(t *testing.T) (*door.Door, *door.Codes, *store.DB, *store.User) {
	t.Helper()
	db := storetest.DB(t)
	codes := door.NewCodes(secret)
	return door.New(codes, db, time.Now), codes, db, storetest.Organizer(t, db)
}

func TestCheckInOnceThenAlreadyCheckedIn(t *testing.T) {
	t.Parallel()
	d, codes, db, org := newDoor(t)
	ev := storetest.Event(t, db, org.ID, 2)
	b := book(t, db, ev.ID)
	tk := b.Tickets[0]
	code := codes.Code(ev.ID, b.ID, tk.ID)

	first, err := d.CheckIn(t.Context(), ev.ID, code, org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Valid, first.Result)
	require.Equal(t, "GA", first.Ticket.ZoneID)
	require.Equal(t, "Fan", first.Ticket.Holder)
	require.Equal(t, b.ID, first.Ticket.BookingID)

	again, err := d.CheckIn(t.Context(), ev.ID, code, org.ID)
	require.NoError(t, err)
	require.Equal(t, door.AlreadyCheckedIn, again.Result)
	require.True(t, first.Ticket.CheckedInAt.Equal(again.Ticket.CheckedInAt), "the time of the first scan")

	other, err := d.CheckIn(t.Context(), ev.ID, codes.Code(ev.ID, b.ID, b.Tickets[1].ID), org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Valid, other.Result, "each ticket of a booking is let in on its own")

	got, err := db.Booking(t.Context(), b.ID)
	require.NoError(t, err)
	require.NotNil(t, got.Tickets[0].CheckedInAt)
	require.True(t, got.Tickets[0].CheckedInAt.Equal(first.Ticket.CheckedInAt))
}

// Changing any one character of a genuine code makes it invalid, wherever it is.
func TestAlteredCodeIsInvalid(t *testing.T) {
	t.Parallel()
	d, codes, db, org := newDoor(t)
	ev := storetest.Event(t, db, org.ID, 1)
	b := book(t, db, ev.ID)
	code := codes.Code(ev.ID, b.ID, b.Tickets[0].ID)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567-0189"
	for i := range code {
		for _, r := range []byte{alphabet[(indexOf(alphabet, code[i])+1)%len(alphabet)], alphabet[(indexOf(alphabet, code[i])+7)%len(alphabet)]} {
			altered := code[:i] + string(r) + code[i+1:]
			scan, err := d.CheckIn(t.Context(), ev.ID, altered, org.ID)
			require.NoError(t, err)
			require.Equal(t, door.Scan{Result: door.Invalid, Reason: door.Unknown}, scan, altered)
		}
	}
	scan, err := d.CheckIn(t.Context(), ev.ID, code, org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Valid, scan.Result, "no altered code checked the ticket in")
}

func indexOf(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return 0
}

func TestCodeOfAnotherEventIsInvalid(t *testing.T) {
	t.Parallel()
	d, codes, db, org := newDoor(t)
	ev, other := storetest.Event(t, db, org.ID, 1), storetest.Event(t, db, org.ID, 1)
	b := book(t, db, other.ID)
	scan, err := d.CheckIn(t.Context(), ev.ID, codes.Code(other.ID, b.ID, b.Tickets[0].ID), org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Scan{Result: door.Invalid, Reason: door.OtherEvent}, scan)
	// Re-signed for this event by someone without the booking: still unknown.
	scan, err = d.CheckIn(t.Context(), ev.ID, codes.Code(ev.ID, b.ID, b.Tickets[0].ID), org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Scan{Result: door.Invalid, Reason: door.Unknown}, scan)
}

// A cancelled booking's code lets nobody in, even once its ticket is sold
// again: the new buyer's code does.
func TestCancelledBookingsCodeIsInvalidAfterResale(t *testing.T) {
	t.Parallel()
	d, codes, db, org := newDoor(t)
	ev := storetest.Event(t, db, org.ID, 1)
	first := book(t, db, ev.ID)
	old := codes.Code(ev.ID, first.ID, first.Tickets[0].ID)
	_, err := db.CancelBooking(t.Context(), first.ID)
	require.NoError(t, err)
	scan, err := d.CheckIn(t.Context(), ev.ID, old, org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Scan{Result: door.Invalid, Reason: door.Cancelled}, scan)

	second := book(t, db, ev.ID)
	require.Equal(t, first.Tickets[0].ID, second.Tickets[0].ID, "the same ticket row, sold again")
	scan, err = d.CheckIn(t.Context(), ev.ID, old, org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Cancelled, scan.Reason)
	scan, err = d.CheckIn(t.Context(), ev.ID, codes.Code(ev.ID, second.ID, second.Tickets[0].ID), org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Valid, scan.Result)
}

func TestCheckedInBookingCannotBeCancelled(t *testing.T) {
	t.Parallel()
	d, codes, db, org := newDoor(t)
	ev := storetest.Event(t, db, org.ID, 2)
	b := book(t, db, ev.ID)
	scan, err := d.CheckIn(t.Context(), ev.ID, codes.Code(ev.ID, b.ID, b.Tickets[1].ID), org.ID)
	require.NoError(t, err)
	require.Equal(t, door.Valid, scan.Result)
	_, err = db.CancelBooking(t.Context(), b.ID)
	require.ErrorIs(t, err, store.ErrCheckedIn)
	got, err := db.Booking(t.Context(), b.ID)
	require.NoError(t, err)
	require.Equal(t, store.BookingConfirmed, got.Status)
}

// Fifty doors scan the same code at once: exactly one lets the fan in, the
// others see the time of that one scan, and the database holds one check-in.
func TestSameCodeAtFiftyDoorsAtOnce(t *testing.T) {
	_, codes, db, org := newDoor(t)
	ev := storetest.Event(t, db, org.ID, 1)
	b := book(t, db, ev.ID)
	code := codes.Code(ev.ID, b.ID, b.Tickets[0].ID)

	const doors = 50
	// A connection per door, so that all fifty are in PostgreSQL at once.
	cfg, err := pgxpool.ParseConfig(storetest.URL(t))
	require.NoError(t, err)
	cfg.MaxConns, cfg.MinConns = doors, doors
	wide, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(wide.Close)
	d := door.New(codes, store.New(wide), time.Now)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		scans = make([]door.Scan, doors)
		errs  = make([]error, doors)
	)
	for i := range doors {
		wg.Go(func() {
			<-start
			scans[i], errs[i] = d.CheckIn(context.Background(), ev.ID, code, org.ID)
		})
	}
	close(start)
	wg.Wait()
	valid, already := 0, 0
	var at time.Time
	for i, s := range scans {
		require.NoError(t, errs[i])
		switch s.Result {
		case door.Valid:
			valid++
			at = s.Ticket.CheckedInAt
		case door.AlreadyCheckedIn:
			already++
		}
	}
	require.Equal(t, 1, valid)
	require.Equal(t, doors-1, already)
	for _, s := range scans {
		require.True(t, s.Ticket.CheckedInAt.Equal(at), "every door names the first scan's time")
	}
	var checkins int
	var stored time.Time
	require.NoError(t, storetest.Pool(t).QueryRow(t.Context(), `
		SELECT count(*), max(checked_in_at) FROM booking_tickets WHERE ticket_id = $1 AND checked_in_at IS NOT NULL`,
		b.Tickets[0].ID).Scan(&checkins, &stored))
	require.Equal(t, 1, checkins)
	require.True(t, stored.Equal(at))
}

// A cancellation and a check-in of the same booking at once: never both.
func TestCancelAndCheckInRace(t *testing.T) {
	d, codes, db, org := newDoor(t)
	for range 10 {
		ev := storetest.Event(t, db, org.ID, 1)
		b := book(t, db, ev.ID)
		code := codes.Code(ev.ID, b.ID, b.Tickets[0].ID)
		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			scan      door.Scan
			scanErr   error
			cancelErr error
		)
		wg.Go(func() {
			<-start
			scan, scanErr = d.CheckIn(context.Background(), ev.ID, code, org.ID)
		})
		wg.Go(func() {
			<-start
			_, cancelErr = db.CancelBooking(context.Background(), b.ID)
		})
		close(start)
		wg.Wait()
		require.NoError(t, scanErr)
		if cancelErr == nil {
			require.Equal(t, door.Scan{Result: door.Invalid, Reason: door.Cancelled}, scan)
		} else {
			require.ErrorIs(t, cancelErr, store.ErrCheckedIn)
			require.Equal(t, door.Valid, scan.Result)
		}
	}
}
