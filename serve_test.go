package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store/storetest"
)

// jsonLog collects a server's JSON log lines.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *jsonLog) records() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// served is a real `boxoffice serve`, run in-process on a free loopback port
// against the test database and Redis.
type served struct {
	base string
	log  *jsonLog
	// stop ends serve as SIGTERM does and returns what run returned.
	stop func() error
}

func startServe(t *testing.T, env map[string]string) *served {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":     storetest.URL(t),
		"REDIS_URL":        os.Getenv("TEST_REDIS_URL"),
		"BOXOFFICE_SECRET": strings.Repeat("s", 40),
		"BOXOFFICE_ADDR":   "127.0.0.1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	logs := &jsonLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.NewJSONHandler(logs, nil)), []string{"serve"},
			func(k string) string { return vars[k] }, io.Discard, io.Discard)
	}()
	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not stop within 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		for _, r := range logs.records() {
			if r["msg"] == "serving" {
				return &served{base: "http://" + r["addr"].(string), log: logs, stop: stop}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before serving: %v", err)
		case <-deadline:
			t.Fatal("serve did not start within 30 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *served) hostPort() string { return strings.TrimPrefix(s.base, "http://") }

// dialFrom opens a TCP connection to the server from a loopback address of its
// own (127.0.0.0/8 is all loopback), so that a flood and a health check are
// different clients.
func (s *served) dialFrom(from string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", s.hostPort())
}

// requireHealthy checks that /healthz answers 200 within a second, from
// 127.0.0.1, on a new connection each time, as a load balancer's probe does:
// it counts a replica down only after three failed tries in a row. One try
// alone can meet a reset when a flood has just taken every overflow slot
// (web/conns.go) and the server, on a machine busy with other tests, has not
// yet answered them and let them go.
func (s *served) requireHealthy(t *testing.T, what string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var failed []string
	for range 3 {
		start := time.Now()
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if len(failed) > 0 {
					t.Logf("%s: /healthz answered after %d failed tries: %v", what, len(failed), failed)
				}
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		failed = append(failed, fmt.Sprintf("%v after %s", err, time.Since(start).Round(time.Millisecond)))
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: /healthz failed three tries in a row: %v", what, failed)
}

// answered reads the status of the first answer on conn, or 0 when the server
// closed the connection without one.
func answered(conn net.Conn, wait time.Duration) int {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return -1 // still open, no answer yet
		}
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A flood of connections that send one byte of a 100 KB body and go silent is
// refused past BOXOFFICE_MAX_CONNS, the ones let in are dropped when their body
// timeout passes, and /healthz answers within a second all along (a probe's
// three tries).
func TestSlowBodyFloodAgainstServe(t *testing.T) {
	s := startServe(t, map[string]string{"BOXOFFICE_MAX_CONNS": "200", "BOXOFFICE_BODY_TIMEOUT": "3s"})
	s.requireHealthy(t, "before the flood")

	const flood = 600
	conns := make([]net.Conn, 0, flood)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range flood {
		c, err := s.dialFrom("127.0.0.2")
		require.NoError(t, err)
		conns = append(conns, c)
		_, _ = io.WriteString(c, "POST /api/v1/auth/login HTTP/1.1\r\nHost: boxoffice\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		if i%100 == 99 {
			s.requireHealthy(t, fmt.Sprintf("with %d slow bodies open", i+1))
		}
	}

	// Everything past the cap is answered 503 or closed at once; what got in
	// waits for its body, until the body timeout drops it with 408.
	first := make([]int, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { first[i] = answered(c, 2*time.Second) })
	}
	wg.Wait()
	var refused, held int
	for _, status := range first {
		switch status {
		case 0, http.StatusServiceUnavailable:
			refused++
		case -1, http.StatusRequestTimeout: // still waiting, or dropped already
			held++
		}
	}
	require.Equal(t, flood, held+refused, "each slow body is held or refused: %v", first)
	require.LessOrEqual(t, held, 200, "no more than BOXOFFICE_MAX_CONNS held")
	s.requireHealthy(t, "at the cap")

	var timedOut atomic.Int64
	for i, c := range conns {
		wg.Go(func() {
			if first[i] == http.StatusRequestTimeout || (first[i] == -1 && answered(c, 10*time.Second) == http.StatusRequestTimeout) {
				timedOut.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(held), timedOut.Load(), "every held slow body ends in 408")
	s.requireHealthy(t, "after the flood")
}

// liveUpgrade asks for a WebSocket with a bare handshake and never reads a frame;
// it returns the connection and the answer's status.
func (s *served) liveUpgrade(t *testing.T, from, eventID string) (net.Conn, int) {
	t.Helper()
	c, err := s.dialFrom(from)
	require.NoError(t, err)
	_, err = fmt.Fprintf(c, "GET /api/v1/events/%s/live HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", eventID, s.hostPort())
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Time{})
	return c, resp.StatusCode
}

// A flood of anonymous live connections that never read is refused at the
// upgrade past the per-address cap (429) and past the replica's cap (503), and
// /healthz answers within a second all along (a probe's three tries).
func TestLiveFloodAgainstServe(t *testing.T) {
	db := storetest.DB(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 10)
	s := startServe(t, map[string]string{"BOXOFFICE_MAX_LIVE": "300"}) // 200 per address by default

	statuses := map[string]map[int]int{"127.0.0.2": {}, "127.0.0.3": {}}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		for i := range 250 {
			c, status := s.liveUpgrade(t, from, ev.ID)
			conns = append(conns, c)
			statuses[from][status]++
			if i%50 == 49 {
				s.requireHealthy(t, fmt.Sprintf("with %d live connections from %s", i+1, from))
			}
		}
	}
	require.Equal(t, map[int]int{http.StatusSwitchingProtocols: 200, http.StatusTooManyRequests: 50}, statuses["127.0.0.2"])
	require.Equal(t, map[int]int{http.StatusSwitchingProtocols: 100, http.StatusServiceUnavailable: 150}, statuses["127.0.0.3"])
	s.requireHealthy(t, "at the caps")
}

// hangingProxy forwards to Redis until hang is set; from then on it accepts
// connections and reads requests but never answers: a Redis that is up and
// hung.
type hangingProxy struct {
	ln   net.Listener
	hung atomic.Bool
}

func newHangingProxy(t *testing.T, target string) *hangingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &hangingProxy{ln: ln}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.hung.Store(false); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { p.serve(c, target) })
		}
	}()
	return p
}

