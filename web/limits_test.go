package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

// rates is a shared rate limiter under a key prefix of the test's own.
func rates(t *testing.T) *ratelimit.Limiter {
	t.Helper()
	rdb := storetest.Redis(t)
	prefix := store.NewID("rltest")
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	})
	return ratelimit.New(rdb, prefix)
}

func withLimits(l web.Limits) func(*web.Config) {
	return func(c *web.Config) { c.Limits = l }
}

// loopback trusts the test's own client as a proxy, so that X-Forwarded-For can
// play clients at other addresses.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func retryAfter(t *testing.T, r response) int {
	t.Helper()
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.Header.Get("Retry-After"))
	require.Positive(t, secs)
	return secs
}

// A guesser's 100 wrong passwords end in 429 with a growing back-off, without
// costing a bcrypt comparison each; meanwhile another account signs in from the
// same address as if nothing happened, and the owner gets in once the lock ends.
func TestSignInBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(web.Limits{Rates: rates(t),
		SignIn:        ratelimit.Rate{Count: 300, Per: time.Minute},
		SignInBackoff: ratelimit.Backoff{Free: 10, First: time.Second, Longest: 15 * time.Minute, Forget: 24 * time.Hour}}))
	victim, other := storetest.Fan(t, e.db), storetest.Fan(t, e.db)
	session, err := e.db.CreateToken(context.Background(), victim.ID)
	require.NoError(t, err)
	login := func(email, password string) response {
		return e.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}

	var statuses []int
	var last response
	for range 100 {
		last = login(victim.Email, "guess-guess")
		statuses = append(statuses, last.Status)
	}
	for i := range 10 {
		require.Equal(t, http.StatusUnauthorized, statuses[i], "guess %d is answered", i+1)
	}
	refused := 0
	for _, s := range statuses {
		if s == http.StatusTooManyRequests {
			refused++
		}
	}
	require.GreaterOrEqual(t, refused, 80, "guesses after the tenth are refused: %v", statuses)
	require.Equal(t, http.StatusTooManyRequests, last.Status)
	require.Equal(t, "rate_limited", last.ErrorCode(t))
	wait := retryAfter(t, last)

	r := login(victim.Email, "fan-password")
	require.Equal(t, http.StatusTooManyRequests, r.Status, "the right password waits out the lock too")
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/api/v1/me", session, nil).Status, "the owner's open session works on")
	nobody := store.NewID("nobody") + "@example.com"
	for i := range 11 {
		r := login(nobody, "guess-guess")
		if i < 10 {
			require.Equal(t, http.StatusUnauthorized, r.Status)
		} else {
			require.Equal(t, http.StatusTooManyRequests, r.Status, "an unknown email locks like a known one")
		}
	}
	r = login(other.Email, "fan-password")
	require.Equal(t, http.StatusOK, r.Status, "another account at the same address: %s", r.Body)

	// Each failure after the lock doubles it.
	time.Sleep(time.Duration(wait) * time.Second)
	require.Eventually(t, func() bool { last = login(victim.Email, "guess-again"); return last.Status == http.StatusUnauthorized },
		5*time.Second, 100*time.Millisecond)
	r = login(victim.Email, "fan-password")
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	longer := retryAfter(t, r)
	require.Greater(t, longer, wait, "the back-off grows")

	time.Sleep(time.Duration(longer) * time.Second)
	require.Eventually(t, func() bool { return login(victim.Email, "fan-password").Status == http.StatusOK },
		5*time.Second, 100*time.Millisecond, "the owner gets in after the lock")
	require.Equal(t, http.StatusUnauthorized, login(victim.Email, "guess").Status, "a success forgets the failures")
}

