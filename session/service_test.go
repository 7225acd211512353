package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
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
)

const secret = "test-secret-test-secret-test-secret"

// clock is a test clock shared by the line, the signer and the sessions.
type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// Only the token of the session active now opens the shop: forged, altered,
// foreign, expired and replayed tokens are refused.
func TestSessionTokenChecks(t *testing.T) {
	t.Parallel()
	rdb := storetest.Redis(t)
	c := &clock{}
	opens := time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)
	c.ms.Store(opens.UnixMilli())
	ev := queue.Event{ID: store.NewID("ev"), LobbyOpensAt: opens.Add(-time.Hour), SaleOpensAt: opens, ClosesAt: opens.Add(24 * time.Hour),
		MaxActive: 1, Claim: 2 * time.Minute, Hold: 10 * time.Minute, Presence: 5 * time.Minute}
	storetest.CleanRedis(t, rdb, ev.ID)
	line := queue.New(rdb, c.now)
	ctl := queue.NewController(line, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	signer := session.NewSigner(secret, c.now)
	// two replicas sharing Redis and the secret
	a := session.New(session.Config{Line: line, Signer: signer, Now: c.now})
	b := session.New(session.Config{Line: queue.New(rdb, c.now), Signer: signer, Now: c.now})
	ctx := context.Background()

	_, _, err := a.Join(ctx, ev, "u1")
	require.NoError(t, err)
	_, err = a.Session(ctx, ev, "u1", "")
	require.ErrorIs(t, err, queue.ErrNoSession, "waiting is not shopping")
	ctl.Step(ctx, ev)
	_, sess, err := a.Status(ctx, ev, "u1")
	require.NoError(t, err)
	token := sess.Token

	s, err := b.Session(ctx, ev, "u1", token)
	require.NoError(t, err)
	require.Equal(t, sess.ID, s.ID)
	_, err = b.Session(ctx, ev, "u1", "")
	require.NoError(t, err)

	forger := session.New(session.Config{Line: line, Signer: session.NewSigner("a-guessed-secret-a-guessed-secret!!", c.now), Now: c.now})
	forged, err := forger.Session(ctx, ev, "u1", "")
	require.NoError(t, err) // the forger's own view signs with its own key
	_, err = a.Session(ctx, ev, "u1", forged.Token)
	require.ErrorIs(t, err, session.ErrInvalid)
	_, err = a.Session(ctx, ev, "u2", token)
	require.ErrorIs(t, err, session.ErrInvalid, "another fan's token")
	altered := []byte(token)
	altered[len(altered)-1] ^= 1
	_, err = a.Session(ctx, ev, "u1", string(altered))
	require.ErrorIs(t, err, session.ErrInvalid)

	// After leaving and coming back for a new session, the old token is refused.
	_, err = line.Leave(ctx, ev.ID, "u1")
	require.NoError(t, err)
	_, _, err = a.Join(ctx, ev, "u1")
	require.NoError(t, err)
	ctl.Step(ctx, ev)
	p2, sess2, err := a.Status(ctx, ev, "u1")
	require.NoError(t, err)
	require.Equal(t, queue.StatusAdmitted, p2.Status)
	_, err = a.Session(ctx, ev, "u1", token)
	require.ErrorIs(t, err, session.ErrInvalid, "replayed token of an ended session")

	c.advance(ev.Hold)
	_, err = a.Session(ctx, ev, "u1", sess2.Token)
	require.ErrorIs(t, err, session.ErrExpired)
}

// shop is one replica's sessions with everything real behind them: the line
// and inventory in Redis, booking on PostgreSQL with the test provider, and a
// live hub whose WebSocket clients are the fans' tabs.
type shop struct {
	t        *testing.T
	db       *store.DB
	rdb      redis.UniversalClient
	line     *queue.Queue
	sales    *booking.Service
	sessions *session.Service
	hub      *realtime.Hub
	ws       string
	ev       *store.Event
}

