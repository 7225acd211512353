package rehearse_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// replica is one real replica, built by app as serve builds one, on the
// package's test database and Redis, with fast loops, behind an HTTP server.
func replica(t *testing.T, limits web.Limits) (url string, db *store.DB) {
	t.Helper()
	db = storetest.DB(t)
	rdb := storetest.Redis(t)
	a := app.New(db, rdb, app.Config{Secret: strings.Repeat("s", 40), Provider: payments.NewTestProvider(db),
		Limits: limits, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Every: app.Intervals{Admission: 50 * time.Millisecond, Expiry: 100 * time.Millisecond,
			Settle: 250 * time.Millisecond, Listing: 100 * time.Millisecond}})
	srv := httptest.NewServer(a.API)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { a.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
	})
	return srv.URL, db
}

// onSale creates an event on sale now: a pool GA of pool tickets and a seated
// VIP of rows×10 seats, short shopping sessions and a small cap on shoppers,
// so that a line forms and abandoned holds come back within the test.
func onSale(t *testing.T, db *store.DB, pool, rows int) string {
	t.Helper()
	org := storetest.Organizer(t, db)
	now := time.Now()
	price := int64(5000)
	n := store.NewEvent{ID: store.NewID("ev")}
	n.Name = ptr("Rehearsal")
	n.StartsAt, n.SaleOpensAt = ptr(now.Add(30*24*time.Hour)), ptr(now.Add(-time.Minute))
	n.HoldSeconds, n.MaxActiveShoppers, n.PaymentGraceSeconds = ptr(8), ptr(30), ptr(2)
	var vip []store.Row
	for i := range rows {
		vip = append(vip, store.Row{Row: string(rune('A' + i)), Seats: 10})
	}
	n.Zones = []store.NewZone{
		{ID: "GA", Kind: inventory.Pool, Capacity: &pool, PriceCents: &price},
		{ID: "VIP", Kind: inventory.Seated, Rows: vip, PriceCents: &price},
	}
	ev, err := db.CreateEvent(context.Background(), n, org.ID)
	require.NoError(t, err)
	storetest.CleanRedis(t, storetest.Redis(t), ev.ID)
	return ev.ID
}

func ptr[T any](v T) *T { return &v }

// 150 fans sell out an event of 200 tickets through the real API and live feed:
// every ticket is accounted for, every check holds, and the report has what a
// team needs (latency per endpoint, live messages and their delays). The
// deployment's sign-up limit refuses most of a burst of sign-ups; the tool
// waits as the server says, and every fan gets an account.
func TestRehearsalSellsOut(t *testing.T) {
	limits := web.Limits{Rates: ratelimit.New(storetest.Redis(t), store.NewID("rl")),
		SignUp: ratelimit.Rate{Count: 5, Per: 100 * time.Millisecond}} // 32 sign-ups at once: most are refused
	url, db := replica(t, limits)
	eventID := onSale(t, db, 140, 6)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := rehearse.Run(ctx, rehearse.Config{URL: url, EventID: eventID, Fans: 150, Duration: time.Minute,
		Concurrency: 32, Prefix: strings.ToLower(store.NewID("fan")), Password: "rehearse-password", Seed: 7,
		Cancel: 0.2, Abandon: 0.1, DoubleClick: 0.3, DB: storetest.Pool(t), SettleWait: 20 * time.Second,
		Progress: &syncBuffer{b: &progress}})
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	t.Log("\n" + text.String())
	require.True(t, rep.OK, "broken: %v", rep.Broken())

	require.Equal(t, 150, rep.Accounts.Ready)
	require.Positive(t, rep.Accounts.RateLimited, "the sign-up limit refused part of the burst")
	fans := 0
	for _, n := range rep.Outcomes {
		fans += n
	}
	require.Equal(t, 150, fans, "every fan's visit ended one way: %v", rep.Outcomes)
	require.Positive(t, rep.Outcomes["bought"])
	require.Positive(t, rep.Outcomes["abandoned"]+rep.Outcomes["released_hold"]+rep.Outcomes["cancelled_booking"])

	s := rep.Sale
	require.True(t, s.SoldOut)
	require.EqualValues(t, 200, s.TicketsAtStart)
	require.Equal(t, 200, s.TicketsBooked-s.TicketsCancelled, "net of cancellations, the fans booked the whole event")
	require.Zero(t, s.TicketsLeft)
	require.Zero(t, s.TicketsHeld)
	require.Positive(t, s.TicketsPerSecond)
	require.Positive(t, s.AdmissionsPerSecond)
	require.Positive(t, rep.DoubleClicks.Pairs)
	require.Positive(t, rep.DoubleClicks.Replayed, "a write sent twice with one key is answered once and replayed")

	routes := map[string]rehearse.EndpointReport{}
	for _, e := range rep.Endpoints {
		routes[e.Endpoint] = e
	}
	for _, r := range []string{"POST /api/v1/users", "POST /api/v1/events/{id}/queue", "POST /api/v1/tickets/reserve",
		"POST /api/v1/payments", "POST /api/v1/payments/{id}/confirm", "GET /api/v1/events/{id}/live"} {
		e := routes[r]
		require.Positive(t, e.Requests, r)
		require.True(t, 0 < e.P50ms && e.P50ms <= e.P99ms && e.P99ms <= e.MaxMs, "%s: %+v", r, e)
	}
	for _, typ := range []string{"queue.update", "session.admitted", "session.expired", "availability.update", "seat.update", "sale.update"} {
		require.Positive(t, rep.Live.Messages[typ], typ)
	}
	for _, d := range rep.Live.Delays {
		require.Positive(t, d.Samples, d.Type)
		require.True(t, d.P50ms <= d.P99ms && d.P99ms <= d.MaxMs, "%+v", d)
	}
	require.Len(t, rep.Checks, 6)
	require.Contains(t, progress.String(), "in line")
}

