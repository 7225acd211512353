package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
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
			claim, err := s.store.ClaimIdempotencyKey(ctx, scope, key, hash)
			switch {
			case err == nil && claim.Owned:
				return s.runOnce(c, next, scope, key)
			case err == nil:
				stored := claim.Stored
				c.Response().Header().Set("Idempotent-Replayed", "true")
				if re, ok := secretAnswers[c.Path()]; ok && stored.Status < 300 {
					return re.reissue(s, c, stored)
				}
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
// are not kept: the retry the client will send must really run again. While it
// runs, it says so every store.Heartbeat: a key whose owner went silent (its
// replica died) is taken over within seconds.
func (s *Server) runOnce(c echo.Context, next echo.HandlerFunc, scope, key string) error {
	ctx := context.WithoutCancel(c.Request().Context())
	stop := s.heartbeat(ctx, scope, key)
	rec := &recorder{ResponseWriter: c.Response().Writer}
	c.Response().Writer = rec
	if err := next(c); err != nil {
		c.Error(err)
	}
	stop()
	status := c.Response().Status
	if status >= 500 || !c.Response().Committed {
		return s.store.ReleaseIdempotencyKey(ctx, scope, key)
	}
	body := rec.body.Bytes()
	if re, ok := secretAnswers[c.Path()]; ok && status < 300 {
		body = re.redacted(body)
	}
	return s.store.SaveIdempotentResponse(ctx, scope, key, store.StoredResponse{
		Status: status, ContentType: c.Response().Header().Get(echo.HeaderContentType), Body: body,
	})
}

// heartbeat tells the store the key's request still runs, until stop is called.
func (s *Server) heartbeat(ctx context.Context, scope, key string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(store.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.store.HeartbeatIdempotencyKey(ctx, scope, key); err != nil {
					s.log.WarnContext(ctx, "idempotency heartbeat", "err", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// secretAnswer is an answer that carries a secret (a sign-in token, a
// payment's client secret, ticket codes). The idempotency table keeps it without the secret,
// and a replay makes the secret anew: no secret is ever stored where a replay
// could hand it out.
type secretAnswer struct {
	secret  []string            // path of the secret field in the JSON answer
	strip   func([]byte) []byte // or what drops the secrets, when they are many
	reissue func(s *Server, c echo.Context, stored *store.StoredResponse) error
}

func (re secretAnswer) redacted(body []byte) []byte {
	if re.strip != nil {
		return re.strip(body)
	}
	return redact(body, re.secret)
}

var secretAnswers = map[string]secretAnswer{
	"/api/v1/users":                {secret: []string{"token"}, reissue: (*Server).signInAgain},
	"/api/v1/auth/login":           {secret: []string{"token"}, reissue: (*Server).signInAgain},
	"/api/v1/payments":             {secret: []string{"payment", "client_secret"}, reissue: (*Server).paymentAgain},
	"/api/v1/payments/:id/confirm": {secret: []string{"payment", "client_secret"}, reissue: (*Server).paymentAgain},
	"/api/v1/tickets/book":         {strip: stripCodes, reissue: (*Server).bookingAgain}, // ticket codes
}

// redact drops the field at path from a JSON object.
func redact(body []byte, path []string) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	obj := m
	for _, k := range path[:len(path)-1] {
		if obj, _ = obj[k].(map[string]any); obj == nil {
			return body
		}
	}
	delete(obj, path[len(path)-1])
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// signInAgain answers a replayed sign-up or sign-in with a new token for the
// same account (the request proved the password, or made the account).
func (s *Server) signInAgain(c echo.Context, stored *store.StoredResponse) error {
	var a struct {
		User *userJSON `json:"user"`
	}
	if err := json.Unmarshal(stored.Body, &a); err != nil || a.User == nil {
		return fmt.Errorf("replay sign-in: stored answer unreadable: %w", err)
	}
	return s.signIn(c, stored.Status, a.User.user())
}

// paymentAgain answers a replayed payment request with the stored answer and
// the payment's client secret, asked of the provider anew.
func (s *Server) paymentAgain(c echo.Context, stored *store.StoredResponse) error {
	var a map[string]any
	if err := json.Unmarshal(stored.Body, &a); err != nil {
		return fmt.Errorf("replay payment: stored answer unreadable: %w", err)
	}
	pay, _ := a["payment"].(map[string]any)
	id, _ := pay["id"].(string)
	ctx := c.Request().Context()
	p, err := s.booking.MyPayment(ctx, id, currentUser(c).ID)
	if err != nil {
		return err
	}
	secret, err := s.payableSecret(ctx, p)
	if err != nil {
		return err
	}
	if secret != "" {
		pay["client_secret"] = secret
	}
	return c.JSON(stored.Status, a)
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
