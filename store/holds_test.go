package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

func newHold(ev *store.Event, user string, seats []string, qty int) store.NewHold {
	zone := "GA"
	if len(seats) > 0 {
		zone = "VIP"
	}
	return store.NewHold{ID: store.NewID("hld"), EventID: ev.ID, ZoneID: zone, UserID: user,
		Seats: seats, Quantity: qty, ExpiresAt: time.Now().Add(10 * time.Minute)}
}

func TestHoldBookCancelLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 5, store.Row{Row: "1", Seats: 4})

	h, err := db.CreateHold(ctx, newHold(ev, fan.ID, []string{"1A", "1B"}, 0))
	require.NoError(t, err)
	require.Len(t, h.Tickets, 2)
	require.Equal(t, int64(10000), h.AmountCents)

	_, err = db.CreateHold(ctx, newHold(ev, fan.ID, []string{"1B", "1C"}, 0))
	require.ErrorIs(t, err, store.ErrTicketsTaken)
	seats, err := db.Seats(ctx, ev.ID, "VIP")
	require.NoError(t, err)
	require.Equal(t, "AVAILABLE", seats[2].Status, "the failed hold took nothing")

	p := &store.Payment{ID: store.NewID("pay"), HoldID: h.ID, UserID: fan.ID, Provider: "test", AmountCents: h.AmountCents, Currency: "usd", Status: store.PaymentSucceeded}
	require.NoError(t, db.CreatePayment(ctx, p))
	b, err := db.Book(ctx, h.ID, p.ID)
	require.NoError(t, err)
	require.Equal(t, store.BookingConfirmed, b.Status)
	again, err := db.Book(ctx, h.ID, p.ID)
	require.NoError(t, err)
	require.Equal(t, b.ID, again.ID, "booking is idempotent on the payment")

	_, err = db.EndHold(ctx, h.ID, store.HoldReleased)
	require.ErrorIs(t, err, store.ErrHoldNotActive)

	_, err = db.CancelBooking(ctx, b.ID)
	require.NoError(t, err)
	_, err = db.CancelBooking(ctx, b.ID)
	require.ErrorIs(t, err, store.ErrBookingCancelled)
	e, err := db.Event(ctx, ev.ID)
	require.NoError(t, err)
	vip, _ := e.Zone("VIP")
	require.Equal(t, 4, vip.AvailableTickets, "cancelled tickets are on sale again")
}

// Pool holds from many goroutines never hand out more tickets than there are,
// and every ticket goes to at most one hold.
func TestPoolHoldsNeverOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 30)

	var (
		wg   sync.WaitGroup
		held atomic.Int64
	)
	for range 40 {
		wg.Go(func() {
			h, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 2))
			if err == nil {
				held.Add(int64(len(h.Tickets)))
				return
			}
			require.ErrorIs(t, err, store.ErrTicketsTaken)
		})
	}
	wg.Wait()
	require.LessOrEqual(t, held.Load(), int64(30))
	var distinct, reserved int
	require.NoError(t, db.Pool().QueryRow(ctx, `
		SELECT count(DISTINCT ticket_id), (SELECT count(*) FROM tickets WHERE event_id = $1 AND status = 'RESERVED')
		FROM hold_tickets ht JOIN holds h ON h.id = ht.hold_id WHERE h.event_id = $1 AND ht.active`, ev.ID).Scan(&distinct, &reserved))
	require.Equal(t, int(held.Load()), distinct)
	require.Equal(t, distinct, reserved)
}

func TestDueHoldsRespectPaymentGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 5)
	plain, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	paying, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	require.NoError(t, db.CreatePayment(ctx, &store.Payment{ID: store.NewID("pay"), HoldID: paying.ID, UserID: fan.ID,
		Provider: "test", AmountCents: 1, Currency: "usd", Status: store.PaymentPending}))

	due, err := db.DueHolds(ctx, plain.ExpiresAt.Add(time.Second), 100_000)
	require.NoError(t, err)
	require.Contains(t, due, plain.ID)
	require.NotContains(t, due, paying.ID, "a payment in flight gets the grace")
	due, err = db.DueHolds(ctx, paying.ExpiresAt.Add(121*time.Second), 100_000)
	require.NoError(t, err)
	require.Contains(t, due, paying.ID)
}
