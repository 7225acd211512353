package rehearse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// client speaks the public HTTP API for every fan, timing each exchange under
// its route (the path's pattern, as the API documents it) and counting every
// answer that is not a success.
type client struct {
	base  string
	http  *http.Client
	slots chan struct{} // requests in flight at once, all fans together
	rec   *recorder
	// retryFor bounds how long one request is retried while the server is
	// unavailable (503, a dropped connection); 429 and a key in flight are
	// retried for as long as the run lasts, when the server says.
	retryFor time.Duration
}

// answer is one decoded answer.
type answer struct {
	status  int
	code    string // the error envelope's code
	body    []byte
	replay  bool // Idempotent-Replayed
	retryIn time.Duration
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

func (a *answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("decode %d answer: %w", a.status, err)
	}
	return nil
}

// apiError is an answer that was not a success, for the fan to decide upon.
type apiError struct {
	route  string
	status int
	code   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.route, e.status, e.code)
}

func codeOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return ""
}

// request is one call: route names it in the report, path is what is sent.
type request struct {
	method, route, path string
	token               string
	body                any
	key                 string // Idempotency-Key; kept across retries
}

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends r until it has an answer worth giving to the fan: a success, or an
// error that retrying the same request will not change. Each exchange is
// timed and counted; the time spent waiting for a free slot is not (it is the
// tool's own queue, not the server's).
func (c *client) do(ctx context.Context, r request) (*answer, error) {
	var body []byte
	if r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			return nil, err
		}
	}
	unavailableSince := time.Time{}
	backoff := 100 * time.Millisecond
	for {
		a, err := c.once(ctx, r, body)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := time.Duration(0)
		switch {
		case err != nil, a.status == http.StatusServiceUnavailable, a.status == http.StatusBadGateway,
			a.status == http.StatusGatewayTimeout:
			if unavailableSince.IsZero() {
				unavailableSince = time.Now()
			}
			if time.Since(unavailableSince) > c.retryFor {
				if err != nil {
					return nil, err
				}
				return a, &apiError{route: r.route, status: a.status, code: a.code}
			}
			wait = backoff
			if a != nil && a.retryIn > 0 {
				wait = a.retryIn
			}
			backoff = min(backoff*2, 2*time.Second)
		case a.status == http.StatusTooManyRequests,
			a.status == http.StatusConflict && a.code == "idempotency_key_in_flight":
			wait = max(a.retryIn, 100*time.Millisecond)
		case a.ok():
			return a, nil
		default:
			return a, &apiError{route: r.route, status: a.status, code: a.code}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (c *client) once(ctx context.Context, r request, body []byte) (*answer, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.rec.exchange(r.route, time.Since(start), 0, "network")
		}
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		if ctx.Err() == nil {
			c.rec.exchange(r.route, took, 0, "network")
		}
		return nil, fmt.Errorf("%s %s: read answer: %w", r.method, r.path, err)
	}
	a := &answer{status: resp.StatusCode, body: data, replay: resp.Header.Get("Idempotent-Replayed") == "true"}
	if !a.ok() {
		var env struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil {
			a.code = env.Error.Code
		}
		if a.code == "" {
			a.code = statusCode(resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			a.retryIn = time.Duration(s) * time.Second
		}
	}
	c.rec.exchange(r.route, took, a.status, a.code)
	return a, nil
}

// statusCode names an answer without the API's error envelope (a proxy's own
// error page, say) by its status: bad_gateway.
func statusCode(status int) string {
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}
