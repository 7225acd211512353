package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
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

// pay makes a payment for the holds and records the provider's word.
func pay(t *testing.T, db *store.DB, ev *store.Event, user, status string, holds ...*store.Hold) *payments.Payment {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, len(holds))
	var total int64
	for i, h := range holds {
		ids[i], total = h.ID, total+h.AmountCents
	}
	p := payments.NewPayment(store.NewID("pay"), ev.ID, user, "test", ids, total, "usd", time.Now())
	p.ProviderRef = p.ID
	require.NoError(t, db.CreatePayment(ctx, p, time.Now()))
	p, err := db.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error { p.Record(status, time.Now()); return nil })
	require.NoError(t, err)
	return p
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
	ga, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)

	_, err = db.CreateHold(ctx, newHold(ev, fan.ID, []string{"1B", "1C"}, 0))
	require.ErrorIs(t, err, store.ErrTicketsTaken)
	seats, err := db.Seats(ctx, ev.ID, "VIP")
	require.NoError(t, err)
	require.Equal(t, inventory.Available, seats[2].Status, "the failed hold took nothing")

	p := pay(t, db, ev, fan.ID, payments.StatusSucceeded, h, ga) // one payment, two holds
	require.Equal(t, int64(15000), p.AmountCents)
	st, err := db.Book(ctx, p.ID, "", time.Now())
	require.NoError(t, err)
	b := st.Booking
	require.True(t, st.New)
	require.Equal(t, store.BookingConfirmed, b.Status)
	require.Len(t, b.Tickets, 3)
	require.ElementsMatch(t, []string{h.ID, ga.ID}, b.HoldIDs)
	require.Equal(t, b.ID, st.Payment.BookingID)
	again, err := db.Book(ctx, p.ID, "", time.Now())
	require.NoError(t, err)
	require.Equal(t, b.ID, again.Booking.ID, "booking is idempotent on the payment")
	require.False(t, again.New)

	_, _, err = db.EndHold(ctx, h.ID, store.HoldReleased)
	require.ErrorIs(t, err, store.ErrHoldNotActive)

	_, err = db.CancelBooking(ctx, b.ID)
	require.NoError(t, err)
	_, err = db.CancelBooking(ctx, b.ID)
	require.ErrorIs(t, err, store.ErrBookingCancelled)
	e, err := db.Event(ctx, ev.ID)
	require.NoError(t, err)
	vip, _ := e.Zone("VIP")
	require.Equal(t, 4, vip.AvailableTickets, "cancelled tickets are on sale again")
	p, err = db.Payment(ctx, p.ID)
	require.NoError(t, err)
	require.True(t, p.RefundDue, "the cancellation owes the refund in its own transaction")
	h, err = db.Hold(ctx, h.ID)
	require.NoError(t, err)
	require.Equal(t, store.HoldCancelled, h.Status, "a cancelled booking's reservation says so")
}

// Pool holds from many goroutines never hand out more tickets than there are,
// and every ticket goes to at most one hold.
func TestPoolHoldsNeverOversell(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 30)
	fans := make([]string, 40)
	for i := range fans {
		fans[i] = storetest.Fan(t, db).ID
	}

	var (
		wg   sync.WaitGroup
		held atomic.Int64
	)
	for i := range 40 {
		wg.Go(func() {
			h, err := db.CreateHold(ctx, newHold(ev, fans[i], nil, 2))
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
	paid, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	pay(t, db, ev, fan.ID, payments.StatusPending, paying)
	pay(t, db, ev, fan.ID, payments.StatusSucceeded, paid) // not booked yet

	due, err := db.DueHolds(ctx, plain.ExpiresAt.Add(time.Second), 100_000)
	require.NoError(t, err)
	require.Contains(t, due, plain.ID)
	require.NotContains(t, due, paying.ID, "a payment in flight gets the grace")
	require.NotContains(t, due, paid.ID, "so does a success not yet booked")
	due, err = db.DueHolds(ctx, paying.ExpiresAt.Add(121*time.Second), 100_000)
	require.NoError(t, err)
	require.Contains(t, due, paying.ID)
	require.Contains(t, due, paid.ID)

	unpaid, err := db.UnpaidHoldsOfSession(ctx, ev.ID, fan.ID)
	require.NoError(t, err)
	require.Equal(t, []string{plain.ID}, unpaid)
}

// The database is the last word on the limit per fan, as on double booking:
// twenty holds of one ticket at once for a fan allowed four, four succeed.
func TestDatabaseEnforcesTheLimitPerFan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 50)
	four := 4
	_, err := db.UpdateEvent(ctx, ev.ID, store.Settings{MaxTicketsPerUser: &four})
	require.NoError(t, err)
	var (
		wg   sync.WaitGroup
		held atomic.Int64
	)
	for range 20 {
		wg.Go(func() {
			_, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
			if err == nil {
				held.Add(1)
				return
			}
			require.ErrorIs(t, err, store.ErrLimitReached)
		})
	}
	wg.Wait()
	require.Equal(t, int64(4), held.Load())

	// Booked tickets count too.
	holds, err := db.ActiveHoldsOfSession(ctx, ev.ID, fan.ID)
	require.NoError(t, err)
	h, err := db.Hold(ctx, holds[0])
	require.NoError(t, err)
	_, err = db.Book(ctx, pay(t, db, ev, fan.ID, payments.StatusSucceeded, h).ID, "", time.Now())
	require.NoError(t, err)
	_, err = db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.ErrorIs(t, err, store.ErrLimitReached)
}

