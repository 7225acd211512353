package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/store"
)

// rateBudget bounds each look at the shared counts: a sick Redis must not make
// every sign-in wait for its timeouts.
const rateBudget = 250 * time.Millisecond

// limitRates applies the shared rate limits: per client address on sign-ups,
// sign-ins and line joins, and per account on failed sign-ins. It runs before
// the Idempotency-Key middleware, so that a refusal (which means "later", not
// "no") is never stored as a key's answer.
//
// When Redis cannot be asked, the limits let requests through: a Redis outage
// must not lock fans out of their accounts (the line is down anyway, as it
// lives in Redis), and sign-in guessing stays bounded by bcrypt's cost.
func (s *Server) limitRates(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limits.Rates == nil || c.Request().Method != http.MethodPost {
			return next(c)
		}
		switch c.Path() {
		case "/api/v1/users":
			if err := s.allow(c, "signup", s.limits.SignUp); err != nil {
				return err
			}
		case "/api/v1/events/:id/queue":
			if err := s.allow(c, "join", s.limits.Join); err != nil {
				return err
			}
		case "/api/v1/auth/login":
			return s.limitSignIn(c, next)
		}
		return next(c)
	}
}

// limitSignIn refuses sign-ins to a locked account before they cost a bcrypt
// comparison or the address's allowance (so a guesser's refused tries do not
// crowd out others behind the same address), and counts the outcome.
func (s *Server) limitSignIn(c echo.Context, next echo.HandlerFunc) error {
	email, err := peekEmail(c)
	if err != nil {
		return err
	}
	if email != "" {
		ctx, cancel := context.WithTimeout(c.Request().Context(), rateBudget)
		wait, err := s.limits.Rates.Locked(ctx, email)
		cancel()
		switch {
		case err != nil:
			// Redis is sick: one wait per sign-in is enough.
			s.ratesDown(c, err)
			return next(c)
		case wait > 0:
			s.metrics.refused.WithLabelValues("signin_backoff").Inc()
			return tooMany(c, wait, "too many failed sign-ins for this account")
		}
	}
	if err := s.allow(c, "signin", s.limits.SignIn); err != nil {
		return err
	}
	err = next(c)
	if email == "" || c.Response().Header().Get("Idempotent-Replayed") != "" {
		return err
	}
	// With an Idempotency-Key the answer is written already and err is nil.
	status := c.Response().Status
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), rateBudget)
	defer cancel()
	switch {
	case errors.Is(err, store.ErrBadCredentials) || (err == nil && status == http.StatusUnauthorized):
		if _, ferr := s.limits.Rates.Failed(ctx, s.limits.SignInBackoff, email); ferr != nil {
			s.ratesDown(c, ferr)
		}
	case err == nil && status == http.StatusOK:
		if serr := s.limits.Rates.Succeeded(ctx, email); serr != nil {
			s.ratesDown(c, serr)
		}
	}
	return err
}

// allow takes one request from the client address's allowance for limit.
func (s *Server) allow(c echo.Context, limit string, r ratelimit.Rate) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), rateBudget)
	defer cancel()
	wait, err := s.limits.Rates.Allow(ctx, limit, r, addressKey(c.RealIP()))
	switch {
	case err != nil:
		s.ratesDown(c, err)
	case wait > 0:
		s.metrics.refused.WithLabelValues(limit).Inc()
		return tooMany(c, wait, "too many "+limitNames[limit]+" from your address")
	}
	return nil
}

var limitNames = map[string]string{"signup": "sign-ups", "signin": "sign-ins", "join": "line joins"}

func (s *Server) ratesDown(c echo.Context, err error) {
	s.warn.WarnContext(c.Request().Context(), "rate limits unavailable: letting requests through", "err", err)
}

// tooMany is the 429 answer, with Retry-After in whole seconds.
func tooMany(c echo.Context, wait time.Duration, what string) error {
	secs := int((wait + time.Second - 1) / time.Second)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: what + "; try again in " + strconv.Itoa(secs) + " s", Details: map[string]any{"retry_after": secs}}
}

// peekEmail reads the sign-in's email and leaves the body for the handler. A
// body that is not a JSON object with an email gives "" (the handler answers it).
func peekEmail(c echo.Context) (string, error) {
	r := c.Request()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", readError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var login struct {
		Email string `json:"email"`
	}
	_ = json.Unmarshal(body, &login)
	return login.Email, nil
}