// Sign-ups and line joins are limited per client address, as the trusted proxy
// tells it; a client that is not a trusted proxy cannot pose as other addresses.
// A refusal is not kept as an Idempotency-Key's answer.
func TestAddressLimits(t *testing.T) {
	t.Parallel()
	limiter := rates(t)
	e := newEnv(t, withLimits(web.Limits{Rates: limiter, TrustedProxies: loopback,
		SignUp: ratelimit.Rate{Count: 3, Per: 3 * time.Second}, Join: ratelimit.Rate{Count: 3, Per: time.Hour}}))
	signUp := func(headers ...string) response {
		return e.call(http.MethodPost, "/api/v1/users", "", map[string]string{
			"name": "Fan", "email": store.NewID("fan") + "@example.com", "password": "fan-password"}, headers...)
	}
	for range 3 {
		require.Equal(t, http.StatusCreated, signUp("X-Forwarded-For", "198.51.100.7").Status)
	}
	r := signUp("X-Forwarded-For", "198.51.100.7", "Idempotency-Key", "k1")
	require.Equal(t, http.StatusTooManyRequests, r.Status)
	require.Equal(t, "rate_limited", r.ErrorCode(t))
	retryAfter(t, r)
	require.Equal(t, http.StatusCreated, signUp("X-Forwarded-For", "198.51.100.8").Status, "another address")
	require.Eventually(t, func() bool {
		return signUp("X-Forwarded-For", "198.51.100.7", "Idempotency-Key", "k1").Status == http.StatusCreated
	}, 5*time.Second, 200*time.Millisecond, "the allowance refills, and the key's refusal was not kept")

	// Without X-Forwarded-For, the trusted proxy's X-Real-IP names the client.
	for range 3 {
		require.Equal(t, http.StatusCreated, signUp("X-Real-IP", "198.51.100.9").Status)
	}
	require.Equal(t, http.StatusTooManyRequests, signUp("X-Real-IP", "198.51.100.9").Status)
	require.Equal(t, http.StatusCreated, signUp("X-Real-IP", "198.51.100.10").Status)

	// Line joins: three per address here.
	id := e.openEvent(10)
	for i := range 4 {
		token := signedIn(t, e)
		r := e.call(http.MethodPost, "/api/v1/events/"+id+"/queue", token, nil, "X-Forwarded-For", "203.0.113.5")
		if i < 3 {
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		} else {
			require.Equal(t, http.StatusTooManyRequests, r.Status)
		}
	}

	// Without trust in the peer, X-Forwarded-For is the client's word and is
	// ignored: every sign-up counts against the peer's own address.
	direct := newEnv(t, withLimits(web.Limits{Rates: limiter, SignUp: ratelimit.Rate{Count: 3, Per: time.Hour}}))
	var last int
	for i := range 4 {
		last = direct.call(http.MethodPost, "/api/v1/users", "", map[string]string{
			"name": "Fan", "email": store.NewID("fan") + "@example.com", "password": "fan-password"},
			"X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i), "X-Real-IP", fmt.Sprintf("192.0.2.%d", i)).Status
	}
	require.Equal(t, http.StatusTooManyRequests, last)
}

// signedIn is a new fan's token, made without the API's sign-up limit.
func signedIn(t *testing.T, e *env) string {
	t.Helper()
	token, err := e.db.CreateToken(context.Background(), storetest.Fan(t, e.db).ID)
	require.NoError(t, err)
	return token
}

// dialStatus opens a live connection as the client at addr and returns the
// connection, or the refusal's status and body.
func dialStatus(t *testing.T, e *env, eventID, token, addr string) (*websocket.Conn, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := strings.Replace(e.srv.URL, "http://", "ws://", 1) + "/api/v1/events/" + eventID + "/live?token=" + token
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"X-Forwarded-For": {addr}}})
	if err == nil {
		t.Cleanup(func() { conn.CloseNow() })
		return conn, http.StatusSwitchingProtocols, ""
	}
	require.NotNil(t, resp, "dial: %v", err)
	body, _ := io.ReadAll(resp.Body)
	return nil, resp.StatusCode, string(body)
}

