package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Past MaxConns, up to overflowConns more connections are still read, each for
// at most overflowLife: health checks get their answer and everyone else a 503,
// so a replica at its cap looks busy, not dead. Beyond those, connections are
// closed as soon as they are accepted. Either way a flood costs a bounded number
// of file descriptors.
const (
	overflowConns = 100
	overflowLife  = 2 * time.Second
)

// HTTPServer is the http.Server for this API; serve it on Listener(ln). Base is
// the context requests derive from.
func (s *Server) HTTPServer(base context.Context) *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if lc, ok := c.(*limitedConn); ok && lc.overflow() {
				return context.WithValue(ctx, overflowKey{}, true)
			}
			return ctx
		},
		// net/http's own complaints (accept errors when file descriptors run
		// out, broken handshakes) arrive in bursts.
		ErrorLog: slog.NewLogLogger(s.warn.Handler(), slog.LevelWarn),
	}
}

// Listener caps ln at Limits.MaxConns open connections (live WebSockets
// included); with no cap it is ln.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.limits.MaxConns <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: int64(s.limits.MaxConns), refused: func() {
		s.metrics.refused.WithLabelValues("max_conns").Inc()
		s.warn.Warn("connection limit reached: closing new connections", "max_conns", s.limits.MaxConns)
	}}
}

type overflowKey struct{}

func overflowed(ctx context.Context) bool {
	over, _ := ctx.Value(overflowKey{}).(bool)
	return over
}

type connLimiter struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func()
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.open.Add(1)
		switch {
		case n <= l.max:
			return &limitedConn{Conn: c, l: l}, nil
		case n <= l.max+overflowConns:
			lc := &limitedConn{Conn: c, l: l, until: time.Now().Add(overflowLife)}
			_ = c.SetDeadline(lc.until)
			return lc, nil
		}
		l.open.Add(-1)
		_ = c.Close()
		l.refused()
	}
}

// limitedConn gives its place back when closed (hijacked or not). An overflow
// connection never gets a deadline later than until.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	until time.Time
	once  sync.Once
}

func (c *limitedConn) overflow() bool { return !c.until.IsZero() }

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

func (c *limitedConn) clamp(t time.Time) time.Time {
	if c.overflow() && (t.IsZero() || t.After(c.until)) {
		return c.until
	}
	return t
}

func (c *limitedConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *limitedConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// ServeHTTP makes the Server an http.Handler. A connection past the cap gets
// only health answers; HEAD is routed as GET (net/http sends no body for it).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if overflowed(r.Context()) {
		w.Header().Set("Connection", "close")
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			s.metrics.refused.WithLabelValues("busy").Inc()
			s.warn.Warn("connection limit reached: answering 503", "max_conns", s.limits.MaxConns)
			w.Header().Set("Retry-After", "1")
			writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "this server is at its connection limit; retry shortly"))
			// Close now rather than read the rest of a body first, so the slot
			// is free for the next health check.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now())
			return
		}
	}
	if r.Method == http.MethodHead {
		get := r.WithContext(context.WithValue(r.Context(), headKey{}, true))
		get.Method = http.MethodGet
		r = get
	}
	s.echo.ServeHTTP(w, r)
}

type headKey struct{}
