package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/ratelimit"
)

// Limits bound what one client, and all clients together, may take of a
// replica. The zero value limits nothing; `boxoffice serve` sets the defaults
// that README's "Limits" table lists.
type Limits struct {
	// BodyTimeout bounds the reading of a request body.
	BodyTimeout time.Duration
	// RequestTimeout is every request's deadline, the live WebSocket's excepted.
	RequestTimeout time.Duration
	// MaxConns caps open connections (see Listener); MaxLive caps live
	// WebSockets among them.
	MaxConns int
	MaxLive  int
	// LivePerAddress caps anonymous live connections per client address (IPv6:
	// per /64), LivePerFan each signed-in fan's.
	LivePerAddress int
	LivePerFan     int
	// TrustedProxies are the peers whose X-Forwarded-For (or X-Real-IP) names
	// the client; anyone else's is ignored.
	TrustedProxies []netip.Prefix

	// Rates counts sign-ins, sign-ups and line joins across all replicas (nil:
	// no rate limits).
	Rates RateLimiter
	// SignIn, SignUp and Join are per client address.
	SignIn, SignUp, Join ratelimit.Rate
	// SignInBackoff locks an account after repeated failed sign-ins.
	SignInBackoff ratelimit.Backoff
}

// RateLimiter is what the API needs from the shared counts; *ratelimit.Limiter
// satisfies it.
type RateLimiter interface {
	Allow(ctx context.Context, limit string, r ratelimit.Rate, subject string) (time.Duration, error)
	Locked(ctx context.Context, account string) (time.Duration, error)
	Failed(ctx context.Context, b ratelimit.Backoff, account string) (time.Duration, error)
	Succeeded(ctx context.Context, account string) error
}

// liveRoute is the WebSocket route: long-lived, so neither the request deadline
// nor the body timeout applies to it.
const liveRoute = "/api/v1/events/:id/live"

// bodyDeadline gives a request body BodyTimeout to arrive, so that a client
// sending one byte a minute cannot hold a connection. The deadline is lifted
// once the body is read: it must not end net/http's own read that watches for
// the client going away while a slow handler runs.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.limits.BodyTimeout <= 0 || r.ContentLength == 0 || c.Path() == liveRoute {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		if rc.SetReadDeadline(time.Now().Add(s.limits.BodyTimeout)) != nil {
			return next(c) // a writer without deadlines, such as a test recorder
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
		return next(c)
	}
}

// deadlineBody lifts the read deadline when the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	once sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.once.Do(b.lift)
	}
	return n, err
}

// requestDeadline ends every request after RequestTimeout, so that a sick
// dependency costs a client a bounded wait and a 503, not a hang. The live
// WebSocket is exempt: it lives as long as the fan watches.
func (s *Server) requestDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limits.RequestTimeout <= 0 || c.Path() == liveRoute {
			return next(c)
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.limits.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}
