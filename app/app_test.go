package app_test

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// garble turns the replies of scripts run on one event's line into nonsense,
// as a Redis (or a proxy, or a script of another version) that answers what the
// script does not promise.
type garble struct{ key string }

func (garble) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g garble) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && strings.HasPrefix(cmd.Name(), "eval") && strings.Contains(fmt.Sprint(cmd.Args()), g.key) {
			c.SetVal([]any{"open", "not a number", int64(7)})
			c.SetErr(nil)
			return nil
		}
		return err
	}
}

func (garble) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// syncBuffer is a log the loops write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A malformed reply in the admission loop is logged and the replica goes on:
// the other event's fans are admitted, and the API keeps answering.
func TestMalformedReplyInTheAdmissionLoop(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	org := storetest.Organizer(t, db)
	broken := storetest.Event(t, db, org.ID, 5)
	fine := storetest.Event(t, db, org.ID, 5)
	clean := storetest.Redis(t)
	for _, ev := range []*store.Event{broken, fine} {
		storetest.CleanRedis(t, clean, ev.ID)
	}
	// Fans join both lines through a Redis client that works.
	line := queue.New(clean, time.Now)
	ann, bob := storetest.Fan(t, db), storetest.Fan(t, db)
	_, err := line.Join(ctx, queue.EventOf(broken), ann.ID)
	require.NoError(t, err)
	_, err = line.Join(ctx, queue.EventOf(fine), bob.ID)
	require.NoError(t, err)

	// The replica's client garbles what the broken event's scripts answer.
	rdb := storetest.Redis(t)
	rdb.AddHook(garble{key: "ev:{" + broken.ID + "}:q"})
	logs := &syncBuffer{}
	a := app.New(db, rdb, app.Config{Secret: strings.Repeat("s", 32), Provider: payments.NewTestProvider(db),
		Events: only{DB: db, ids: []string{broken.ID, fine.ID}},
		Every:  app.Intervals{Admission: 50 * time.Millisecond, Listing: 50 * time.Millisecond},
		Log:    slog.New(slog.NewTextHandler(logs, nil))})
	loops, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.Run(loops) }()
	defer func() { stop(); <-done; a.Close() }()
	srv := httptest.NewServer(a.API)
	defer srv.Close()

	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "malformed script reply") },
		10*time.Second, 20*time.Millisecond, "the bad step is logged")
	require.Eventually(t, func() bool {
		p, err := line.Status(ctx, queue.EventOf(fine), bob.ID)
		return err == nil && p.Status == queue.StatusAdmitted
	}, 10*time.Second, 20*time.Millisecond, "the other event's line moves on")
	for _, path := range []string{"/healthz", "/api/v1/events/" + fine.ID} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
}

// only lists the test's own events as on sale: the package's tests share a database.
type only struct {
	*store.DB
	ids []string
}

func (o only) OnSale(ctx context.Context) ([]*store.Event, error) {
	var out []*store.Event
	for _, id := range o.ids {
		e, err := o.Event(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