// Live connections are capped per anonymous address, per fan and per replica,
// refused at the upgrade (429, 503) with the error envelope; a closed one gives
// its place back.
func TestLiveCaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(web.Limits{LivePerAddress: 2, LivePerFan: 2, MaxLive: 5, TrustedProxies: loopback}))
	id := e.openEvent(1)
	first, status, _ := dialStatus(t, e, id, "", "198.51.100.1")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	_, status, _ = dialStatus(t, e, id, "", "198.51.100.1")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	_, status, body := dialStatus(t, e, id, "", "198.51.100.1")
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, body, `"code":"rate_limited"`)
	raw, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer raw.Close()
	fmt.Fprintf(raw, "GET /api/v1/events/%s/live HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n", id)
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(raw), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.True(t, resp.Close, "a refused connection is not kept open")

	first.CloseNow()
	require.Eventually(t, func() bool {
		_, status, _ := dialStatus(t, e, id, "", "198.51.100.1")
		return status == http.StatusSwitchingProtocols
	}, 5*time.Second, 50*time.Millisecond, "a closed connection gives its place back")

	// A signed-in fan has their own cap, whatever the address.
	fan, _ := e.fan()
	for i := range 3 {
		_, status, _ := dialStatus(t, e, id, fan, fmt.Sprintf("203.0.113.%d", i))
		if i < 2 {
			require.Equal(t, http.StatusSwitchingProtocols, status)
		} else {
			require.Equal(t, http.StatusTooManyRequests, status)
		}
	}
	// Four open; the fifth fills the replica.
	_, status, _ = dialStatus(t, e, id, "", "198.51.100.2")
	require.Equal(t, http.StatusSwitchingProtocols, status)
	_, status, body = dialStatus(t, e, id, "", "198.51.100.3")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Contains(t, body, `"code":"unavailable"`)

	metrics := string(e.call(http.MethodGet, "/metrics", "", nil).Body)
	require.Contains(t, metrics, `boxoffice_refused_total{limit="live_per_address"} `)
	require.Contains(t, metrics, `boxoffice_refused_total{limit="live_per_fan"} 1`)
	require.Contains(t, metrics, `boxoffice_refused_total{limit="max_live"} 1`)
	require.Contains(t, metrics, "\nboxoffice_live_connections 5\n", "the replica's open live connections")
}

// An IPv6 client is its /64: the addresses a subscriber's devices pick from one
// prefix share one allowance.
func TestLiveCapsIPv6Prefix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(web.Limits{LivePerAddress: 2, TrustedProxies: loopback}))
	id := e.openEvent(1)
	for _, addr := range []string{"2001:db8::1", "2001:db8::2:3"} {
		_, status, _ := dialStatus(t, e, id, "", addr)
		require.Equal(t, http.StatusSwitchingProtocols, status, addr)
	}
	_, status, _ := dialStatus(t, e, id, "", "2001:db8::ffff")
	require.Equal(t, http.StatusTooManyRequests, status, "the same /64")
	_, status, _ = dialStatus(t, e, id, "", "2001:db8:0:1::1")
	require.Equal(t, http.StatusSwitchingProtocols, status, "the next /64")
}

// JSON routes take only JSON bodies: text/plain (what a cross-site form may
// send unasked) and a body without a Content-Type are 415; Stripe's webhook
// keeps Stripe's content type.
func TestJSONBodiesOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := func() string {
		return `{"name":"Fan","email":"` + store.NewID("fan") + `@example.com","password":"fan-password"}`
	}
	for _, ct := range []string{"text/plain", "", "application/x-www-form-urlencoded", "application/jsonx"} {
		r := e.call(http.MethodPost, "/api/v1/users", "", body(), "Content-Type", ct)
		require.Equal(t, http.StatusUnsupportedMediaType, r.Status, "Content-Type %q", ct)
		require.Equal(t, "unsupported_media_type", r.ErrorCode(t))
	}
	r := e.call(http.MethodPost, "/api/v1/users", "", body(), "Content-Type", "application/json; charset=utf-8")
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	token := r.JSON(t)["token"].(string)
	require.Equal(t, http.StatusNoContent, e.call(http.MethodPost, "/api/v1/auth/logout", token, nil, "Content-Type", "").Status,
		"a bodiless write needs no Content-Type")
	r = e.call(http.MethodPost, "/api/v1/webhooks/stripe", "", "{}", "Content-Type", "text/plain")
	require.NotEqual(t, http.StatusUnsupportedMediaType, r.Status)
}

// HEAD answers every GET route as GET would, without the body.
func TestHeadOnGetRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.openEvent(1)
	for _, path := range []string{"/healthz", "/readyz", "/api/v1/events", "/api/v1/events/" + id, "/api/v1/openapi.yaml", "/api/v1/events/nope",
		"/api/v1/tickets/reserve"} {
		get := e.call(http.MethodGet, path, "", nil)
		head := e.call(http.MethodHead, path, "", nil)
		require.Equal(t, get.Status, head.Status, path)
		require.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"), path)
		require.Equal(t, get.Header.Get("Content-Length"), head.Header.Get("Content-Length"), path)
		require.Empty(t, head.Body, path)
	}
}

