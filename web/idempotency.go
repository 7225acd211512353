package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/store"
)

const (
	idempotencyHeader = "Idempotency-Key"
	// inFlightWait bounds how long a retry waits for its first request to finish
	// before it is told to come back.
	inFlightWait = 10 * time.Second
)

// idempotent makes writes with an Idempotency-Key happen once: the first answer
// is stored (per caller and key) and replayed to every retry; the same key with
// another request is refused. Concurrent duplicates wait for the first answer.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		key := req.Header.Get(idempotencyHeader)
		if key == "" || req.Method == http.MethodGet || req.Method == http.MethodHead {
			return next(c)
		}
		if len(key) > 255 {
			return newError(http.StatusBadRequest, "bad_idempotency_key", "Idempotency-Key must be at most 255 characters")
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return readError(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		scope := "anonymous"
		if u := currentUser(c); u != nil {
			scope = u.ID
		}
		h := sha256.New()
		h.Write([]byte(req.Method + " " + req.URL.Path + "\n"))
		h.Write(body)
		hash := h.Sum(nil)

		ctx := req.Context()
		deadline := time.Now().Add(inFlightWait)
		for {
			stored, err := s.store.ClaimIdempotencyKey(ctx, scope, key, hash)
			switch {
			case err == nil && stored == nil:
				return s.runOnce(c, next, scope, key)
			case err == nil:
				c.Response().Header().Set("Idempotent-Replayed", "true")
				return c.Blob(stored.Status, stored.ContentType, stored.Body)
			case errors.Is(err, store.ErrKeyInFlight) && time.Now().Before(deadline):
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			default:
				if errors.Is(err, store.ErrKeyInFlight) {
					c.Response().Header().Set("Retry-After", "1")
				}
				return err
			}
		}
	}
}

// runOnce runs the request as the key's owner and keeps its answer. Server errors
// are not kept: the retry the client will send must really run again.
func (s *Server) runOnce(c echo.Context, next echo.HandlerFunc, scope, key string) error {
	rec := &recorder{ResponseWriter: c.Response().Writer}
	c.Response().Writer = rec
	if err := next(c); err != nil {
		c.Error(err)
	}
	ctx := context.WithoutCancel(c.Request().Context())
	status := c.Response().Status
	if status >= 500 || !c.Response().Committed {
		return s.store.ReleaseIdempotencyKey(ctx, scope, key)
	}
	return s.store.SaveIdempotentResponse(ctx, scope, key, store.StoredResponse{
		Status: status, ContentType: c.Response().Header().Get(echo.HeaderContentType), Body: rec.body.Bytes(),
	})
}

// recorder keeps a copy of what the handler writes.
type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() { http.NewResponseController(r.ResponseWriter).Flush() }

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
