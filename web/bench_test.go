package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
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
