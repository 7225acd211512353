package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// outage is a payment provider outage every replica sees.
type outage struct{ on atomic.Bool }

var errOutage = fmt.Errorf("%w: outage", payments.ErrProviderBusy)

// flaky is the test provider behind an outage switch.
type flaky struct {
	payments.Provider
	out *outage
}

func (f flaky) fail() error {
	if f.out.on.Load() {
		return errOutage
	}
	return nil
}
func (f flaky) Create(ctx context.Context, c payments.Charge) (*payments.Intent, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Provider.Create(ctx, c)
}
func (f flaky) Status(ctx context.Context, ref string) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Provider.Status(ctx, ref)
}
func (f flaky) Confirm(ctx context.Context, ref, card string) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Provider.Confirm(ctx, ref, card)
}
func (f flaky) Refund(ctx context.Context, ref, key string) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Provider.Refund(ctx, ref, key)
}
func (f flaky) Cancel(ctx context.Context, ref string) (string, error) {
	if err := f.fail(); err != nil {
		return "", err
	}
	return f.Provider.Cancel(ctx, ref)
}

// mortal is a replica's store that stops for good when the replica dies: a
// write in flight then never happens (a Redis hold without its row, a recorded
// success without its booking), as when the process is killed.
type mortal struct {
	*store.DB
	dead   atomic.Bool
	lost   atomic.Int64  // writes that died with the replica
	buried chan struct{} // closed when the test ends, to let stuck calls go
}

func (m *mortal) stop() error {
	if m.dead.Load() {
		m.lost.Add(1)
		<-m.buried
		return errors.New("the replica died")
	}
	return nil
}
func (m *mortal) CreateHold(ctx context.Context, n store.NewHold) (*store.Hold, error) {
	if err := m.stop(); err != nil {
		return nil, err
	}
	return m.DB.CreateHold(ctx, n)
}
func (m *mortal) Book(ctx context.Context, paymentID, status string, now time.Time) (store.Settlement, error) {
	if err := m.stop(); err != nil {
		return store.Settlement{}, err
	}
	return m.DB.Book(ctx, paymentID, status, now)
}

// chaosFan is a browser: it talks to its replica, and when that one stops
// answering, to the other, retrying writes with their Idempotency-Key.
type chaosFan struct {
	t        *testing.T
	token    string
	replicas []*env
	home     int
	client   *http.Client
}

