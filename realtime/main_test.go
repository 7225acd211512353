package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// wait is the generous deadline for things that must happen; tests never
// assert how fast they happen.
const wait = 5 * time.Second

// smallBuffer is the socket buffer of "slow" test connections, so that a
// client that stops reading blocks the server's writes after a few KiB.
const smallBuffer = 4096

func TestMain(m *testing.M) {
	if os.Getenv(fanoutChildEnv) != "" {
		os.Exit(fanoutChild()) // BenchmarkFanout's clients, in their own process
	}
	if ev := os.Getenv(replicaChildEnv); ev != "" {
		os.Exit(serverChild(ev)) // BenchmarkFanoutReplicas's replicas
	}
	if os.Getenv(echoChildEnv) != "" {
		os.Exit(serverChild("")) // and its baseline
	}
	if os.Getenv("TEST_REDIS_URL") == "" {
		fmt.Fprintln(os.Stderr, "TEST_REDIS_URL is not set: run the tests with `make test` (or `make bench`), which starts Redis and sets it")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func newRedis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	rdb := storetest.Redis(tb) // one node, or a cluster
	require.NoError(tb, rdb.Ping(context.Background()).Err(), "Redis at TEST_REDIS_URL")
	return rdb
}

// newEventID is unique per test: pub/sub channels ignore the logical
// database, so packages running side by side would otherwise hear each other.
func newEventID(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "rt-" + hex.EncodeToString(b)
}

// replica is one hub behind its own WebSocket server, as on one replica.
type replica struct {
	hub    *Hub
	rdb    redis.UniversalClient
	srv    *httptest.Server
	served chan error // what each Serve returned
	// Set before the server starts, by newReplica's setup functions.
	snapshot func(ClientInfo) []any // each client's snapshot
	ctx      context.Context        // Serve's context
	// blocking runs Serve inside the handler, after a plain websocket.Accept,
	// rather than the way that takes the least memory: Accept, then Serve on
	// its own goroutine while the handler returns.
	blocking bool
}

// newReplica starts a hub and its server; setup functions adjust the replica first.
func newReplica(tb testing.TB, opts Options, setup ...func(*replica)) *replica {
	tb.Helper()
	r := &replica{rdb: newRedis(tb), served: make(chan error, 100)}
	r.ctx = context.Background()
	for _, f := range setup {
		f(r)
	}
	r.hub = NewHub(r.rdb, opts)
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serveHTTP))
	r.srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, netConnKey{}, c) // for serveHTTP to shrink a slow client's buffer
	}
	r.srv.Start()
	tb.Cleanup(r.srv.Close)
	tb.Cleanup(func() { require.NoError(tb, r.hub.Close()) }) // runs first: closes the hijacked connections
	return r
}

type netConnKey struct{}

func (r *replica) serveHTTP(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	if q.Get("slow") != "" {
		_ = req.Context().Value(netConnKey{}).(*net.TCPConn).SetWriteBuffer(smallBuffer)
	}
	accept := Accept
	if r.blocking {
		accept = websocket.Accept
	}
	conn, err := accept(w, req, nil)
	if err != nil {
		return
	}
	n, _ := strconv.ParseInt(q.Get("number"), 10, 64)
	info := ClientInfo{EventID: q.Get("event"), UserID: q.Get("user"), Number: n, Status: queue.Status(q.Get("status"))}
	var snap []any
	if r.snapshot != nil {
		snap = r.snapshot(info)
	}
	if r.blocking {
		r.served <- r.hub.Serve(req.Context(), conn, info, snap)
		return
	}
	go func() { r.served <- r.hub.Serve(r.ctx, conn, info, snap) }()
}

// fan is one test client.
type fan struct {
	tb   testing.TB
	conn *websocket.Conn
}

// dial connects a client. A slow one gets small socket buffers on both ends.
func (r *replica) dial(tb testing.TB, info ClientInfo, slow bool) *fan {
	tb.Helper()
	q := url.Values{"event": {info.EventID}, "user": {info.UserID}, "number": {strconv.FormatInt(info.Number, 10)}, "status": {string(info.Status)}}
	if slow {
		q.Set("slow", "1")
	}
	var dialer net.Dialer
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil && slow {
			_ = c.(*net.TCPConn).SetReadBuffer(smallBuffer)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.srv.URL, "http")+"/?"+q.Encode(),
		&websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}})
	require.NoError(tb, err)
	conn.SetReadLimit(1 << 20) // a whole zone's seat.update is bigger than the default 32 KiB
	tb.Cleanup(func() { _ = conn.CloseNow() })
	return &fan{tb: tb, conn: conn}
}

// got is any server message, decoded loosely.
type got struct {
	Type             string            `json:"type"`
	UserID           string            `json:"user_id"`
	Status           queue.Status      `json:"status"`
	Position         *int64            `json:"position"`
	Ahead            *int64            `json:"ahead"`
	EtaSeconds       *int64            `json:"eta_seconds"`
	TicketsLeft      *int              `json:"tickets_left"`
	Outlook          string            `json:"outlook"`
	SessionID        string            `json:"session_id"`
	ExpiresAt        string            `json:"expires_at"`
	ReservationID    string            `json:"reservation_id"`
	SaleStatus       string            `json:"sale_status"`
	ZoneID           string            `json:"zone_id"`
	AvailableTickets *int              `json:"available_tickets"`
	Seats            map[string]string `json:"seats"`
	raw              string
}

func (f *fan) read() got {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, data, err := f.conn.Read(ctx)
	require.NoError(f.tb, err)
	var g got
	require.NoError(f.tb, json.Unmarshal(data, &g), string(data))
	g.raw = string(data)
	return g
}

// readUntil reads until done returns true and returns every message read.
func (f *fan) readUntil(done func(got) bool) []got {
	f.tb.Helper()
	var all []got
	for {
		g := f.read()
		all = append(all, g)
		if done(g) {
			return all
		}
	}
}

func (f *fan) send(s string) {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(f.tb, f.conn.Write(ctx, websocket.MessageText, []byte(s)))
}

// closeStatus reads until the connection ends and returns its close status.
func (f *fan) closeStatus() websocket.StatusCode {
	f.tb.Helper()
	status := readToClose(f.conn)
	require.NotEqual(f.tb, stillOpen, status, "connection still open")
	return status
}

// stillOpen is readToClose's answer for a connection that did not end in time.
const stillOpen websocket.StatusCode = -2

// readToClose reads until the connection ends and returns its close status
// (-1 when it ended without a close frame). Safe on any goroutine.
func readToClose(conn *websocket.Conn) websocket.StatusCode {
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				return stillOpen
			}
			return websocket.CloseStatus(err)
		}
	}
}

// waitSubscribed waits until n hubs listen on the event's channel: Serve
// subscribes in the background, and a message published before that is lost.
func waitSubscribed(tb testing.TB, rdb redis.UniversalClient, eventID string, n int64) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		got, err := storetest.Subscribers(context.Background(), rdb, Channel(eventID))
		return err == nil && got == n
	}, wait, 10*time.Millisecond, "hubs subscribed to %s", Channel(eventID))
}

func waitClients(tb testing.TB, h *Hub, eventID string, n int) {
	tb.Helper()
	require.Eventually(tb, func() bool { return h.Clients(eventID) == n }, 3*wait, 10*time.Millisecond,
		"want %d clients of %s", n, eventID)
}

func publish(tb testing.TB, h *Hub, eventID string, m Message) {
	tb.Helper()
	require.NoError(tb, h.Publish(context.Background(), eventID, m))
}

func ptr[T any](v T) *T { return &v }