func newShop(t *testing.T, holdSeconds int) *shop {
	t.Helper()
	db := storetest.DB(t)
	rdb := storetest.Redis(t)
	org := storetest.Organizer(t, db)
	ev := storetest.Event(t, db, org.ID, 0, store.Row{Row: "1", Seats: 4})
	maxActive := 10
	ev, err := db.UpdateEvent(context.Background(), ev.ID, store.Settings{HoldSeconds: &holdSeconds, MaxActiveShoppers: &maxActive})
	require.NoError(t, err)
	storetest.CleanRedis(t, rdb, ev.ID)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	line := queue.New(rdb, time.Now)
	inv := inventory.New(rdb, time.Now, queue.ActiveKey)
	hub := realtime.NewHub(rdb, realtime.Options{Log: log})
	t.Cleanup(func() { _ = hub.Close() })
	sales := booking.New(db, inv, payments.NewTestProvider(db), sale.NewNotifier(hub, inv), log, time.Now)
	sessions := session.New(session.Config{Line: line, Signer: session.NewSigner(secret, time.Now), Holds: sales,
		Store: db, Events: db, Hub: hub, Log: log})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := realtime.Accept(w, r, nil)
		if err != nil {
			return
		}
		info := realtime.ClientInfo{EventID: ev.ID, UserID: r.URL.Query().Get("user"), Status: queue.StatusAdmitted}
		_ = hub.Serve(r.Context(), conn, info, nil)
	}))
	t.Cleanup(srv.Close)
	return &shop{t: t, db: db, rdb: rdb, line: line, sales: sales, sessions: sessions, hub: hub,
		ws: strings.Replace(srv.URL, "http://", "ws://", 1), ev: ev}
}

// shopper is a fan admitted with a session, holding one seat, with a tab open:
// it returns the fan, the session, the hold and the tab's messages.
func (s *shop) shopper(seat string) (string, *session.Session, *store.Hold, <-chan map[string]any) {
	s.t.Helper()
	ctx := context.Background()
	fan := storetest.Fan(s.t, s.db).ID
	_, _, err := s.sessions.Join(ctx, queue.EventOf(s.ev), fan)
	require.NoError(s.t, err)
	_, err = s.line.Admit(ctx, queue.EventOf(s.ev))
	require.NoError(s.t, err)
	_, sess, err := s.sessions.Status(ctx, queue.EventOf(s.ev), fan)
	require.NoError(s.t, err)
	require.NotNil(s.t, sess, "admitted")
	h, err := s.sales.Reserve(ctx, booking.Request{Event: s.ev, ZoneID: "VIP", UserID: fan, SessionID: sess.ID,
		Until: sess.ExpiresAt, Seats: []string{seat}})
	require.NoError(s.t, err)
	return fan, sess, h, s.tab(fan)
}

// tab is a live connection of the fan's, open and subscribed: its messages.
func (s *shop) tab(fan string) <-chan map[string]any {
	s.t.Helper()
	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, s.ws+"/?user="+fan, nil)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { conn.Close(websocket.StatusNormalClosure, "") })
	msgs := make(chan map[string]any, 64)
	go func() {
		defer close(msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				msgs <- m
			}
		}
	}()
	require.Eventually(s.t, func() bool { return s.hub.Clients(s.ev.ID) > 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(s.t, func() bool { // the hub's subscription is in place
		n, _ := s.rdb.PubSubNumSub(ctx, realtime.Channel(s.ev.ID)).Result()
		return n[realtime.Channel(s.ev.ID)] > 0
	}, 5*time.Second, 10*time.Millisecond)
	return msgs
}

// expiredMessage waits for the tab's session.expired.
func expiredMessage(t *testing.T, msgs <-chan map[string]any) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "the tab closed before session.expired")
			if m["type"] == realtime.TypeSessionExpired {
				return m
			}
		case <-deadline:
			t.Fatal("no session.expired within 10 s")
		}
	}
}

func (s *shop) holdStatus(id string) string {
	s.t.Helper()
	h, err := s.db.Hold(context.Background(), id)
	require.NoError(s.t, err)
	return h.Status
}

// The slot is free once the session is over: the fan is no longer shopping.
func (s *shop) requireSlotFree(fan string) {
	s.t.Helper()
	c, err := s.line.Counts(context.Background(), s.ev.ID)
	require.NoError(s.t, err)
	require.Zero(s.t, c.Active)
	_, err = s.line.Status(context.Background(), queue.EventOf(s.ev), fan)
	require.ErrorIs(s.t, err, queue.ErrPlaceLost)
}

// A fan who leaves ends the session: holds released now, the slot freed, and
// the tab told why.
func TestSessionEndsWhenTheFanLeaves(t *testing.T) {
	t.Parallel()
	s := newShop(t, 600)
	fan, sess, h, tab := s.shopper("1A")

	left, err := s.sessions.Leave(context.Background(), queue.EventOf(s.ev), fan)
	require.NoError(t, err)
	require.Equal(t, "admitted", left.Was)
	m := expiredMessage(t, tab)
	require.Equal(t, sess.ID, m["session_id"])
	require.Equal(t, string(session.ReasonLeft), m["reason"])
	require.Equal(t, store.HoldReleased, s.holdStatus(h.ID))
	s.requireSlotFree(fan)
}