// logRecords is a JSON log the test reads back.
type logRecords struct{ logBuffer }

func (l *logRecords) all(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.buf.String()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line %s", sc.Text())
		out = append(out, m)
	}
	return out
}

func withLog(l *logRecords) func(*web.Config) {
	return func(c *web.Config) { c.Log = slog.New(slog.NewJSONHandler(l, nil)) }
}

// Every request is one access line: method, route, status, duration, request
// id and user id.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	e := newEnv(t, withLog(logs))
	token, userID := e.fan()
	me := e.call(http.MethodGet, "/api/v1/me", token, nil, "X-Request-Id", "req-me-1")
	require.Equal(t, http.StatusOK, me.Status)
	e.call(http.MethodHead, "/api/v1/events", "", nil, "X-Request-Id", "req-head-1")
	e.call(http.MethodGet, "/api/v1/nowhere", "", nil, "X-Request-Id", "req-404-1")

	lines := map[string][]map[string]any{}
	for _, m := range logs.all(t) {
		if m["msg"] == "request" {
			id, _ := m["request_id"].(string)
			lines[id] = append(lines[id], m)
		}
	}
	require.Len(t, lines["req-me-1"], 1)
	line := lines["req-me-1"][0]
	require.Equal(t, "INFO", line["level"])
	require.Equal(t, "GET", line["method"])
	require.Equal(t, "/api/v1/me", line["route"])
	require.Equal(t, 200.0, line["status"])
	require.Equal(t, userID, line["user_id"])
	require.IsType(t, 0.0, line["duration_ms"])
	require.Len(t, lines["req-head-1"], 1)
	require.Equal(t, "HEAD", lines["req-head-1"][0]["method"])
	require.Len(t, lines["req-404-1"], 1)
	require.Equal(t, 404.0, lines["req-404-1"][0]["status"])
}

// A dependency that cannot be reached is an expected outage: every request gets
// 503 with Retry-After, and the log gets one warning, not one ERROR per request.
func TestOutageIsOneWarning(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	down := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{closedAddr(t)}, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { down.Close() })
	e := newEnv(t, withLog(logs), func(c *web.Config) {
		c.Queue = queue.New(down, time.Now)
		c.Sale = sale.New(sale.Config{Queue: queue.New(down, time.Now), Inventory: inventory.New(down, time.Now, queue.ActiveKey),
			Store: storetest.DB(t), Redis: down, Log: slog.New(slog.DiscardHandler)})
		c.PingRedis = func(ctx context.Context) error { return down.Ping(ctx).Err() }
	})
	id := e.openEvent(1)
	for range 50 {
		for _, route := range []string{"queue/audit", "queue/now"} {
			r := e.call(http.MethodGet, "/api/v1/events/"+id+"/"+route, "", nil)
			require.Equal(t, http.StatusServiceUnavailable, r.Status, "%s: %s", route, r.Body)
			require.Equal(t, "unavailable", r.ErrorCode(t))
			require.NotEmpty(t, r.Header.Get("Retry-After"))
			require.Empty(t, r.Header.Get("Cache-Control"), "%s: an outage is not for caching", route)
		}
	}
	r := e.call(http.MethodGet, "/readyz", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	require.Equal(t, map[string]any{"postgres": "ok", "redis": "unreachable"}, r.JSON(t), "the dependency, never its error text")

	warnings := 0
	for _, m := range logs.all(t) {
		require.NotEqual(t, "ERROR", m["level"], "%v", m)
		if m["level"] == "WARN" && m["msg"] == "dependency unavailable: answering 503" {
			warnings++
		}
	}
	require.Equal(t, 1, warnings)
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A body that does not arrive within BodyTimeout is answered 408 and its
// connection closed.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(web.Limits{BodyTimeout: 300 * time.Millisecond}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"code":"request_timeout"`)
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the connection is closed")

	// A body that arrives whole is unaffected.
	r := e.call(http.MethodPost, "/api/v1/users", "", map[string]string{
		"name": "Fan", "email": store.NewID("fan") + "@example.com", "password": "fan-password"})
	require.Equal(t, http.StatusCreated, r.Status)
}