// An invariant broken in the database is named by the check, which runs on its
// own against any event: each corruption here is made in a transaction that is
// rolled back.
func TestCheckFindsBrokenInvariants(t *testing.T) {
	url, db := replica(t, web.Limits{})
	eventID := onSale(t, db, 20, 1)
	rep, err := rehearse.Run(context.Background(), rehearse.Config{URL: url, EventID: eventID, Fans: 12,
		Duration: time.Minute, Concurrency: 8, Prefix: strings.ToLower(store.NewID("fan")), Password: "rehearse-password",
		Seed: 3, DB: storetest.Pool(t), SettleWait: 20 * time.Second})
	require.NoError(t, err)
	require.True(t, rep.OK, "broken: %v", rep.Broken())
	require.Greater(t, rep.Sale.TicketsBooked, 12, "12 fans booked more than a ticket each: some fan owns two")

	tests := []struct {
		name   string
		break_ string
		want   []string
	}{
		{name: "a booked ticket back on sale", want: []string{"ticket_booked_once", "zone_counts"}, break_: `
			UPDATE tickets SET status = 'AVAILABLE', hold_id = NULL, booking_id = NULL
			WHERE id = (SELECT id FROM tickets WHERE event_id = $1 AND status = 'BOOKED' LIMIT 1)`},
		{name: "a ticket more than the zone holds", want: []string{"zone_counts"}, break_: `
			INSERT INTO tickets (event_id, zone_id, number) VALUES ($1, 'GA', 100000)`},
		{name: "a paid booking cancelled without a refund", want: []string{"payments_settled", "zone_counts", "ticket_booked_once"}, break_: `
			UPDATE bookings SET status = 'CANCELLED'
			WHERE id = (SELECT id FROM bookings WHERE event_id = $1 AND status = 'CONFIRMED' LIMIT 1)`},
		{name: "a refund of a booking kept", want: []string{"payments_settled"}, break_: `
			UPDATE payments SET status = 'refunded'
			WHERE id = (SELECT payment_id FROM bookings WHERE event_id = $1 AND status = 'CONFIRMED' LIMIT 1)`},
		{name: "a limit lowered under what fans own", want: []string{"fan_limit"}, break_: `
			UPDATE events SET max_tickets_per_user = 1 WHERE id = $1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tx, err := storetest.Pool(t).Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			tag, err := tx.Exec(ctx, tt.break_, eventID)
			require.NoError(t, err)
			require.EqualValues(t, 1, tag.RowsAffected())
			inv, err := rehearse.CheckInvariants(ctx, tx, eventID, 300*time.Millisecond)
			require.NoError(t, err)
			// A payment left unsettled is waited for, up to the bound; else the check runs at once.
			unsettled := slices.Contains(tt.want, "payments_settled") && tt.name != "a refund of a booking kept"
			require.Equal(t, unsettled, inv.SettleSeconds >= 0.3, "waited %.2f s", inv.SettleSeconds)
			var broken []string
			for _, c := range inv.Checks {
				if !c.OK {
					broken = append(broken, c.Name)
				}
			}
			require.ElementsMatch(t, tt.want, broken, "%+v", inv.Checks)
		})
	}
	inv, err := rehearse.CheckInvariants(context.Background(), storetest.Pool(t), eventID, 0)
	require.NoError(t, err)
	for _, c := range inv.Checks {
		require.True(t, c.OK, "%+v", c)
	}
}

// syncBuffer is a bytes.Buffer the progress goroutine and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
