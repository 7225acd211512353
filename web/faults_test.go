package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/payments/stripemock"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/rehearse/rehearsetest"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

// Faults of the payment provider and of live clients, each during a sale by
// a crowd (rehearse, through the API and the live feed) and each ending with
// the invariant check (rehearse.CheckInvariants). The faults of PostgreSQL and
// Redis themselves are in the root package's faults_test.go, against serve.

// faultEvent is an event on sale now that the crowd wants more of than it
// has (30 tickets), with short sessions, a line (15 shoppers at once) and a
// limit of 4 a fan, listed for the replica's controller.
func faultEvent(t *testing.T, e *env) *store.Event {
	t.Helper()
	ctx := context.Background()
	ev := storetest.Event(t, e.db, storetest.Organizer(t, e.db).ID, 20, store.Row{Row: "A", Seats: 10})
	hold, shoppers, grace, limit := 8, 15, 2, 4
	ev, err := e.db.UpdateEvent(ctx, ev.ID, store.Settings{HoldSeconds: &hold, MaxActiveShoppers: &shoppers,
		PaymentGraceSeconds: &grace, MaxTicketsPerUser: &limit})
	require.NoError(t, err)
	storetest.CleanRedis(t, e.rdb, ev.ID)
	e.listing.add(ev.ID)
	return ev
}

// rehearseFault runs a crowd of fans on the event and, once the first tickets
// are booked, the fault (nil: none); see rehearsetest.Crowd.
func (e *env) rehearseFault(t *testing.T, ev *store.Event, fans int, cancel float64, fault func()) *rehearse.Report {
	t.Helper()
	rep, _ := rehearsetest.Crowd(t, rehearse.Config{URL: e.srv.URL, EventID: ev.ID, Fans: fans, Duration: 40 * time.Second,
		Concurrency: 32, Prefix: strings.ToLower(store.NewID("fault")), Password: "rehearse-password", Seed: 13,
		Cancel: cancel, Abandon: 0.1, DoubleClick: 0.2, DB: storetest.Pool(t), SettleWait: 30 * time.Second}, fault)
	return rep
}

// requireInvariants runs the rehearsal's invariant check on the event, after
// waiting for the settler to finish its payments.
func requireInvariants(t *testing.T, eventID string) {
	t.Helper()
	inv, err := rehearse.CheckInvariants(context.Background(), storetest.Pool(t), eventID, 30*time.Second)
	require.NoError(t, err)
	for _, c := range inv.Checks {
		require.True(t, c.OK, "%s: %s", c.Name, c.Detail)
	}
}

// refundsDown is a provider whose refunds fail while its switch is on, apart
// from any wider outage.
type refundsDown struct {
	payments.Provider
	out *outage
}

func (r refundsDown) Refund(ctx context.Context, ref, key string) error {
	if r.out.on.Load() {
		return errOutage
	}
	return r.Provider.Refund(ctx, ref, key)
}

// The payment provider goes down mid-sale: for a second and a half nothing
// reaches it (payments, confirmations and refunds answer 503 and the crowd
// retries), then refunds stay down until one has failed. Nobody runs
// `payments reconcile`: the settler loop retries the refunds owed, and every
// succeeded payment ends booked or refunded, as the provider's own ledger says.
func TestFaultPaymentProviderOutage(t *testing.T) {
	t.Parallel()
	all, refunds := &outage{}, &outage{}
	parts := saleParts
	parts.provider = func(db *store.DB) payments.Provider {
		return refundsDown{Provider: flaky{Provider: payments.NewTestProvider(db), out: all}, out: refunds}
	}
	e := newEnvWith(t, parts)
	ev := faultEvent(t, e)
	failedRefunds := func() int {
		var n int
		require.NoError(t, e.db.Pool().QueryRow(context.Background(),
			`SELECT count(*) FROM payments WHERE event_id = $1 AND refund_attempts > 0`, ev.ID).Scan(&n))
		return n
	}
	e.rehearseFault(t, ev, 40, 0.5, func() {
		refunds.on.Store(true)
		all.on.Store(true)
		time.Sleep(1500 * time.Millisecond)
		all.on.Store(false)
		require.Eventually(t, func() bool { return failedRefunds() > 0 }, 30*time.Second, 20*time.Millisecond,
			"a refund is owed and fails while the provider refunds nothing")
		refunds.on.Store(false)
	})
	checkMoney(t, e, ev)
	var late int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `
		SELECT count(*) FROM payments WHERE event_id = $1 AND refund_attempts > 0 AND status = 'refunded'`, ev.ID).Scan(&late))
	require.Positive(t, late, "refunds that failed in the outage went through afterwards, by the settler")
	require.Equal(t, failedRefunds(), late, "every refund that failed went through")
}

