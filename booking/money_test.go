package booking_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// testClock is real time moved on by the test, shared by the service, the
// inventory and the store.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// faulty is the built-in test provider (its real ledger in PostgreSQL) under a
// name of its own, with an outage the test switches on and off.
type faulty struct {
	payments.Provider
	name string
	down atomic.Bool
}

func (f *faulty) Name() string { return f.name }

func (f *faulty) Refund(ctx context.Context, ref, key string) error {
	if f.down.Load() {
		return payments.ErrProviderBusy
	}
	return f.Provider.Refund(ctx, ref, key)
}

// shop is one event on sale with a service, its provider and a clock.
type shop struct {
	t     *testing.T
	db    *store.DB
	rdb   redis.UniversalClient
	svc   *booking.Service
	pay   *faulty
	clock *testClock
	ev    *store.Event
}

func newShop(t *testing.T) *shop {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	clock := &testClock{}
	db.Now = clock.now
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 10, store.Row{Row: "1", Seats: 6})
	storetest.CleanRedis(t, rdb, ev.ID)
	provider := &faulty{Provider: payments.NewTestProvider(db), name: store.NewID("test")}
	svc := booking.New(db, inventory.New(rdb, clock.now, queue.ActiveKey), provider, quiet{}, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.now)
	return &shop{t: t, db: db, rdb: rdb, svc: svc, pay: provider, clock: clock, ev: ev}
}

// fan is a new fan whose shopping session ends at until.
func (s *shop) fan(until time.Time) string {
	s.t.Helper()
	u := storetest.Fan(s.t, s.db).ID
	require.NoError(s.t, s.rdb.ZAdd(context.Background(), queue.ActiveKey(s.ev.ID),
		redis.Z{Score: float64(until.UnixMilli()), Member: u}).Err())
	return u
}

// hold reserves n GA tickets for the fan, for a session ending at until.
func (s *shop) hold(user string, n int, until time.Time) *store.Hold {
	s.t.Helper()
	h, err := s.svc.Reserve(context.Background(), booking.Request{Event: s.ev, ZoneID: "GA", UserID: user, Until: until, Quantity: n})
	require.NoError(s.t, err)
	return h
}

func (s *shop) startPayment(user string, holds ...*store.Hold) *payments.Payment {
	s.t.Helper()
	ids := make([]string, len(holds))
	for i, h := range holds {
		ids[i] = h.ID
	}
	co, err := s.svc.Pay(context.Background(), user, ids)
	require.NoError(s.t, err)
	return co.Payment
}

func (s *shop) payment(id string) *payments.Payment {
	s.t.Helper()
	p, err := s.db.Payment(context.Background(), id)
	require.NoError(s.t, err)
	return p
}

// charged is what the provider's own ledger says of a payment.
func (s *shop) charged(p *payments.Payment) string {
	s.t.Helper()
	status, err := s.pay.Status(context.Background(), p.ProviderRef)
	require.NoError(s.t, err)
	return status
}

func (s *shop) holdStatus(id string) string {
	s.t.Helper()
	h, err := s.db.Hold(context.Background(), id)
	require.NoError(s.t, err)
	return h.Status
}

// settle runs the settler once, as every replica does every second.
func (s *shop) settle() []booking.Settled {
	s.t.Helper()
	done, err := s.svc.SettleDue(context.Background(), 100)
	require.NoError(s.t, err)
	return done
}

// Finding 1: a refund that fails at cancellation is owed, not lost. The fan is
// answered, a second cancel is refused, the reconciliation lists the payment
// and the settler refunds it once the provider is back.
func TestFailedRefundAtCancellationIsRetried(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	until := s.clock.now().Add(10 * time.Minute)
	ann := s.fan(until)
	p := s.startPayment(ann, s.hold(ann, 2, until))
	p, err := s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
	require.NoError(t, err)
	require.NotEmpty(t, p.BookingID, "confirming books at once")

	s.pay.down.Store(true)
	b, err := s.svc.CancelBooking(ctx, p.BookingID, ann)
	require.NoError(t, err, "the fan's cancellation stands")
	require.Equal(t, store.BookingCancelled, b.Status)
	_, err = s.svc.CancelBooking(ctx, p.BookingID, ann)
	require.ErrorIs(t, err, store.ErrBookingCancelled)
	require.True(t, s.payment(p.ID).RefundDue)
	require.Equal(t, payments.StatusSucceeded, s.charged(p), "the provider still has the money")

	done, err := s.svc.Reconcile(ctx)
	require.NoError(t, err)
	require.Contains(t, done, booking.Settled{PaymentID: p.ID, ProviderRef: p.ProviderRef, Outcome: booking.OutcomeOwed})

	s.pay.down.Store(false)
	s.clock.advance(2 * time.Minute) // past any backoff (and any claim's lease)
	require.Contains(t, s.settle(), booking.Settled{PaymentID: p.ID, ProviderRef: p.ProviderRef, Outcome: booking.OutcomeRefunded})
	require.Equal(t, payments.StatusRefunded, s.charged(p))
	require.Equal(t, payments.StatusRefunded, s.payment(p.ID).Status)
}