// A session whose time ran out (as an admission step finds it) ends: unpaid
// holds expire at once and the tab is told why.
func TestSessionEndsWhenTimeRunsOut(t *testing.T) {
	t.Parallel()
	s := newShop(t, 1)
	fan, sess, h, tab := s.shopper("1B")

	var step *queue.Step
	require.Eventually(t, func() bool {
		var err error
		step, err = s.line.Admit(context.Background(), queue.EventOf(s.ev))
		require.NoError(t, err)
		return len(step.Expired) > 0
	}, 5*time.Second, 50*time.Millisecond)
	s.sessions.Expired(context.Background(), s.ev.ID, step.Expired)
	m := expiredMessage(t, tab)
	require.Equal(t, sess.ID, m["session_id"])
	require.Equal(t, string(session.ReasonTimedOut), m["reason"])
	require.Equal(t, store.HoldExpired, s.holdStatus(h.ID))
	s.requireSlotFree(fan)
}

// A fan who has booked and holds nothing more is done: the session ends, the
// slot goes to the next fan and the tab is told why; what was booked stays
// booked. While the fan still holds something, the session goes on.
func TestSessionEndsWhenTheFanHasBooked(t *testing.T) {
	t.Parallel()
	s := newShop(t, 600)
	ctx := context.Background()
	fan, sess, h, tab := s.shopper("1C")
	second, err := s.sales.Reserve(ctx, booking.Request{Event: s.ev, ZoneID: "VIP", UserID: fan, SessionID: sess.ID,
		Until: sess.ExpiresAt, Seats: []string{"1D"}})
	require.NoError(t, err)

	book := func(holdID string) {
		t.Helper()
		co, err := s.sales.Pay(ctx, fan, []string{holdID})
		require.NoError(t, err)
		p := co.Payment
		_, err = s.sales.Confirm(ctx, p.ID, fan, "4242424242424242")
		require.NoError(t, err)
		_, err = s.sales.Book(ctx, holdID, p.ID, fan)
		require.NoError(t, err)
		require.NoError(t, s.sessions.Booked(ctx, s.ev.ID, fan))
	}
	book(h.ID)
	_, err = s.sessions.Session(ctx, queue.EventOf(s.ev), fan, sess.Token)
	require.NoError(t, err, "still holding a seat: still shopping")

	book(second.ID)
	m := expiredMessage(t, tab)
	require.Equal(t, sess.ID, m["session_id"])
	require.Equal(t, string(session.ReasonBooked), m["reason"])
	require.Equal(t, store.HoldBooked, s.holdStatus(h.ID))
	require.Equal(t, store.HoldBooked, s.holdStatus(second.ID))
	s.requireSlotFree(fan)
	require.NoError(t, s.sessions.Booked(ctx, s.ev.ID, fan), "told again (the book call after the confirm): nothing to end")
	s.requireSlotFree(fan)
}

// flakyLine is the line with Redis out of reach for its first few status calls.
type flakyLine struct {
	session.Line
	failures atomic.Int32
}

func (f *flakyLine) Status(ctx context.Context, ev queue.Event, userID string) (*queue.Place, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("dial tcp 127.0.0.1:6379: i/o timeout")
	}
	return f.Line.Status(ctx, ev, userID)
}

// TestClaimOutlastsAnOutage: a fan connected here is admitted while Redis is
// briefly out of reach; the claim is tried again, the fan's tab hears
// session.admitted, and the line holds the session it names.
func TestClaimOutlastsAnOutage(t *testing.T) {
	t.Parallel()
	s := newShop(t, 60)
	line := &flakyLine{Line: s.line}
	line.failures.Store(3)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sessions := session.New(session.Config{Line: line, Signer: session.NewSigner(secret, time.Now), Holds: s.sales,
		Store: s.db, Events: s.db, Hub: s.hub, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sessions.Run(ctx)

	fan := storetest.Fan(t, s.db).ID
	msgs := s.tab(fan)
	_, _, err := sessions.Join(ctx, queue.EventOf(s.ev), fan)
	require.NoError(t, err)
	step, err := s.line.Admit(ctx, queue.EventOf(s.ev))
	require.NoError(t, err)
	require.Equal(t, []string{fan}, step.Users)
	require.NoError(t, s.hub.Publish(ctx, s.ev.ID, realtime.Message{Type: realtime.TypeQueueTick, Admitted: step.Admitted,
		AdmittedUsers: step.Users}))

	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m["type"] != realtime.TypeSessionAdmitted {
				continue
			}
			active, err := s.line.Active(ctx, s.ev.ID, fan)
			require.NoError(t, err)
			require.Equal(t, active.SessionID, m["session_id"])
			require.Negative(t, line.failures.Load(), "the claim failed first")
			return
		case <-timeout:
			t.Fatal("no session.admitted: the claim was not tried again")
		}
	}
}
