package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// client calls the JSON API as a signed-in user (token) or anonymously, for
// the parts of a test that are not the page under test: the organizer making
// events, other fans in line.
type client struct {
	t     *testing.T
	token string
}

// call sends one request, as the pages do: a write carries an Idempotency-Key,
// and a 503 or 429 (a loaded machine: a sign-in past the request deadline) is
// sent again with the same key after its Retry-After, a few times.
func (c client) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(c.t, err)
	}
	key := "e2e-" + randomHex(12)
	for try := 1; ; try++ {
		req, err := http.NewRequest(method, env.url("/api/v1"+path), bytes.NewReader(raw))
		require.NoError(c.t, err)
		req.Header.Set("Content-Type", "application/json")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if method != http.MethodGet {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(c.t, err)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && try < 4 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(min(max(wait, 1), 5)) * time.Second)
			continue
		}
		var out map[string]any
		if len(answer) > 0 {
			require.NoError(c.t, json.Unmarshal(answer, &out), "%s %s: %s", method, path, answer)
		}
		return resp.StatusCode, out
	}
}

// must calls and requires a 2xx answer.
func (c client) must(method, path string, body any) map[string]any {
	c.t.Helper()
	status, out := c.call(method, path, body)
	require.Less(c.t, status, 300, "%s %s answered %d: %v", method, path, status, out)
	return out
}

func organizer(t *testing.T) client {
	t.Helper()
	out := client{t: t}.must(http.MethodPost, "/auth/login", map[string]string{"email": env.orgEmail, "password": env.orgPassword})
	return client{t: t, token: out["token"].(string)}
}

// newAPIFan signs a fan up through the API.
func newAPIFan(t *testing.T, name string) client {
	t.Helper()
	out := client{t: t}.must(http.MethodPost, "/users", map[string]string{
		"name": name, "email": "fan-" + randomHex(6) + "@example.com", "password": "fan-password-1"})
	return client{t: t, token: out["token"].(string)}
}

// sale is how a test wants its event: short timings keep the suite fast.
type sale struct {
	opensIn      time.Duration // from now; zero or negative: open already
	holdSeconds  int           // the shopping window
	maxActive    int           // shoppers at once
	paymentGrace int
	presence     int // presence_seconds; default 300
	claim        int // claim_seconds; default 120
}

// newEvent makes an event with a seated VIP zone (rows 1 and 2, six seats
// each) and a general admission pool, in that order.
func newEvent(t *testing.T, s sale) string {
	t.Helper()
	id := "e2e-" + randomHex(5)
	now := time.Now().UTC()
	opens := now.Add(s.opensIn)
	if s.opensIn <= 0 {
		opens = now.Add(-time.Minute)
	}
	body := map[string]any{
		"id": id, "name": "The Night Owls " + id[4:], "venue": "Riverside Hall",
		"starts_at": now.Add(30 * 24 * time.Hour).Format(time.RFC3339), "sale_opens_at": opens.Format(time.RFC3339Nano),
		"lobby_opens_at": now.Add(-2 * time.Minute).Format(time.RFC3339), "max_tickets_per_user": 6,
		"hold_seconds": or(s.holdSeconds, 300), "max_active_shoppers": or(s.maxActive, 50),
		"payment_grace_seconds": s.paymentGrace, "presence_seconds": or(s.presence, 300), "claim_seconds": or(s.claim, 120),
		"zones": []map[string]any{
			{"id": "VIP", "name": "VIP", "kind": "seated", "price_cents": 45000,
				"rows": []map[string]any{{"row": "1", "seats": 6}, {"row": "2", "seats": 6}}},
			{"id": "GA", "name": "General Admission", "kind": "pool", "price_cents": 9900, "capacity": 40},
		},
	}
	organizer(t).must(http.MethodPost, "/events", body)
	env.remember(id)
	return id
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// place is a fan's standing in line, from GET …/queue.
func (c client) place(eventID string) (int, map[string]any) {
	c.t.Helper()
	return c.call(http.MethodGet, fmt.Sprintf("/events/%s/queue", eventID), nil)
}

func (c client) join(eventID string) map[string]any {
	c.t.Helper()
	return c.must(http.MethodPost, fmt.Sprintf("/events/%s/queue", eventID), nil)
}

func (c client) leave(eventID string) {
	c.t.Helper()
	c.must(http.MethodDelete, fmt.Sprintf("/events/%s/queue", eventID), nil)
}

// admitted claims the fan's admission, if it has one, and says whether it has.
func (c client) admitted(eventID string) bool {
	c.t.Helper()
	status, p := c.place(eventID)
	return status == http.StatusOK && p["session"] != nil
}
