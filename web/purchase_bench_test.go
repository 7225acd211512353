package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// The whole purchase, measured the way a fan lives it: through HTTP, with an
// Idempotency-Key on every write as the pages send, by purchaseClients fans at
// once, until the event is sold out. Fans are admitted from the line before the
// clock starts (the line's own cost is BenchmarkJoinQueue's), so each purchase is
// reserve → pay → confirm → book. Beside it, in the same run, the plain design
// behind the same HTTP stack (echo) on the same database, with no waiting room
// and no payment step: one transaction holds the next available tickets with
// SELECT … FOR UPDATE, a second books them. "plain-skip-locked" is the plain
// design at its best (SKIP LOCKED: concurrent holds never wait on each other's
// rows), for an honest second ratio. docs/BENCHMARKS.md gives both.
//
//	go test -run '^$' -bench Purchase -benchtime 1x ./web/
const (
	purchaseClients = 200
	purchaseSeats   = 2000 // 20 rows of 100
)

// BenchmarkPurchase: seats, one per purchase, best available.
func BenchmarkPurchase(b *testing.B) {
	b.Run("boxoffice", func(b *testing.B) { benchBoxoffice(b, "VIP", 1) })
	b.Run("plain", func(b *testing.B) { benchPlain(b, "VIP", 1, false) })
	b.Run("plain-skip-locked", func(b *testing.B) { benchPlain(b, "VIP", 1, true) })
}

// BenchmarkPurchaseGA: a general-admission pool of 2,000 in parties of four.
func BenchmarkPurchaseGA(b *testing.B) {
	b.Run("boxoffice", func(b *testing.B) { benchBoxoffice(b, "GA", 4) })
	b.Run("plain", func(b *testing.B) { benchPlain(b, "GA", 4, false) })
	b.Run("plain-skip-locked", func(b *testing.B) { benchPlain(b, "GA", 4, true) })
}

// purchaseEvent is an event on sale now whose one zone has purchaseSeats tickets.
func purchaseEvent(b *testing.B, e *env, zone string) *store.Event {
	b.Helper()
	org := storetest.Organizer(b, e.db)
	var ev *store.Event
	if zone == "GA" {
		ev = storetest.Event(b, e.db, org.ID, purchaseSeats)
	} else {
		rows := make([]store.Row, purchaseSeats/100)
		for i := range rows {
			rows[i] = store.Row{Row: strconv.Itoa(i + 1), Seats: 100}
		}
		ev = storetest.Event(b, e.db, org.ID, 0, rows...)
	}
	// Every fan is admitted before the clock starts.
	maxActive, rate := purchaseSeats, purchaseSeats
	ev, err := e.db.UpdateEvent(context.Background(), ev.ID, store.Settings{MaxActiveShoppers: &maxActive, AdmissionRate: &rate})
	require.NoError(b, err)
	storetest.CleanRedis(b, e.rdb, ev.ID)
	return ev
}

// latencies keeps each call's durations.
type latencies struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (l *latencies) add(call string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string][]time.Duration{}
	}
	l.by[call] = append(l.by[call], d)
}

func (l *latencies) report(b *testing.B) {
	for call, ds := range l.by {
		slices.Sort(ds)
		p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
		b.ReportMetric(p(0.5), call+"-p50-ms")
		b.ReportMetric(p(0.99), call+"-p99-ms")
	}
}

// client is a fan's HTTP client: one call, timed, decoded.
type benchClient struct {
	http  *http.Client
	base  string
	token string
	lat   *latencies
	keys  bool // send an Idempotency-Key on writes, as the pages do
}

