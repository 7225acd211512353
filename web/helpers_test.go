package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
	"github.com/boxofficehq/boxoffice/web"
)

const testSecret = "test-secret-test-secret-test-secret"

// env is one API server on the package's test database, wired as serve wires
// one replica.
type env struct {
	t       testing.TB
	db      *store.DB
	rdb     redis.UniversalClient
	srv     *httptest.Server
	api     *web.Server
	sales   *booking.Service
	inv     *inventory.Inventory
	line    *queue.Queue
	sale    *sale.Service
	listing *listing
}

func newEnv(t testing.TB, opts ...func(*web.Config)) *env {
	t.Helper()
	return newEnvWith(t, envParts{}, opts...)
}

// envParts replaces parts of an env for fault injection; zero values are the real ones.
type envParts struct {
	provider func(db *store.DB) payments.Provider
	store    func(db *store.DB) booking.Store
}

func newEnvWith(t testing.TB, parts envParts, opts ...func(*web.Config)) *env {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	line := queue.New(rdb, time.Now)
	hub := realtime.NewHub(rdb, realtime.Options{})
	t.Cleanup(func() { hub.Close() })
	inv := inventory.New(rdb, time.Now, queue.ActiveKey)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		provider payments.Provider = payments.NewTestProvider(db)
		bs       booking.Store     = db
	)
	if parts.provider != nil {
		provider = parts.provider(db)
	}
	if parts.store != nil {
		bs = parts.store(db)
	}
	sales := booking.New(bs, inv, provider, sale.Notifier{Hub: hub, Inventory: inv}, log, time.Now)
	sessions := session.New(session.Config{Line: line, Signer: session.NewSigner(testSecret, time.Now), Holds: sales,
		Store: db, Hub: hub, Log: log})
	lst := &listing{DB: db, ids: map[string]bool{}}
	onSale := sale.New(sale.Config{Queue: line, Sessions: sessions, Hub: hub, Inventory: inv, Store: lst, Redis: rdb,
		Log: log, ListEvery: 100 * time.Millisecond})
	cfg := web.Config{Store: db, Sessions: sessions, Sale: onSale, Queue: line, Hub: hub, Booking: sales, Settler: sales,
		Inventory: inv, Log: log}
	for _, o := range opts {
		o(&cfg)
	}
	api := web.New(cfg)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sessions.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{t: t, db: db, rdb: rdb, srv: srv, api: api, sales: sales, inv: inv, line: line, sale: onSale, listing: lst}
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
	ctl := queue.NewController(e.line, nil, e.sale.OnStep, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctl.Step(context.Background(), queue.EventOf(ev))
}