// Finding 2: whatever the fan does after paying, and whichever replica dies,
// the money ends as tickets or goes back, by the server itself.
func TestEverySuccessEndsAsABookingOrARefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("paid after the hold was released", func(t *testing.T) {
		t.Parallel()
		s := newShop(t)
		until := s.clock.now().Add(10 * time.Minute)
		ann := s.fan(until)
		h := s.hold(ann, 1, until)
		p := s.startPayment(ann, h)
		_, err := s.svc.Release(ctx, h.ID, ann)
		require.NoError(t, err)
		p, err = s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
		require.NoError(t, err)
		require.Equal(t, payments.StatusRefunded, p.Status)
		require.Equal(t, payments.StatusRefunded, s.charged(p))
	})

	t.Run("a paid hold released before it was booked", func(t *testing.T) {
		t.Parallel()
		s := newShop(t)
		until := s.clock.now().Add(10 * time.Minute)
		ann := s.fan(until)
		h := s.hold(ann, 1, until)
		p := s.startPayment(ann, h)
		// The provider took the money; Boxoffice has not heard yet (a webhook on its way).
		_, err := s.pay.Confirm(ctx, p.ProviderRef, payments.CardSucceeds)
		require.NoError(t, err)
		_, err = s.svc.Release(ctx, h.ID, ann)
		require.NoError(t, err)
		s.clock.advance(2 * time.Minute) // the settler asks the provider about pending payments
		s.settle()
		require.Equal(t, payments.StatusRefunded, s.charged(p))
		require.Equal(t, store.HoldReleased, s.holdStatus(h.ID))
	})

	t.Run("the fan leaves the line with a paid hold", func(t *testing.T) {
		t.Parallel()
		s := newShop(t)
		until := s.clock.now().Add(10 * time.Minute)
		ann := s.fan(until)
		h := s.hold(ann, 1, until)
		p := s.startPayment(ann, h)
		_, err := s.db.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error { // the webhook, just before
			p.Record(payments.StatusSucceeded, s.clock.now())
			return nil
		})
		require.NoError(t, err)
		_, err = s.pay.Confirm(ctx, p.ProviderRef, payments.CardSucceeds)
		require.NoError(t, err)
		require.NoError(t, s.svc.EndSession(ctx, s.ev.ID, ann, true))
		require.Equal(t, store.HoldReleased, s.holdStatus(h.ID))
		require.Equal(t, payments.StatusRefunded, s.charged(p), "refunded as the fan left")
	})

	t.Run("the replica died before booking", func(t *testing.T) {
		t.Parallel()
		s := newShop(t)
		until := s.clock.now().Add(10 * time.Minute)
		ann := s.fan(until)
		h := s.hold(ann, 2, until)
		p := s.startPayment(ann, h)
		_, err := s.pay.Confirm(ctx, p.ProviderRef, payments.CardSucceeds)
		require.NoError(t, err)
		_, err = s.db.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error {
			p.Record(payments.StatusSucceeded, s.clock.now())
			return nil
		})
		require.NoError(t, err)
		// Nothing else happens: no book call, no webhook. Within a minute:
		s.clock.advance(6 * time.Second)
		require.Contains(t, s.settle(), booking.Settled{PaymentID: p.ID, ProviderRef: p.ProviderRef, Outcome: booking.OutcomeBooked})
		require.Equal(t, store.HoldBooked, s.holdStatus(h.ID))
	})

	t.Run("the session runs out after the payment succeeded", func(t *testing.T) {
		t.Parallel()
		s := newShop(t)
		until := s.clock.now().Add(time.Minute)
		ann := s.fan(until)
		h := s.hold(ann, 1, until)
		p := s.startPayment(ann, h)
		_, err := s.pay.Confirm(ctx, p.ProviderRef, payments.CardSucceeds)
		require.NoError(t, err)
		s.clock.advance(time.Minute + time.Second)
		require.NoError(t, s.svc.EndSession(ctx, s.ev.ID, ann, false))
		require.Equal(t, store.HoldActive, s.holdStatus(h.ID), "a payment in progress keeps its hold for the grace")
		s.clock.advance(time.Minute) // the settler learns of the success within the grace
		s.settle()
		require.Equal(t, store.HoldBooked, s.holdStatus(h.ID))
		require.Equal(t, payments.StatusSucceeded, s.charged(p))
	})
}