func (c *benchClient) call(name, method, path string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.keys && method != http.MethodGet {
		req.Header.Set("Idempotency-Key", store.NewID("key"))
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.lat.add(name, time.Since(start))
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return resp.StatusCode, m
}

// sellOut runs purchaseClients workers, each buying for the next fan until
// buy says the event is sold out, and reports purchases and tickets per second.
func sellOut(b *testing.B, e *env, fans int, buy func(fan int) (sold bool, done bool)) {
	var (
		next      atomic.Int64
		purchases atomic.Int64
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	trips, redisTrips := storetest.RoundTrips(), storetest.RedisRoundTrips()
	cpu := cpuNow(b, e)
	start := time.Now()
	for range purchaseClients {
		wg.Go(func() {
			for {
				fan := int(next.Add(1)) - 1
				if fan >= fans {
					return
				}
				sold, done := buy(fan)
				if sold {
					purchases.Add(1)
				}
				if done {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(purchases.Load())/elapsed.Seconds(), "purchases/s")
	b.ReportMetric(elapsed.Seconds(), "s-to-sell-out")
	b.ReportMetric(float64(storetest.RoundTrips()-trips)/float64(purchases.Load()), "pg-round-trips/purchase")
	b.ReportMetric(float64(storetest.RedisRoundTrips()-redisTrips)/float64(purchases.Load()), "redis-round-trips/purchase")
	used := cpuNow(b, e)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(purchases.Load()) }
	b.ReportMetric(per(used.process-cpu.process), "go-cpu-ms/purchase")
	b.ReportMetric(per(used.postgres-cpu.postgres), "pg-cpu-ms/purchase")
	b.ReportMetric(per(used.redis-cpu.redis), "redis-cpu-ms/purchase")
}

// cpuUse is the processor time used so far by this process (the server, and
// the clients too, which is why the figure is named go- and not server-), by the PostgreSQL backends serving the test database, and by
// Redis (the whole server: other work on it counts too).
type cpuUse struct{ process, postgres, redis time.Duration }

func cpuNow(b *testing.B, e *env) cpuUse {
	b.Helper()
	ctx := context.Background()
	var u cpuUse
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	u.process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	rows, err := storetest.Pool(b).Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	require.NoError(b, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(b, err)
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // ended meanwhile, or PostgreSQL runs elsewhere
		}
		// utime and stime are fields 14 and 15, in clock ticks (100 a second
		// on Linux), after the command name in parentheses.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.postgres += time.Duration(ut+st) * 10 * time.Millisecond
	}
	info, err := e.rdb.Info(ctx, "cpu").Result()
	require.NoError(b, err)
	for _, line := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			secs, _ := strconv.ParseFloat(v, 64)
			u.redis += time.Duration(secs * float64(time.Second))
		}
	}
	return u
}

func benchBoxoffice(b *testing.B, zone string, party int) {
	// The sale's listing of events on sale at the app's own pace (the tests'
	// 100 ms would count the event's tickets ten times a second).
	e := newEnvWith(b, envParts{every: app.Intervals{Listing: 2 * time.Second}})
	ev := purchaseEvent(b, e, zone)
	fans := purchaseSeats / party
	tokens := make([]string, fans)
	for i := range tokens {
		tokens[i], _ = e.fan()
	}
	admitAll(b, e, ev.ID, tokens)

	lat := &latencies{}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: purchaseClients}}
	reserve := map[string]any{"event_id": ev.ID, "zone_id": zone, "quantity": party}
	if zone != "GA" {
		reserve["best_available"] = true
	}
	sellOut(b, e, fans, func(fan int) (bool, bool) {
		c := &benchClient{http: httpc, base: e.srv.URL, token: tokens[fan], lat: lat, keys: true}
		status, m := c.call("reserve", http.MethodPost, "/api/v1/tickets/reserve", reserve)
		if status == http.StatusConflict {
			return false, true // sold out
		}
		if status != http.StatusCreated {
			b.Errorf("reserve: %d %v", status, m)
			return false, true
		}
		hold := field(m, "reservation", "id")
		status, m = c.call("pay", http.MethodPost, "/api/v1/payments", map[string]any{"reservation_id": hold})
		if status != http.StatusCreated {
			b.Errorf("pay: %d %v", status, m)
			return false, true
		}
		pay := field(m, "payment", "id")
		if status, m = c.call("confirm", http.MethodPost, "/api/v1/payments/"+pay+"/confirm", map[string]any{"card_number": "4242424242424242"}); status != http.StatusOK {
			b.Errorf("confirm: %d %v", status, m)
			return false, true
		}
		if status, m = c.call("book", http.MethodPost, "/api/v1/tickets/book", map[string]any{"reservation_id": hold, "payment_id": pay}); status != http.StatusOK {
			b.Errorf("book: %d %v", status, m)
			return false, true
		}
		return true, false
	})
	lat.report(b)
	requireSoldOnce(b, e, ev.ID, purchaseSeats)
}

