package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// warnEvery is how often one kind of expected trouble (a dependency down, a
// limit reached) is logged: an outage is news once, not once per request.
const warnEvery = 10 * time.Second

// Throttle passes on at most one record per message every interval; the next
// one that passes tells how many were left out ("suppressed").
func Throttle(h slog.Handler, every time.Duration) slog.Handler {
	return &throttle{inner: h, every: every, seen: &throttleState{last: map[string]time.Time{}, dropped: map[string]int{}}}
}

type throttle struct {
	inner slog.Handler
	every time.Duration
	seen  *throttleState
}

type throttleState struct {
	mu      sync.Mutex
	last    map[string]time.Time
	dropped map[string]int
}

func (t *throttle) Enabled(ctx context.Context, l slog.Level) bool { return t.inner.Enabled(ctx, l) }

func (t *throttle) Handle(ctx context.Context, r slog.Record) error {
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	st := t.seen
	st.mu.Lock()
	if last, ok := st.last[r.Message]; ok && now.Sub(last) < t.every {
		st.dropped[r.Message]++
		st.mu.Unlock()
		return nil
	}
	st.last[r.Message] = now
	dropped := st.dropped[r.Message]
	delete(st.dropped, r.Message)
	st.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return t.inner.Handle(ctx, r)
}

func (t *throttle) WithAttrs(as []slog.Attr) slog.Handler {
	return &throttle{inner: t.inner.WithAttrs(as), every: t.every, seen: t.seen}
}

func (t *throttle) WithGroup(name string) slog.Handler {
	return &throttle{inner: t.inner.WithGroup(name), every: t.every, seen: t.seen}
}

// answerError is echo's error handler. A 503 (a dependency unreachable or too
// slow, the payment provider busy) is an expected outage: one throttled warning
// stands for all its requests. Everything else goes to handleError, which logs
// the unexpected at ERROR.
func (s *Server) answerError(err error, c echo.Context) {
	if e, unexpected := toAPIError(err); unexpected && e.Status == http.StatusServiceUnavailable {
		s.warn.WarnContext(c.Request().Context(), "dependency unavailable: answering 503",
			"request_id", requestIDOf(c), "route", c.Path(), "code", e.Code, "err", err)
		err = e
	}
	s.handleError(err, c)
}

// methodOf is the request's method as the client sent it (ServeHTTP routes HEAD
// as GET).
func methodOf(c echo.Context) string {
	if head, _ := c.Request().Context().Value(headKey{}).(bool); head {
		return http.MethodHead
	}
	return c.Request().Method
}

// accessLog writes the request's one line.
func (s *Server) accessLog(c echo.Context, method, route string, start time.Time) {
	r := c.Request()
	user := ""
	if u := currentUser(c); u != nil {
		user = u.ID
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", method), slog.String("route", route), slog.Int("status", c.Response().Status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("request_id", requestIDOf(c)), slog.String("user_id", user), slog.String("client", c.RealIP()))
}

// writeError answers outside echo, in the same envelope.
func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]*apiError{"error": e})
}