// Booking refuses a hold past its end (plus the payment grace), in the same
// transaction that owes the payment back; within the grace it books.
func TestBookRefusesAHoldPastItsEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 5)
	late, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	inGrace, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	p := pay(t, db, ev, fan.ID, payments.StatusSucceeded, late)
	q := pay(t, db, ev, fan.ID, payments.StatusSucceeded, inGrace)

	st, err := db.Book(ctx, p.ID, "", late.ExpiresAt.Add(late.Grace))
	require.ErrorIs(t, err, store.ErrHoldNotActive)
	require.True(t, st.Payment.RefundDue, "the refund is owed in the same transaction")
	p, err = db.Payment(ctx, p.ID)
	require.NoError(t, err)
	require.True(t, p.RefundDue)
	_, err = db.Book(ctx, p.ID, "", time.Now())
	require.ErrorIs(t, err, payments.ErrSettled, "owed back: it buys nothing any more")

	st, err = db.Book(ctx, q.ID, "", inGrace.ExpiresAt.Add(inGrace.Grace-time.Second))
	require.NoError(t, err)
	require.Len(t, st.Booking.Tickets, 1)
}

// A hold has at most one live payment; once that one failed, another may start.
func TestOneLivePaymentPerHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 5)
	h, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
	require.NoError(t, err)
	first := pay(t, db, ev, fan.ID, payments.StatusPending, h)

	second := payments.NewPayment(store.NewID("pay"), ev.ID, fan.ID, "test", []string{h.ID}, h.AmountCents, "usd", time.Now())
	var live *store.LivePaymentError
	require.ErrorAs(t, db.CreatePayment(ctx, second, time.Now()), &live)
	require.Equal(t, first.ID, live.Payment.ID)

	_, err = db.UpdatePayment(ctx, first.ID, func(p *payments.Payment) error { p.Record(payments.StatusFailed, time.Now()); return nil })
	require.NoError(t, err)
	require.NoError(t, db.CreatePayment(ctx, second, time.Now()))
}

// Ending a hold owes back, in the same transaction, a payment that succeeded
// for it and bought nothing; a pending one is left to the settler.
func TestEndHoldOwesTheRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 5)
	h, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 2))
	require.NoError(t, err)
	p := pay(t, db, ev, fan.ID, payments.StatusSucceeded, h)
	_, refunds, err := db.EndHold(ctx, h.ID, store.HoldReleased)
	require.NoError(t, err)
	require.Equal(t, []string{p.ID}, refunds)
	p, err = db.Payment(ctx, p.ID)
	require.NoError(t, err)
	require.True(t, p.RefundDue)
	require.False(t, p.RefundNextAt.After(time.Now()), "due at once")
}

// Two replicas claiming due payments at once never get the same one.
func TestClaimsAreExclusive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	fan := storetest.Fan(t, db)
	ev := storetest.Event(t, db, org.ID, 30)
	var mine []string
	for range 10 {
		h, err := db.CreateHold(ctx, newHold(ev, fan.ID, nil, 1))
		if errors.Is(err, store.ErrLimitReached) {
			break
		}
		require.NoError(t, err)
		p := pay(t, db, ev, fan.ID, payments.StatusSucceeded, h)
		_, _, err = db.EndHold(ctx, h.ID, store.HoldReleased)
		require.NoError(t, err)
		mine = append(mine, p.ID)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[string]int{}
	)
	for range 8 {
		wg.Go(func() {
			ps, err := db.ClaimDueRefunds(ctx, "test", time.Now(), 3)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps {
				got[p.ID]++
			}
		})
	}
	wg.Wait()
	for _, id := range mine {
		require.LessOrEqual(t, got[id], 1, "claimed twice: %s", id)
	}
	for id, n := range got {
		if slices.Contains(mine, id) {
			require.Equal(t, 1, n)
		}
	}
}