// Finding 3: a hold has one live payment. Asking again returns it; a second
// success anyway (a declined intent paid later in another tab, as Stripe
// allows) is refunded, and booking with it is a payment mismatch.
func TestTwoPaymentsForOneHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ph := newPaidHold(t)
	co, err := ph.svc.Pay(ctx, ph.user, []string{ph.hold.ID})
	require.NoError(t, err)
	require.False(t, co.Created)
	require.Equal(t, ph.pay.ID, co.Payment.ID, "asking again returns the payment in progress")

	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusFailed)) // declined
	co, err = ph.svc.Pay(ctx, ph.user, []string{ph.hold.ID})
	require.NoError(t, err)
	require.True(t, co.Created, "after a decline a new payment may start")
	second := co.Payment

	// Both succeed: the first intent with another card, then the second.
	ph.gw.set(ph.pay.ProviderRef, payments.StatusSucceeded)
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusSucceeded))
	ph.gw.set(second.ProviderRef, payments.StatusSucceeded)
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, second.ProviderRef, payments.StatusSucceeded))
	require.Equal(t, 1, ph.bookings(t))
	require.Equal(t, 1, ph.gw.refunded[second.ProviderRef], "the extra success is refunded")
	require.Zero(t, ph.gw.refunded[ph.pay.ProviderRef])

	_, err = ph.svc.Book(ctx, ph.hold.ID, second.ID, ph.user)
	require.ErrorIs(t, err, booking.ErrPaymentMismatch)
	b, err := ph.svc.Book(ctx, ph.hold.ID, ph.pay.ID, ph.user)
	require.NoError(t, err)
	require.Equal(t, ph.pay.ID, b.PaymentID)
	mine, err := ph.svc.MyPayments(ctx, ph.user)
	require.NoError(t, err)
	require.Len(t, mine, 2, "the fan sees both payments")
}

// Finding 5: a hold with a payment in progress outlives its session by the
// payment grace, and only then expires (EXPIRED); a hold without one expires
// with the session.
func TestPaymentGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	until := s.clock.now().Add(time.Minute)
	ann, bob := s.fan(until), s.fan(until)
	paying := s.hold(ann, 1, until)
	p := s.startPayment(ann, paying)
	idle := s.hold(ann, 1, until)
	late := s.hold(bob, 1, until)
	s.startPayment(bob, late)

	s.clock.advance(time.Minute)
	require.NoError(t, s.svc.EndSession(ctx, s.ev.ID, ann, false))
	require.NoError(t, s.svc.EndSession(ctx, s.ev.ID, bob, false))
	require.Equal(t, store.HoldExpired, s.holdStatus(idle.ID), "ran out: EXPIRED, not RELEASED")
	require.Equal(t, store.HoldActive, s.holdStatus(paying.ID))

	s.clock.advance(10 * time.Second) // paying 10 s into the grace works
	p, err := s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
	require.NoError(t, err)
	require.NotEmpty(t, p.BookingID)

	s.clock.advance(time.Duration(s.ev.PaymentGraceSeconds) * time.Second)
	_, err = s.svc.ExpireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, store.HoldExpired, s.holdStatus(late.ID), "after the grace it expires")
}

// Finding 6: booking refuses a hold past its end, whatever the expiry loop has
// done yet: the payment is refunded in the same transaction.
func TestBookingRefusesAHoldPastItsEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	until := s.clock.now().Add(time.Minute)
	ann := s.fan(until)
	h := s.hold(ann, 1, until)
	p := s.startPayment(ann, h)
	s.clock.advance(time.Minute + time.Duration(s.ev.PaymentGraceSeconds)*time.Second) // no expiry has run (a database outage, say)
	require.Equal(t, store.HoldActive, s.holdStatus(h.ID))
	p, err := s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
	require.NoError(t, err)
	require.Empty(t, p.BookingID)
	require.Equal(t, payments.StatusRefunded, p.Status)
	_, err = s.svc.Book(ctx, h.ID, p.ID, ann)
	require.ErrorIs(t, err, booking.ErrRefunded)

	other := s.hold(s.fan(s.clock.now().Add(time.Minute)), 1, s.clock.now().Add(time.Second))
	s.clock.advance(time.Second)
	_, err = s.svc.Pay(ctx, other.UserID, []string{other.ID})
	require.ErrorIs(t, err, booking.ErrHoldGone, "no payment starts for a hold whose time is up")
}

