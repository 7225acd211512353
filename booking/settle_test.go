package booking_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// gateway is a provider whose answers the test sets, as a payment provider's
// webhooks and API would give them.
type gateway struct {
	name     string // its own, so that parallel tests settle only their payments
	mu       sync.Mutex
	status   map[string]string
	refunded map[string]int
}

func newGateway() *gateway {
	return &gateway{name: store.NewID("gateway"), status: map[string]string{}, refunded: map[string]int{}}
}

func (g *gateway) Name() string { return g.name }
func (g *gateway) Create(_ context.Context, c payments.Charge) (*payments.Intent, error) {
	g.set("pi_"+c.PaymentID, payments.StatusPending)
	return &payments.Intent{Ref: "pi_" + c.PaymentID, ClientSecret: "secret", Status: payments.StatusPending}, nil
}
func (g *gateway) Status(_ context.Context, ref string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status[ref], nil
}
func (g *gateway) ClientSecret(context.Context, string) (string, error) { return "secret", nil }
func (g *gateway) Confirm(context.Context, string, string) (string, error) {
	return "", payments.ErrNotConfirmable
}
func (g *gateway) Refund(_ context.Context, ref, _ string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunded[ref]++
	g.status[ref] = payments.StatusRefunded
	return nil
}
func (g *gateway) Cancel(_ context.Context, ref string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.status[ref]; s == payments.StatusPending || s == payments.StatusFailed {
		g.status[ref] = payments.StatusFailed
	}
	return g.status[ref], nil
}
func (g *gateway) set(ref, status string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status[ref] = status
}

type paidHold struct {
	svc  *booking.Service
	db   *store.DB
	gw   *gateway
	hold *store.Hold
	pay  *payments.Payment
	user string
}

// newPaidHold reserves one seat for a fan with a session and starts a payment.
func newPaidHold(t *testing.T) *paidHold {
	t.Helper()
	ctx := context.Background()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 0, store.Row{Row: "1", Seats: 4})
	storetest.CleanRedis(t, rdb, ev.ID)
	fan := storetest.Fan(t, db)
	until := time.Now().Add(time.Hour)
	require.NoError(t, rdb.ZAdd(ctx, queue.ActiveKey(ev.ID), redis.Z{Score: float64(until.UnixMilli()), Member: fan.ID}).Err())
	gw := newGateway()
	svc := booking.New(db, inventory.New(rdb, time.Now, queue.ActiveKey), gw, quiet{}, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	h, err := svc.Reserve(ctx, booking.Request{Event: ev, ZoneID: "VIP", UserID: fan.ID, Until: until, Seats: []string{"1A"}})
	require.NoError(t, err)
	co, err := svc.Pay(ctx, fan.ID, []string{h.ID})
	require.NoError(t, err)
	return &paidHold{svc: svc, db: db, gw: gw, hold: h, pay: co.Payment, user: fan.ID}
}

func (ph *paidHold) bookings(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, ph.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM holds WHERE id = $1 AND booking_id IS NOT NULL`, ph.hold.ID).Scan(&n))
	return n
}

// The provider's webhook and the fan's own book call race for the same payment:
// one booking, and every book call gets it.
func TestWebhookAndFanRaceForOneBooking(t *testing.T) {
	t.Parallel()
	ph := newPaidHold(t)
	ctx := context.Background()
	ph.gw.set(ph.pay.ProviderRef, payments.StatusSucceeded)
	var (
		wg  sync.WaitGroup
		ids sync.Map
	)
	for i := range 20 {
		wg.Go(func() {
			if i%2 == 0 {
				require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusSucceeded))
				return
			}
			b, err := ph.svc.Book(ctx, ph.hold.ID, ph.pay.ID, ph.user)
			require.NoError(t, err)
			ids.Store(b.ID, true)
		})
	}
	wg.Wait()
	require.Equal(t, 1, ph.bookings(t))
	n := 0
	ids.Range(func(any, any) bool { n++; return true })
	require.Equal(t, 1, n, "every book call got the same booking")
	require.Zero(t, ph.gw.refunded[ph.pay.ProviderRef])
}

// A success that arrives after the hold expired is refunded: no tickets, no charge.
func TestLateSuccessIsRefunded(t *testing.T) {
	t.Parallel()
	ph := newPaidHold(t)
	ctx := context.Background()
	_, _, err := ph.db.EndHold(ctx, ph.hold.ID, store.HoldExpired)
	require.NoError(t, err)
	ph.gw.set(ph.pay.ProviderRef, payments.StatusSucceeded)
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusSucceeded))
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusSucceeded))
	require.Zero(t, ph.bookings(t))
	require.Equal(t, 1, ph.gw.refunded[ph.pay.ProviderRef], "refunded once")
	p, err := ph.db.Payment(ctx, ph.pay.ID)
	require.NoError(t, err)
	require.Equal(t, payments.StatusRefunded, p.Status)
}

// Out of order: a refund recorded before the success means the success books
// nothing; a failure after a success changes nothing.
func TestOutOfOrderProviderWords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ph := newPaidHold(t)
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusRefunded))
	require.NoError(t, ph.svc.Settle(ctx, ph.gw.name, ph.pay.ProviderRef, payments.StatusSucceeded))
	require.Zero(t, ph.bookings(t))

	other := newPaidHold(t)
	other.gw.set(other.pay.ProviderRef, payments.StatusSucceeded)
	require.NoError(t, other.svc.Settle(ctx, other.gw.name, other.pay.ProviderRef, payments.StatusSucceeded))
	require.NoError(t, other.svc.Settle(ctx, other.gw.name, other.pay.ProviderRef, payments.StatusFailed))
	require.Equal(t, 1, other.bookings(t))
	p, err := other.db.Payment(ctx, other.pay.ID)
	require.NoError(t, err)
	require.Equal(t, payments.StatusSucceeded, p.Status)
}

// The reconciliation books a paid hold nobody booked, and refunds a paid hold
// that is gone.
func TestReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ph := newPaidHold(t)
	ph.gw.set(ph.pay.ProviderRef, payments.StatusSucceeded) // and the webhook was lost
	gone := newPaidHold(t)
	gone.gw.set(gone.pay.ProviderRef, payments.StatusSucceeded)
	_, _, err := gone.db.EndHold(ctx, gone.hold.ID, store.HoldExpired)
	require.NoError(t, err)

	done, err := ph.svc.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, []booking.Settled{{PaymentID: ph.pay.ID, ProviderRef: ph.pay.ProviderRef, Outcome: "booked"}}, done)
	require.Equal(t, 1, ph.bookings(t))
	done, err = gone.svc.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, []booking.Settled{{PaymentID: gone.pay.ID, ProviderRef: gone.pay.ProviderRef, Outcome: "refunded"}}, done)
	require.Zero(t, gone.bookings(t))
	require.Equal(t, 1, gone.gw.refunded[gone.pay.ProviderRef])
}