// admitAll puts every fan in line and waits until each one is admitted and
// has claimed the session (a status call claims it).
func admitAll(b *testing.B, e *env, eventID string, tokens []string) {
	b.Helper()
	e.runController(b, eventID)
	line := "/api/v1/events/" + eventID + "/queue"
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range 50 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(tokens); i = int(next.Add(1)) - 1 {
				c := &benchClient{http: httpc, base: e.srv.URL, token: tokens[i], lat: &latencies{}}
				if status, _ := c.call("join", http.MethodPost, line, nil); status != http.StatusOK {
					b.Errorf("join: %d", status)
					return
				}
				for {
					status, m := c.call("status", http.MethodGet, line, nil)
					if status != http.StatusOK {
						b.Errorf("status: %d %v", status, m)
						return
					}
					if m["status"] == "admitted" {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

var errRetry = errors.New("retry")

// requireSoldOnce checks in SQL that every ticket was booked exactly once, and
// that the zone adds up.
func requireSoldOnce(b *testing.B, e *env, eventID string, want int) {
	b.Helper()
	ctx := context.Background()
	var booked, doubles, links int
	require.NoError(b, e.db.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'BOOKED') FROM tickets WHERE event_id = $1`, eventID).Scan(&booked))
	require.NoError(b, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM (SELECT bt.ticket_id FROM booking_tickets bt JOIN tickets t ON t.id = bt.ticket_id
		WHERE t.event_id = $1 AND bt.active GROUP BY bt.ticket_id HAVING count(*) > 1) d`, eventID).Scan(&doubles))
	require.NoError(b, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM booking_tickets bt JOIN tickets t ON t.id = bt.ticket_id WHERE t.event_id = $1 AND bt.active`, eventID).Scan(&links))
	var unsettled int
	require.NoError(b, e.db.Pool().QueryRow(ctx, `
		SELECT count(*) FROM payments p WHERE p.event_id = $1 AND p.status = 'succeeded'
		AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.payment_id = p.id AND b.status = 'CONFIRMED')`, eventID).Scan(&unsettled))
	require.Zero(b, unsettled, "succeeded payments without a booking")
	require.Equal(b, want, booked, "sold out")
	require.Zero(b, doubles, "a ticket booked twice")
	require.Equal(b, booked, links, "every booked ticket in one booking")
}

// benchPlain is the plain design behind echo on the same database: POST /hold
// takes the next available tickets with SELECT … FOR UPDATE (SKIP LOCKED with
// skipLocked) and writes the hold in one transaction; POST /book books them in
// a second. Without SKIP LOCKED, concurrent holds queue on the same next rows,
// and one that finds them taken when its turn comes tries again.
func benchPlain(b *testing.B, zone string, party int, skipLocked bool) {
	e := newEnv(b)
	ev := purchaseEvent(b, e, zone)
	fans := purchaseSeats / party
	users := make([]string, fans)
	for i := range users {
		_, users[i] = e.fan()
	}
	pool := e.db.Pool()
	lock := "FOR UPDATE"
	if skipLocked {
		lock = "FOR UPDATE SKIP LOCKED"
	}
	api := echo.New()
	api.POST("/hold", func(c echo.Context) error {
		var r struct{ User string }
		if err := c.Bind(&r); err != nil {
			return err
		}
		id := store.NewID("hld")
		ctx := c.Request().Context()
		for {
			var left int
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, `
					SELECT id FROM tickets WHERE event_id = $1 AND zone_id = $2 AND status = 'AVAILABLE'
					ORDER BY number LIMIT $3 `+lock, ev.ID, zone, party)
				if err != nil {
					return err
				}
				ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err != nil {
					return err
				}
				if len(ids) < party {
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE event_id = $1 AND zone_id = $2 AND status = 'AVAILABLE'`,
						ev.ID, zone).Scan(&left); err != nil {
						return err
					}
					if left < party {
						return echo.NewHTTPError(http.StatusConflict, "sold out")
					}
					return errRetry // the rows it waited for were taken: look again
				}
				if _, err := tx.Exec(ctx, `
					INSERT INTO holds (id, event_id, zone_id, user_id, amount_cents, expires_at)
					VALUES ($1, $2, $3, $4, 0, now() + interval '10 minutes')`, id, ev.ID, zone, r.User); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE tickets SET status = 'RESERVED', hold_id = $1 WHERE id = ANY($2)`, id, ids); err != nil {
					return err
				}
				_, err = tx.Exec(ctx, `INSERT INTO hold_tickets (hold_id, ticket_id) SELECT $1, unnest($2::bigint[])`, id, ids)
				return err
			})
			if errors.Is(err, errRetry) {
				continue
			}
			if err != nil {
				return err
			}
			return c.JSON(http.StatusCreated, map[string]string{"hold_id": id})
		}
	})
	api.POST("/book", func(c echo.Context) error {
		var r struct{ Hold, User string }
		if err := c.Bind(&r); err != nil {
			return err
		}
		id := store.NewID("bkg")
		ctx := c.Request().Context()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `
				INSERT INTO payments (id, event_id, user_id, provider, amount_cents, currency, status)
				VALUES ($1, $2, $3, 'plain', 0, 'usd', 'succeeded')`, id, ev.ID, r.User); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO bookings (id, event_id, user_id, payment_id, amount_cents) VALUES ($1, $2, $3, $1, 0)`,
				id, ev.ID, r.User); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE tickets SET status = 'BOOKED', booking_id = $2 WHERE hold_id = $1 AND status = 'RESERVED'`, r.Hold, id)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != int64(party) {
				return fmt.Errorf("booked %d tickets, want %d", tag.RowsAffected(), party)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO booking_tickets (booking_id, ticket_id) SELECT $1, ticket_id FROM hold_tickets WHERE hold_id = $2`, id, r.Hold); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE hold_tickets SET active = false WHERE hold_id = $1`, r.Hold); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE holds SET status = 'BOOKED', booking_id = $2, ended_at = now() WHERE id = $1`, r.Hold, id)
			return err
		})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"booking_id": id})
	})
	srv := httptest.NewServer(api)
	defer srv.Close()

	lat := &latencies{}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: purchaseClients}}
	sellOut(b, e, fans, func(fan int) (bool, bool) {
		c := &benchClient{http: httpc, base: srv.URL, lat: lat}
		status, m := c.call("hold", http.MethodPost, "/hold", map[string]string{"user": users[fan]})
		if status == http.StatusConflict {
			return false, true
		}
		if status != http.StatusCreated {
			b.Errorf("hold: %d %v", status, m)
			return false, true
		}
		hold, _ := m["hold_id"].(string)
		if status, m = c.call("book", http.MethodPost, "/book", map[string]string{"hold": hold, "user": users[fan]}); status != http.StatusOK {
			b.Errorf("book: %d %v", status, m)
			return false, true
		}
		return true, false
	})
	lat.report(b)
	requireSoldOnce(b, e, ev.ID, purchaseSeats)
}