func (p *hangingProxy) serve(c net.Conn, target string) {
	defer c.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { // requests still go out...
		_, _ = io.Copy(up, c)
		up.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		for p.hung.Load() { // ...but while hung, answers never come back
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// A hung Redis (up, accepting, never answering) costs a request under 2 s and a
// 503 with Retry-After, not the client's patience.
func TestHungRedisFailsFast(t *testing.T) {
	db := storetest.DB(t)
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 10)
	token, err := db.CreateToken(context.Background(), storetest.Fan(t, db).ID)
	require.NoError(t, err)
	redisAddr := strings.TrimPrefix(strings.TrimSuffix(os.Getenv("TEST_REDIS_URL"), "/0"), "redis://")
	proxy := newHangingProxy(t, redisAddr)
	s := startServe(t, map[string]string{"REDIS_URL": "redis://" + proxy.ln.Addr().String() + "/0"})
	storetest.CleanRedis(t, storetest.Redis(t), ev.ID)

	call := func(method, path string) (int, http.Header, time.Duration) {
		req, err := http.NewRequest(method, s.base+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, time.Since(start)
	}
	queue := "/api/v1/events/" + ev.ID + "/queue"
	status, _, _ := call(http.MethodPost, queue)
	require.Equal(t, http.StatusOK, status, "joining while Redis answers")

	proxy.hung.Store(true)
	for _, req := range [][2]string{{http.MethodGet, queue}, {http.MethodPost, queue}, {http.MethodDelete, queue}, {http.MethodGet, queue}, {http.MethodGet, "/readyz"}} {
		status, header, took := call(req[0], req[1])
		t.Logf("hung Redis: %s %s answered %d in %s", req[0], req[1], status, took)
		require.Equal(t, http.StatusServiceUnavailable, status, "%s %s", req[0], req[1])
		require.NotEmpty(t, header.Get("Retry-After"))
		require.Less(t, took, 2*time.Second, "%s %s took %s", req[0], req[1], took)
	}
	proxy.hung.Store(false)
}

// SIGTERM drains: a request in flight when it comes still gets its answer; then
// the background loops end, live clients are told to go, and only then do the
// pools close, so no loop ever queries a closed pool.
func TestServeStopsCleanly(t *testing.T) {
	s := startServe(t, map[string]string{"BOXOFFICE_SHUTDOWN_GRACE": "10s"})
	conn, err := s.dialFrom("127.0.0.1")
	require.NoError(t, err)
	defer conn.Close()
	body := fmt.Sprintf(`{"name":"Late","email":"%s@example.com","password":"correct-horse"}`, strings.ToLower(strings.Repeat("x", 8)+fmt.Sprint(time.Now().UnixNano())))
	head := fmt.Sprintf("POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	_, err = conn.Write([]byte(head + body[:10]))
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // the request is in the server's hands

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	require.Eventually(t, func() bool { return s.logged("shutting down") }, 10*time.Second, 10*time.Millisecond)
	_, err = conn.Write([]byte(body[10:]))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, answered(conn, 10*time.Second), "the request in flight is answered")
	require.NoError(t, <-stopped)

	var order []string
	for _, r := range s.log.records() {
		msg, _ := r["msg"].(string)
		require.NotContains(t, strings.ToLower(fmt.Sprint(r)), "closed pool", "a loop ran after the pool closed: %v", r)
		switch {
		case msg == "shutting down" || msg == "background loops ended" || msg == "stopped":
			order = append(order, msg)
		case len(order) >= 2:
			t.Errorf("logged after the loops ended: %v", r)
		}
	}
	// "stopped" is logged once the pools are closed.
	require.Equal(t, []string{"shutting down", "background loops ended", "stopped"}, order)
}

func (s *served) logged(msg string) bool {
	for _, r := range s.log.records() {
		if r["msg"] == msg {
			return true
		}
	}
	return false
}

// The profiler is off unless BOXOFFICE_DEBUG_ADDR names an address, and then
// it is served there only, never on the API's address.
func TestProfilerOnlyOnItsOwnAddress(t *testing.T) {
	t.Parallel()
	status := func(url string) int {
		resp, err := http.Get(url)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	off := startServe(t, nil)
	require.Equal(t, http.StatusNotFound, status(off.base+"/debug/pprof/"))
	for _, r := range off.log.records() {
		require.NotEqual(t, "profiler", r["msg"])
	}

	on := startServe(t, map[string]string{"BOXOFFICE_DEBUG_ADDR": "127.0.0.1:0"})
	var addr string
	for _, r := range on.log.records() {
		if r["msg"] == "profiler" {
			addr = r["addr"].(string)
		}
	}
	require.NotEmpty(t, addr, "no profiler address logged")
	require.Equal(t, http.StatusOK, status("http://"+addr+"/debug/pprof/"))
	require.Equal(t, http.StatusOK, status("http://"+addr+"/debug/pprof/goroutine?debug=1"))
	require.Equal(t, http.StatusNotFound, status(on.base+"/debug/pprof/"))
}
