package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

const testSecret = "test-secret-test-secret-test-secret"

// env is one replica on the package's test database, built by app as serve
// builds one, with its background loops running at the pace envParts.every
// sets. By default admission steps the events a test lists (runController)
// every 50 ms, and the other loops pass once and then wait for an hour: tests
// step what they need themselves.
type env struct {
	t       testing.TB
	app     *app.App
	db      *store.DB
	rdb     redis.UniversalClient
	srv     *httptest.Server
	api     *web.Server
	sales   *booking.Service
	inv     *inventory.Inventory
	line    *queue.Queue
	sale    *sale.Service
	listing *listing
	// stopLoops stops the background loops and waits for them (a replica dying).
	stopLoops func()
}

func newEnv(t testing.TB, opts ...func(*web.Config)) *env {
	t.Helper()
	return newEnvWith(t, envParts{}, opts...)
}

// envParts replaces parts of an env: faults to inject, the loops' pace.
type envParts struct {
	provider func(db *store.DB) payments.Provider
	store    func(db *store.DB) booking.Store
	every    app.Intervals
	live     realtime.Options
}

// quiet is the loops' pace in tests that step things themselves.
const quiet = time.Hour

func newEnvWith(t testing.TB, parts envParts, opts ...func(*web.Config)) *env {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	var provider payments.Provider = payments.NewTestProvider(db)
	if parts.provider != nil {
		provider = parts.provider(db)
	}
	every := parts.every
	if every.Admission == 0 {
		every.Admission = 50 * time.Millisecond // steps only the events a test lists (runController)
	}
	for _, d := range []*time.Duration{&every.Presence, &every.Expiry, &every.Settle, &every.Repair,
		&every.Reap, &every.Drift, &every.Purge} {
		if *d == 0 {
			*d = quiet
		}
	}
	if every.Listing == 0 {
		every.Listing = 100 * time.Millisecond
	}
	lst := &listing{DB: db, ids: map[string]bool{}}
	a := app.New(db, rdb, app.Config{Secret: testSecret, Provider: provider, Events: lst, BookingStore: parts.store,
		Every: every, Live: parts.live, Log: failureLog(t)})
	api := a.API
	if len(opts) > 0 {
		cfg := a.Web
		for _, o := range opts {
			o(&cfg)
		}
		api = web.New(cfg)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(func() {
		stop()
		a.Close()
	})
	return &env{t: t, app: a, db: db, rdb: rdb, srv: srv, api: api, sales: a.Sales, inv: a.Inventory, line: a.Line,
		sale: a.Sale, listing: lst, stopLoops: stop}
}

// listing is the events on sale among this test's own: the package's tests
// share a database, and one test's controller must not step another's lines.
type listing struct {
	*store.DB
	mu  sync.Mutex
	ids map[string]bool
}

func (l *listing) add(eventID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[eventID] = true
}

func (l *listing) OnSale(ctx context.Context) ([]*store.Event, error) {
	all, err := l.DB.OnSale(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	var mine []*store.Event
	for _, e := range all {
		if l.ids[e.ID] {
			mine = append(mine, e)
		}
	}
	return mine, err
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// ErrorCode is the code of an error envelope, or "".
func (r response) ErrorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// call sends body (a string is sent as is, anything else as JSON) with the token
// and extra headers given as name, value pairs.
func (e *env) call(method, path, token string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// fan registers a new fan through the API and returns its token and id.
func (e *env) fan() (token, id string) {
	e.t.Helper()
	r := e.call(http.MethodPost, "/api/v1/users", "", map[string]string{
		"name": "Fan", "email": store.NewID("fan") + "@example.com", "password": "fan-password",
	})
	require.Equal(e.t, http.StatusCreated, r.Status, "%s", r.Body)
	m := r.JSON(e.t)
	return m["token"].(string), m["user"].(map[string]any)["id"].(string)
}

// organizer makes an organizer in the database and signs it in.
func (e *env) organizer() string {
	e.t.Helper()
	u := storetest.Organizer(e.t, e.db)
	token, err := e.db.CreateToken(context.Background(), u.ID)
	require.NoError(e.t, err)
	return token
}

// eventBody is a valid creation body with a fresh id; tests change what they test.
func eventBody() map[string]any {
	return map[string]any{
		"id": store.NewID("ev"), "name": "Test show", "venue": "Hall",
		"starts_at": "2030-06-01T20:00:00Z", "sale_opens_at": "2030-05-01T10:00:00Z",
		"zones": []any{
			map[string]any{"id": "GA", "name": "General Admission", "kind": "pool", "capacity": 10, "price_cents": 9900},
			map[string]any{"id": "VIP", "name": "VIP", "kind": "seated", "price_cents": 45000,
				"rows": []any{map[string]any{"row": "1", "seats": 3}, map[string]any{"row": "2", "seats": 2}}},
		},
	}
}

func settingsMax(n int) store.Settings { return store.Settings{MaxActiveShoppers: &n} }

// seatedEvent creates an event open for sale now, with a GA pool of 10 and a VIP
// zone of three rows of perRow seats, and room for 100 shoppers at once.
func (e *env) seatedEvent(perRow int) string {
	e.t.Helper()
	u := storetest.Organizer(e.t, e.db)
	ev := storetest.Event(e.t, e.db, u.ID, 10,
		store.Row{Row: "1", Seats: perRow}, store.Row{Row: "2", Seats: perRow}, store.Row{Row: "3", Seats: perRow})
	_, err := e.db.UpdateEvent(context.Background(), ev.ID, settingsMax(100))
	require.NoError(e.t, err)
	storetest.CleanRedis(e.t, e.rdb, ev.ID)
	return ev.ID
}

// step runs one admission step for the event, as the controller does.
func (e *env) step(ev *store.Event) {
	e.t.Helper()
	ctl := queue.NewController(e.line, nil, e.sale.OnStep, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctl.Step(context.Background(), queue.EventOf(ev))
}

// failureLog keeps the replica's warnings and errors, the last few hundred,
// and shows them only if the test fails: why a loop did not do its work.
func failureLog(t testing.TB) *slog.Logger {
	var mu sync.Mutex
	var lines []string
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if lines = append(lines, string(p)); len(lines) > 300 {
			lines = lines[len(lines)-200:]
		}
		return len(p), nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the replica's last warnings:\n%s", strings.Join(lines, ""))
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