// Finding 8: a hold Redis decided whose replica died before the database
// write is freed within seconds, and holds the database has are left alone.
func TestPhantomHoldsAreFreed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	until := s.clock.now().Add(10 * time.Minute)
	ann := s.fan(until)
	kept := s.hold(ann, 2, until)
	inv := inventory.New(s.rdb, s.clock.now, queue.ActiveKey)
	_, err := inv.HoldQuantity(ctx, inventory.HoldRequest{EventID: s.ev.ID, ZoneID: "GA", UserID: ann, HoldID: "hld_phantom", Quantity: 3})
	require.NoError(t, err) // and the replica died here

	freed, err := s.svc.ReapPhantoms(ctx, s.ev.ID)
	require.NoError(t, err)
	require.Zero(t, freed, "too early: its write could still be running")
	s.clock.advance(11 * time.Second)
	freed, err = s.svc.ReapPhantoms(ctx, s.ev.ID)
	require.NoError(t, err)
	require.Equal(t, 1, freed)
	counts, err := inv.Counts(ctx, s.ev.ID)
	require.NoError(t, err)
	require.Equal(t, inventory.ZoneCounts{ZoneID: "GA", Available: 8, Held: 2}, counts[0])
	require.Equal(t, store.HoldActive, s.holdStatus(kept.ID))
	pending, err := inv.Unconfirmed(ctx, s.ev.ID, s.clock.now(), 10)
	require.NoError(t, err)
	require.Empty(t, pending, "the real hold is confirmed")
}

// Many replicas settle at once: each payment is refunded once, never twice.
func TestSettlersOnManyReplicasRefundOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	until := s.clock.now().Add(10 * time.Minute)
	var ps []*payments.Payment
	for range 5 {
		u := s.fan(until)
		h := s.hold(u, 1, until)
		p := s.startPayment(u, h)
		p, err := s.svc.Confirm(ctx, p.ID, u, payments.CardSucceeds)
		require.NoError(t, err)
		s.pay.down.Store(true)
		_, err = s.svc.CancelBooking(ctx, p.BookingID, u)
		require.NoError(t, err)
		s.pay.down.Store(false)
		ps = append(ps, p)
	}
	s.clock.advance(2 * time.Minute)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		refunded = map[string]int{}
	)
	for range 6 {
		wg.Go(func() {
			done, err := s.svc.SettleDue(ctx, 100)
			require.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			for _, d := range done {
				if d.Outcome == booking.OutcomeRefunded {
					refunded[d.PaymentID]++
				}
			}
		})
	}
	wg.Wait()
	for _, p := range ps {
		require.Equal(t, 1, refunded[p.ID], "payment %s", p.ID)
		require.Equal(t, payments.StatusRefunded, s.charged(p))
	}
}

// A declined card is an error naming the payment, which stays failed and can
// be paid with another card.
func TestDeclinedCardNamesThePayment(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	until := s.clock.now().Add(10 * time.Minute)
	ann := s.fan(until)
	p := s.startPayment(ann, s.hold(ann, 1, until))

	_, err := s.svc.Confirm(ctx, p.ID, ann, payments.CardDeclines)
	require.ErrorIs(t, err, payments.ErrDeclined)
	var declined *booking.DeclinedError
	require.ErrorAs(t, err, &declined)
	require.Equal(t, p.ID, declined.PaymentID)
	require.Equal(t, payments.StatusFailed, s.payment(p.ID).Status)

	p, err = s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
	require.NoError(t, err)
	require.NotEmpty(t, p.BookingID)
}

// A double click on "pay" sends two confirmations: whichever is answered
// second must carry the booking too, even when it finds the payment succeeded
// but not yet booked (the other click still booking it).
func TestEveryConfirmationAnswersWithTheBooking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newShop(t)
	until := s.clock.now().Add(10 * time.Minute)

	// The window itself: succeeded and recorded, not yet settled.
	ann := s.fan(until)
	p := s.startPayment(ann, s.hold(ann, 2, until))
	_, err := s.pay.Confirm(ctx, p.ProviderRef, payments.CardSucceeds)
	require.NoError(t, err)
	_, err = s.db.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error {
		p.Record(payments.StatusSucceeded, s.clock.now())
		return nil
	})
	require.NoError(t, err)
	got, err := s.svc.Confirm(ctx, p.ID, ann, payments.CardSucceeds)
	require.NoError(t, err)
	require.NotEmpty(t, got.BookingID, "a confirmation finding the payment succeeded books it")

	// Many clicks at once: one booking, named by every answer.
	bob := s.fan(until)
	p = s.startPayment(bob, s.hold(bob, 2, until))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		bookings = map[string]int{}
	)
	for range 8 {
		wg.Go(func() {
			got, err := s.svc.Confirm(ctx, p.ID, bob, payments.CardSucceeds)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			bookings[got.BookingID]++
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, bookings, 1, "one booking, and no answer without it: %v", bookings)
	require.NotContains(t, bookings, "")
}