// Stripe delivers each payment's webhook three times, late (signed up to four
// minutes ago, within Stripe's tolerance), out of order (a failure of an
// earlier attempt after the success) and all at once, to a replica whose
// Stripe client talks to stripe-mock. Each paying fan is booked once; a fan
// who left before the success is refunded through Stripe; nothing is double.
func TestFaultStripeWebhooksRepeatedLateOutOfOrder(t *testing.T) {
	t.Parallel()
	const key = "sk_test_123"
	base, stop, err := stripemock.Start(key)
	require.NoError(t, err)
	t.Cleanup(stop)
	s, err := payments.NewStripe(payments.StripeConfig{SecretKey: key, WebhookSecret: webhookSecret,
		PublishableKey: "pk_test_123", APIBase: base, MaxRetries: -1})
	require.NoError(t, err)
	parts := saleParts
	parts.provider = func(*store.DB) payments.Provider { return s }
	e := newEnvWith(t, parts, func(c *web.Config) { c.Webhooks, c.PublishableKey = s, "pk_test_123" })
	id := e.seatedEvent(10)
	ctx := context.Background()

	type paid struct {
		hold, payment, ref string
		left               bool // left the line before the success came
	}
	const fans = 24
	all := make([]paid, fans)
	var wg sync.WaitGroup
	for i := range fans {
		wg.Go(func() {
			token := e.shopper(id)
			seat := fmt.Sprintf("%d%c", 1+i/10, 'A'+i%10)
			r := e.call(http.MethodPost, "/api/v1/tickets/reserve", token, reserveBody(id, "VIP", []string{seat}, 0))
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			hold := r.JSON(t)["reservation"].(map[string]any)["id"].(string)
			r = e.call(http.MethodPost, "/api/v1/payments", token, map[string]any{"reservation_id": hold})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			payment := r.JSON(t)["payment"].(map[string]any)["id"].(string)
			p, err := e.db.Payment(ctx, payment)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(p.ProviderRef, "pi_"), "a PaymentIntent made by stripe-mock: %q", p.ProviderRef)
			left := i%3 == 0
			if left {
				r = e.call(http.MethodDelete, "/api/v1/events/"+id+"/queue", token, nil)
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			}
			all[i] = paid{hold: hold, payment: payment, ref: p.ProviderRef, left: left}
		})
	}
	wg.Wait()

	// Every delivery of every payment, shuffled, sent eight at a time.
	type delivery struct {
		payload []byte
		at      time.Time
	}
	var deliveries []delivery
	for i, p := range all {
		success := event(t, "payment_intent.succeeded", p.ref)
		for _, ago := range []time.Duration{4 * time.Minute, time.Minute, 0} {
			deliveries = append(deliveries, delivery{success, time.Now().Add(-ago)})
		}
		if i%2 == 0 { // an earlier attempt's failure, delivered late
			deliveries = append(deliveries, delivery{event(t, "payment_intent.payment_failed", p.ref), time.Now().Add(-3 * time.Minute)})
		}
	}
	rng := rand.New(rand.NewPCG(5, 13))
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	work := make(chan delivery)
	var duplicates atomic.Int64
	for range 8 {
		wg.Go(func() {
			for d := range work {
				r := e.deliver(d.payload, d.at, webhookSecret)
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
				if r.JSON(t)["duplicate"] == true {
					duplicates.Add(1)
				}
			}
		})
	}
	for _, d := range deliveries {
		work <- d
	}
	close(work)
	wg.Wait()
	require.EqualValues(t, 2*fans, duplicates.Load(), "two of each success's three deliveries are known duplicates")

	requireInvariants(t, id)
	for _, p := range all {
		got, err := e.db.Payment(ctx, p.payment)
		require.NoError(t, err)
		if p.left {
			require.Zero(t, e.bookingsOf(t, p.hold), "a fan who left is not booked")
			require.Equal(t, payments.StatusRefunded, got.Status, "a success after the fan left is refunded")
			continue
		}
		require.Equal(t, 1, e.bookingsOf(t, p.hold), "booked once")
		require.Equal(t, payments.StatusSucceeded, got.Status, "a late failure does not undo the success")
	}
	var bookings int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `SELECT count(*) FROM bookings WHERE event_id = $1`, id).Scan(&bookings))
	require.Equal(t, fans-fans/3, bookings, "one booking per paying fan, nothing double")
}

// stuckClient opens the live feed with a bare handshake and a small receive
// buffer, and after the handshake never reads: a frozen tab, or a client on a
// link that died without a word.
func stuckClient(t *testing.T, e *env, eventID string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
	_, err = fmt.Fprintf(c, "GET /api/v1/events/%s/live HTTP/1.1\r\nHost: boxoffice\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", eventID)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	return c
}

// A client that never reads its WebSocket, there from the start of a sale,
// is dropped by the replica (it answers no ping within the write timeout),
// and meanwhile every other fan's feed keeps up: an availability change
// reaches all the watched sockets well within the write timeout the stuck
// client is given, so nobody waits behind it.
func TestFaultClientNeverReads(t *testing.T) {
	t.Parallel()
	const writeTimeout = 3 * time.Second
	parts := saleParts
	// Unpaced: the delays measure the stuck client's effect on the others.
	parts.live = realtime.Options{PingInterval: 300 * time.Millisecond, WriteTimeout: writeTimeout, WaitingEvery: -1}
	e := newEnvWith(t, parts)
	ev := faultEvent(t, e)
	stuck := stuckClient(t, e, ev.ID)
	require.Eventually(t, func() bool { return e.app.Hub.Clients(ev.ID) == 1 }, 5*time.Second, 10*time.Millisecond)

	rep := e.rehearseFault(t, ev, 40, 0.2, nil)

	// What the replica wrote before it gave up is still in the buffers; past
	// it, the connection ends.
	require.NoError(t, stuck.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := io.Copy(io.Discard, stuck)
	require.NoError(t, err, "the replica closed the stuck client's connection")
	require.Regexp(t, `boxoffice_live_ended_total\{reason="(slow|no_pong)"\} [1-9]`,
		string(e.call(http.MethodGet, "/metrics", "", nil).Body), "the metrics say why it ended")
	require.Zero(t, rep.Live.Reconnects, "the fans who read were never dropped")
	i := slices.IndexFunc(rep.Live.Delays, func(d rehearse.DelayReport) bool {
		return d.Type == "availability.update" && d.Method == "spread"
	})
	require.GreaterOrEqual(t, i, 0, "no availability.update delays in the report")
	d := rep.Live.Delays[i]
	require.Positive(t, d.Samples)
	require.Less(t, d.P99ms, float64(writeTimeout.Milliseconds())/2, "the fans who read fell behind: %+v", d)
}
