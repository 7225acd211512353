package web_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// BenchmarkJoinQueue measures joins per second through the HTTP API (auth,
// idempotency middleware, event cache, join script) on one instance. Compare
// with BenchmarkEchoBaseline from the same run: docs/BENCHMARKS.md reports the
// ratio.
func BenchmarkJoinQueue(b *testing.B) {
	e := newEnv(b)
	id := e.openEvent(1)
	const fans = 2000
	tokens := make([]string, fans)
	for i := range tokens {
		tokens[i], _ = e.fan()
	}
	path := e.srv.URL + "/api/v1/events/" + id + "/queue"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var n atomic.Int64
	b.SetParallelism(32) // 64 clients in flight on 2 cores, as a crowd would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			req, _ := http.NewRequest(http.MethodPost, path, nil)
			req.Header.Set("Authorization", "Bearer "+tokens[i%fans])
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("join: %s", resp.Status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "joins/s")
}

// BenchmarkEchoBaseline is a trivial echo JSON handler on the same machine: the
// ceiling for any API call here.
func BenchmarkEchoBaseline(b *testing.B) {
	e := echo.New()
	e.POST("/x", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(32) // 64 clients in flight on 2 cores, as a crowd would be
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(srv.URL+"/x", "application/json", strings.NewReader("{}"))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkSellOutDemo sells the demo concert's 10,000 tickets to 2,000 shoppers
// through the HTTP API of one instance: join, admission, reserve (pool quantities
// and best-available seats), pay with the test card, book. It reports the time
// from the first join to the last booking. Run it once: -benchtime 1x.
func BenchmarkSellOutDemo(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	org := storetest.Organizer(b, e.db)
	n := store.DemoConcert(store.NewID("demo"), time.Now().Add(-time.Minute))
	maxActive := 2000
	n.MaxActiveShoppers = &maxActive
	ev, err := e.db.CreateEvent(ctx, n, org.ID)
	require.NoError(b, err)
	storetest.CleanRedis(b, e.rdb, ev.ID)
	tokens := make([]string, 2000)
	for i := range tokens {
		tokens[i], _ = e.fan()
	}
	e.runController(b, ev.ID)

	b.ResetTimer()
	start := time.Now()
	var (
		wg   sync.WaitGroup
		sold atomic.Int64
	)
	for i, token := range tokens {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		wg.Go(func() { sold.Add(int64(shop(e, token, ev.ID, rng))) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(elapsed.Seconds(), "s-to-sell-out")
	b.ReportMetric(float64(sold.Load()), "tickets-sold")
	outcomes.Range(func(k, _ any) bool { b.Log(k); return true })
	var booked int
	require.NoError(b, e.db.Pool().QueryRow(ctx, `SELECT count(*) FROM tickets WHERE event_id = $1 AND status = 'BOOKED'`, ev.ID).Scan(&booked))
	require.Equal(b, int(sold.Load()), booked)
}

var outcomes sync.Map

// shop is one shopper's visit: wait for admission, then buy one party of five
// or six (demand exceeds supply), trying other zones when one has no room; it
// returns the tickets bought. Booking ends the fan's session.
func shop(e *env, token, eventID string, rng *rand.Rand) int {
	path := "/api/v1/events/" + eventID + "/queue"
	if r := e.call(http.MethodPost, path, token, nil); r.Status != http.StatusOK {
		outcomes.Store("join "+string(r.Body), true)
		return 0
	}
	for e.call(http.MethodGet, path, token, nil).JSON(e.t)["status"] != "admitted" {
		time.Sleep(100 * time.Millisecond)
	}
	qty := 5 + rng.IntN(2)
	for range 6 {
		body := map[string]any{"event_id": eventID, "zone_id": "GA", "quantity": qty}
		switch z := rng.IntN(10); {
		case z == 0:
			body = map[string]any{"event_id": eventID, "zone_id": "PIT", "quantity": qty, "best_available": true}
		case z < 4:
			body = map[string]any{"event_id": eventID, "zone_id": "VIP", "quantity": qty, "best_available": true}
		}
		r := e.call(http.MethodPost, "/api/v1/tickets/reserve", token, body)
		if r.Status != http.StatusCreated {
			outcomes.Store("reserve "+r.ErrorCode(e.t), true)
			continue
		}
		hold := r.JSON(e.t)["reservation"].(map[string]any)["id"]
		r = e.call(http.MethodPost, "/api/v1/payments", token, map[string]any{"reservation_id": hold})
		pay := r.JSON(e.t)["payment"].(map[string]any)["id"].(string)
		e.call(http.MethodPost, "/api/v1/payments/"+pay+"/confirm", token, map[string]any{"card_number": "4242424242424242"})
		r = e.call(http.MethodPost, "/api/v1/tickets/book", token, map[string]any{"reservation_id": hold, "payment_id": pay})
		if r.Status == http.StatusOK {
			return qty
		}
		outcomes.Store("book "+r.ErrorCode(e.t), true)
	}
	return 0
}

// BenchmarkLineReads compares what a page without a live socket can ask to
// follow its place, through HTTP on one instance with 2,000 fans in line: its
// own status call (GET …/queue: auth, the status script, the cached supply)
// against the line's public reading (GET …/queue/now, from the replica's
// reading of the line), and a bare echo handler as the ceiling, in one run.
// Besides requests per second it reports the Redis commands per request,
// counted by the Redis server (so run it alone). No admission step runs here,
// so the reading refreshes itself every 250 ms; in a sale each step does.
func BenchmarkLineReads(b *testing.B) {
	e := newEnv(b)
	id := e.openEvent(1)
	const fans = 2000
	tokens := make([]string, fans)
	path := e.srv.URL + "/api/v1/events/" + id + "/queue"
	for i := range tokens {
		tokens[i], _ = e.fan()
		require.Equal(b, http.StatusOK, e.call(http.MethodPost, "/api/v1/events/"+id+"/queue", tokens[i], nil).Status)
	}
	bare := echo.New()
	bare.GET("/x", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	bareSrv := httptest.NewServer(bare)
	defer bareSrv.Close()
	commands := func() int64 {
		var n int64
		for _, line := range strings.Split(e.rdb.Info(context.Background(), "stats").Val(), "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				n, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return n
	}
	for _, c := range []struct {
		name, url string
		auth      bool
	}{
		{"status", path, true},
		{"now", path + "/now", false},
		{"bare", bareSrv.URL + "/x", false},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			var n atomic.Int64
			before := commands()
			b.SetParallelism(32) // 64 clients in flight on 2 cores, as a crowd would be
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, c.url, nil)
					if c.auth {
						req.Header.Set("Authorization", "Bearer "+tokens[n.Add(1)%fans])
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: %s", c.name, resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(commands()-before-1)/float64(b.N), "redis-cmds/op")
		})
	}
}