func (f *chaosFan) call(method, path string, body any) (int, map[string]any) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	key := store.NewID("key")
	for attempt := range 20 {
		req, err := http.NewRequest(method, f.replicas[f.home].srv.URL+path, bytes.NewReader(raw))
		require.NoError(f.t, err)
		req.Header.Set("Authorization", "Bearer "+f.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := f.client.Do(req)
		if err != nil { // the replica is gone: the load balancer sends the retry elsewhere
			f.home = (f.home + 1) % len(f.replicas)
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable || (resp.StatusCode == http.StatusConflict && bytes.Contains(data, []byte("in_flight"))) {
			time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		return resp.StatusCode, m
	}
	return 0, nil
}

func field(m map[string]any, obj, key string) string {
	o, _ := m[obj].(map[string]any)
	s, _ := o[key].(string)
	return s
}

// admitted joins the line and waits for the fan's turn, joining again if the
// line was lost with Redis.
func (f *chaosFan) admitted(eventID string) bool {
	path := "/api/v1/events/" + eventID + "/queue"
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		status, m := f.call(http.MethodGet, path, nil)
		switch {
		case status == http.StatusOK && m["status"] == "admitted":
			return true
		case status == http.StatusNotFound:
			f.call(http.MethodPost, path, nil)
		case status != http.StatusOK:
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// shop is one fan's visit: reserve, then pay, book, cancel, leave, walk away,
// double-pay or overreach the limit, at random.
func (f *chaosFan) shop(eventID string, rng *rand.Rand) {
	if !f.admitted(eventID) {
		return
	}
	reserve := func(n int) string {
		body := map[string]any{"event_id": eventID, "zone_id": "GA", "quantity": n}
		if rng.IntN(2) == 0 {
			seats := []string{}
			for range n {
				seats = append(seats, fmt.Sprintf("%d%c", 1+rng.IntN(4), 'A'+rng.IntN(10)))
			}
			body = map[string]any{"event_id": eventID, "zone_id": "VIP", "seats": seats}
		}
		status, m := f.call(http.MethodPost, "/api/v1/tickets/reserve", body)
		if status != http.StatusCreated {
			return ""
		}
		return field(m, "reservation", "id")
	}
	hold := reserve(1 + rng.IntN(3))
	if hold == "" {
		return
	}
	if rng.IntN(3) == 0 {
		reserve(3) // may take the fan past the limit: Redis or PostgreSQL refuses
	}
	pay := func() string {
		_, m := f.call(http.MethodPost, "/api/v1/payments", map[string]any{"event_id": eventID})
		return field(m, "payment", "id")
	}
	confirm := func(id, card string) string {
		_, m := f.call(http.MethodPost, "/api/v1/payments/"+id+"/confirm", map[string]any{"card_number": card})
		return field(m, "payment", "booking_id")
	}
	switch choice := rng.IntN(20); {
	case choice < 3: // walks away: the holds expire
	case choice < 5:
		f.call(http.MethodPost, "/api/v1/tickets/cancel", map[string]any{"reservation_id": hold})
	case choice < 12:
		if p := pay(); p != "" {
			confirm(p, payments.CardSucceeds)
			f.call(http.MethodPost, "/api/v1/tickets/book", map[string]any{"payment_id": p})
		}
	case choice < 15:
		if p := pay(); p != "" {
			if b := confirm(p, payments.CardSucceeds); b != "" {
				f.call(http.MethodPost, "/api/v1/tickets/cancel", map[string]any{"booking_id": b})
			}
		}
	case choice < 17: // leaves the line mid-payment, then the payment goes through
		if p := pay(); p != "" {
			f.call(http.MethodDelete, "/api/v1/events/"+eventID+"/queue", nil)
			confirm(p, payments.CardSucceeds)
		}
	case choice < 19: // two tabs: a declined payment paid later beside a second one
		if p := pay(); p != "" {
			confirm(p, payments.CardDeclines)
			if q := pay(); q != "" {
				confirm(q, payments.CardSucceeds)
			}
			confirm(p, payments.CardSucceeds)
		}
	default: // starts paying and walks away
		pay()
	}
}

// Two replicas sell an event while one of them is killed, the event's Redis
// keys are flushed and the payment provider is down for a while; fans retry on
// the surviving replica. Afterwards, checked in SQL: every succeeded payment is
// in one confirmed booking or refunded (the provider's own ledger agrees), no
// fan is over the limit, Redis equals PostgreSQL and no ticket is sold twice.
func TestMoneyUnderChaos(t *testing.T) {
	out := &outage{}
	buried := make(chan struct{})
	var doomed *mortal
	parts := func(mortalStore bool) envParts {
		p := saleParts
		p.provider = func(db *store.DB) payments.Provider {
			return flaky{Provider: payments.NewTestProvider(db), out: out}
		}
		if mortalStore {
			p.store = func(db *store.DB) booking.Store {
				doomed = &mortal{DB: db, buried: buried}
				return doomed
			}
		}
		return p
	}
	one, two := newEnvWith(t, parts(false)), newEnvWith(t, parts(true))
	t.Cleanup(func() { close(buried) }) // before the servers close, so stuck calls end
	ev := attackEvent(t, one)
	ctx := context.Background()
	limit, grace := 4, 2
	ev, err := one.db.UpdateEvent(ctx, ev.ID, store.Settings{MaxTicketsPerUser: &limit, PaymentGraceSeconds: &grace})
	require.NoError(t, err)
	one.listing.add(ev.ID)
	two.listing.add(ev.ID)

	const fans = 300
	var wg sync.WaitGroup
	for i := range fans {
		token, _ := one.fan()
		f := &chaosFan{t: t, token: token, replicas: []*env{one, two}, home: i % 2, client: &http.Client{Timeout: 3 * time.Second}}
		rng := rand.New(rand.NewPCG(uint64(i), 8))
		wg.Go(func() {
			time.Sleep(time.Duration(rng.IntN(8000)) * time.Millisecond) // fans arrive over eight seconds
			f.shop(ev.ID, rng)
		})
	}

	// Mid-sale, once bookings exist: the provider goes down, replica two dies
	// with writes in flight, Redis loses the event, and the provider comes back.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, one.db.Pool().QueryRow(ctx, `SELECT count(*) FROM bookings WHERE event_id = $1`, ev.ID).Scan(&n))
		return n >= 10
	}, 30*time.Second, 20*time.Millisecond)
	doomed.dead.Store(true)
	require.Eventually(t, func() bool { return doomed.lost.Load() >= 2 }, 10*time.Second, 5*time.Millisecond,
		"replica two dies with writes in flight")
	out.on.Store(true)
	two.srv.CloseClientConnections()
	two.srv.Listener.Close()
	two.stopLoops()
	storetest.CleanRedis(t, one.rdb, ev.ID)
	time.Sleep(1500 * time.Millisecond)
	out.on.Store(false)
	began := time.Now()
	wg.Wait()
	t.Logf("fans done %v after the faults", time.Since(began))

	// The surviving replica finishes by itself: holds expire, successes are
	// booked or refunded, refunds owed go through, and every payment whose
	// confirmation the outage cut off is looked up with the provider (the
	// settler's check, a minute after the payment began) and settled.
	require.Eventually(t, func() bool {
		var unfinished int
		require.NoError(t, one.db.Pool().QueryRow(ctx, `
			SELECT (SELECT count(*) FROM holds WHERE event_id = $1 AND status = 'ACTIVE')
			     + (SELECT count(*) FROM payments p WHERE p.event_id = $1 AND (p.refund_due
			          OR p.status = 'pending' OR (p.status = 'failed' AND p.check_at IS NOT NULL)
			          OR (p.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id))))`,
			ev.ID).Scan(&unfinished))
		if unfinished > 0 {
			return false
		}
		snap, err := one.db.InventorySnapshot(ctx, ev.ID)
		require.NoError(t, err)
		diffs, err := one.inv.Drift(ctx, snap)
		return err == nil && len(diffs) == 0
	}, 90*time.Second, 200*time.Millisecond, "unsettled money, holds left active, or Redis disagrees")

	t.Logf("settled %v after the faults", time.Since(began))
	checkInvariants(t, one, ev)
	checkMoney(t, one, ev)
	requireInvariants(t, ev.ID)
	t.Logf("%d writes died with replica two", doomed.lost.Load())
}

// checkMoney verifies in SQL that every succeeded payment of the event is in
// exactly one confirmed booking or refunded, that the provider's ledger says
// the same, and that no fan holds more tickets than the limit.
func checkMoney(t *testing.T, e *env, ev *store.Event) {
	t.Helper()
	ctx := context.Background()
	query := func(q string) int {
		var n int
		require.NoError(t, e.db.Pool().QueryRow(ctx, q, ev.ID).Scan(&n))
		return n
	}
	require.Zero(t, query(`SELECT count(*) FROM payments p WHERE p.event_id = $1 AND p.status = 'succeeded'
		AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id AND b.status = 'CONFIRMED')`),
		"a succeeded payment neither booked nor refunded")
	require.Zero(t, query(`SELECT count(*) FROM bookings b JOIN payments p ON p.id = b.payment_id
		WHERE b.event_id = $1 AND b.status = 'CANCELLED' AND p.status <> 'refunded'`),
		"a cancelled booking's payment not refunded")
	require.Zero(t, query(`SELECT count(*) FROM payments p JOIN test_charges c ON c.ref = p.provider_ref
		WHERE p.event_id = $1 AND (c.status = 'succeeded') <> (p.status = 'succeeded')`),
		"the provider holds money Boxoffice does not know it holds, or the reverse")
	require.Zero(t, query(`SELECT count(*) FROM payments p JOIN test_charges c ON c.ref = p.provider_ref
		WHERE p.event_id = $1 AND (c.status = 'refunded') <> (p.status = 'refunded')`),
		"a refund recorded on one side only")
	require.Zero(t, query(`SELECT count(*) FROM (
		SELECT b.user_id FROM bookings b JOIN booking_tickets bt ON bt.booking_id = b.id AND bt.active
		WHERE b.event_id = $1 AND b.status = 'CONFIRMED' GROUP BY b.user_id HAVING count(*) > 4) over`),
		"a fan over the limit")
	var booked, refunded int
	require.NoError(t, e.db.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'succeeded'),
		count(*) FILTER (WHERE status = 'refunded') FROM payments WHERE event_id = $1`, ev.ID).Scan(&booked, &refunded))
	require.Positive(t, refunded, "the chaos refunded something")
	t.Logf("%d payments booked, %d refunded", booked, refunded)
}