// When Redis cannot be asked, the rate limits let requests through, each look
// cut short: a Redis outage locks nobody out.
func TestRateLimitsFailOpen(t *testing.T) {
	t.Parallel()
	hung, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	require.NoError(t, err)
	t.Cleanup(func() { hung.Close() })
	for name, addr := range map[string]string{"down": closedAddr(t), "hung": hung.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
			t.Cleanup(func() { rdb.Close() })
			logs := &logRecords{}
			e := newEnv(t, withLog(logs), withLimits(web.Limits{Rates: ratelimit.New(rdb, "rl"),
				SignIn: ratelimit.Rate{Count: 1, Per: time.Hour}, SignUp: ratelimit.Rate{Count: 1, Per: time.Hour},
				SignInBackoff: ratelimit.Backoff{Free: 1, First: time.Hour, Longest: time.Hour, Forget: time.Hour}}))
			for range 3 {
				start := time.Now()
				r := e.call(http.MethodPost, "/api/v1/users", "", map[string]string{
					"name": "Fan", "email": store.NewID("fan") + "@example.com", "password": "fan-password"})
				require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
				require.Less(t, time.Since(start), time.Second)
				email := r.JSON(t)["user"].(map[string]any)["email"].(string)
				require.Equal(t, http.StatusUnauthorized, e.call(http.MethodPost, "/api/v1/auth/login", "",
					map[string]string{"email": email, "password": "wrong-password"}).Status)
				require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/api/v1/auth/login", "",
					map[string]string{"email": email, "password": "fan-password"}).Status)
			}
			warned := 0
			for _, m := range logs.all(t) {
				if m["msg"] == "rate limits unavailable: letting requests through" {
					warned++
				}
			}
			require.Equal(t, 1, warned, "one throttled warning")
		})
	}
}

// Past MaxConns a replica still answers health checks, and everything else 503
// on a connection it closes.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withLimits(web.Limits{MaxConns: 1}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := e.api.HTTPServer(context.Background())
	require.Equal(t, 10*time.Second, srv.ReadHeaderTimeout)
	require.Equal(t, 2*time.Minute, srv.IdleTimeout)
	go func() { _ = srv.Serve(e.api.Listener(ln)) }()
	t.Cleanup(func() { srv.Close() })

	get := func(path string) (*http.Response, string) {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + ln.Addr().String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, _ := get("/api/v1/events")
	require.Equal(t, http.StatusOK, resp.StatusCode, "under the cap")

	held, err := net.Dial("tcp", ln.Addr().String()) // the one connection the cap allows
	require.NoError(t, err)
	t.Cleanup(func() { held.Close() })
	require.Eventually(t, func() bool {
		resp, _ := get("/api/v1/events")
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 5*time.Second, 20*time.Millisecond)
	resp, body := get("/api/v1/events")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, body, `"code":"unavailable"`)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, _ := get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.Contains(t, string(e.call(http.MethodGet, "/metrics", "", nil).Body), `boxoffice_refused_total{limit="busy"}`)

	held.Close()
	require.Eventually(t, func() bool {
		resp, _ := get("/api/v1/events")
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 20*time.Millisecond, "a closed connection gives its place back")
}

// Throttle passes one record per message per interval and tells the next how
// many it left out.
func TestThrottle(t *testing.T) {
	t.Parallel()
	logs := &logRecords{}
	h := web.Throttle(slog.NewJSONHandler(logs, nil), 10*time.Second)
	at := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	for i, d := range []time.Duration{0, time.Second, 9 * time.Second, 11 * time.Second} {
		require.NoError(t, h.Handle(context.Background(), slog.NewRecord(at.Add(d), slog.LevelWarn, "redis down", 0)), i)
		require.NoError(t, h.Handle(context.Background(), slog.NewRecord(at.Add(d), slog.LevelWarn, "postgres down", 0)), i)
	}
	var got []string
	for _, m := range logs.all(t) {
		got = append(got, fmt.Sprintf("%s %v", m["msg"], m["suppressed"]))
	}
	require.Equal(t, []string{"redis down <nil>", "postgres down <nil>", "redis down 2", "postgres down 2"}, got)
}
