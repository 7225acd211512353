package web

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
)

// liveCaps counts this replica's live connections: all of them, and per fan or
// per anonymous client address. Counts are per replica; README says so.
type liveCaps struct {
	mu    sync.Mutex
	total int
	byKey map[string]int
}

// liveRetryAfter is the Retry-After of a refused live connection, in seconds: a
// cap frees up as other connections close, not on a clock.
const liveRetryAfter = 10

// capLive refuses a live connection over a cap before it is upgraded, with 429
// (this fan or address has enough) or 503 (the replica has enough), and gives
// its place back when the WebSocket closes.
func (s *Server) capLive(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, perKey, limit := "addr:"+addressKey(c.RealIP()), s.limits.LivePerAddress, "live_per_address"
		if u := currentUser(c); u != nil {
			key, perKey, limit = "fan:"+u.ID, s.limits.LivePerFan, "live_per_fan"
		}
		if refused := s.caps.take(key, perKey, s.limits.MaxLive); refused != nil {
			if refused.Status == http.StatusServiceUnavailable {
				limit = "max_live"
			}
			s.metrics.refused.WithLabelValues(limit).Inc()
			s.warn.Warn("live connection refused: "+limit, "cap", refusedCap(s.limits, limit))
			c.Response().Header().Set("Retry-After", strconv.Itoa(liveRetryAfter))
			c.Response().Header().Set("Connection", "close") // nothing more to say to a flood
			return refused
		}
		var once sync.Once
		release := func() { once.Do(func() { s.caps.give(key) }) }
		w := &hijackWatch{ResponseWriter: c.Response().Writer, release: release}
		c.Response().Writer = w
		err := next(c)
		if !w.hijacked {
			release()
		}
		return err
	}
}

func refusedCap(l Limits, limit string) int {
	switch limit {
	case "max_live":
		return l.MaxLive
	case "live_per_fan":
		return l.LivePerFan
	}
	return l.LivePerAddress
}

// take counts one more connection for key, or says which cap refuses it (a cap
// of 0 is no cap).
func (l *liveCaps) take(key string, perKey, total int) *apiError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if total > 0 && l.total >= total {
		return newError(http.StatusServiceUnavailable, "unavailable", "this server has all the live connections it can hold; retry shortly")
	}
	if perKey > 0 && l.byKey[key] >= perKey {
		return newError(http.StatusTooManyRequests, "rate_limited",
			"you have "+strconv.Itoa(perKey)+" live connections open already; close one first")
	}
	l.total++
	l.byKey[key]++
	return nil
}

func (l *liveCaps) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byKey[key]--; l.byKey[key] <= 0 {
		delete(l.byKey, key)
	}
}

// hijackWatch hands the WebSocket library a connection that gives the live
// place back when it closes.
type hijackWatch struct {
	http.ResponseWriter
	release  func()
	hijacked bool
}

func (w *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	return &releasingConn{Conn: conn, release: w.release}, brw, nil
}

func (w *hijackWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type releasingConn struct {
	net.Conn
	release func()
}

func (c *releasingConn) Close() error {
	c.release()
	return c.Conn.Close()
}
