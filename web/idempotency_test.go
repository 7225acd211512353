package web_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
)

// 50 concurrent identical writes with one key have one effect, and every one of
// them gets the first answer: here, the one account, each with a sign-in token
// of its own, since no token is stored for replays.
func TestIdempotencyKeyConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	email := store.NewID("idem") + "@example.com"
	body := map[string]string{"name": "Ida", "email": email, "password": "password123"}
	key := store.NewID("key")

	var (
		wg        sync.WaitGroup
		responses = make([]response, 50)
		start     = make(chan struct{})
	)
	for i := range responses {
		wg.Go(func() {
			<-start
			responses[i] = e.call(http.MethodPost, "/api/v1/users", "", body, "Idempotency-Key", key)
		})
	}
	close(start)
	wg.Wait()

	first := responses[0]
	require.Equal(t, http.StatusCreated, first.Status, "%s", first.Body)
	user := first.JSON(t)["user"]
	replayed := 0
	tokens := map[string]bool{}
	for _, r := range responses {
		require.Equal(t, first.Status, r.Status)
		require.Equal(t, user, r.JSON(t)["user"], "every answer is the one account")
		token := r.JSON(t)["token"].(string)
		require.False(t, tokens[token], "a sign-in token handed out twice")
		tokens[token] = true
		require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/api/v1/me", token, nil).Status, "each token signs in")
		if r.Header.Get("Idempotent-Replayed") == "true" {
			replayed++
			require.Contains(t, r.Header.Get("Set-Cookie"), "boxoffice_token="+token, "a replay signs the browser in too")
		}
	}
	require.Equal(t, 49, replayed)
	// No token is kept where a replay could hand it out.
	var stored []byte
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT body FROM idempotency_keys WHERE key = $1`, key).Scan(&stored))
	require.NotContains(t, string(stored), "token")
	for token := range tokens {
		require.NotContains(t, string(stored), token)
	}

	var users int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM users WHERE email = $1`, email).Scan(&users))
	require.Equal(t, 1, users)

	body["name"] = "Someone else"
	r := e.call(http.MethodPost, "/api/v1/users", "", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusUnprocessableEntity, r.Status)
	require.Equal(t, "idempotency_key_reused", r.ErrorCode(t))
}

// Keys are per caller: two organizers using the same key each get their own
// result, and an error answer is replayed as it was.
func TestIdempotencyKeyScopeAndErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	orgA, orgB := e.organizer(), e.organizer()
	key := store.NewID("key")

	a := eventBody()
	b := eventBody()
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/api/v1/events", orgA, a, "Idempotency-Key", key).Status)
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/api/v1/events", orgB, b, "Idempotency-Key", key).Status)

	bad := eventBody()
	bad["zones"] = []any{}
	key2 := store.NewID("key")
	r1 := e.call(http.MethodPost, "/api/v1/events", orgA, bad, "Idempotency-Key", key2)
	r2 := e.call(http.MethodPost, "/api/v1/events", orgA, bad, "Idempotency-Key", key2)
	require.Equal(t, http.StatusUnprocessableEntity, r1.Status)
	require.Equal(t, r1.Body, r2.Body)
	require.Equal(t, "true", r2.Header.Get("Idempotent-Replayed"))

	// A key PostgreSQL cannot keep (not UTF-8) is the client's error, refused
	// before the request runs; it is never a 500, nor any other fan's failure.
	c := eventBody()
	r := e.call(http.MethodPost, "/api/v1/events", orgA, c, "Idempotency-Key", "key-\xff")
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	require.Equal(t, "bad_text", r.JSON(t)["error"].(map[string]any)["code"])
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/events/"+c["id"].(string), "", nil).Status,
		"nothing was made")
}

// Signing out with an Idempotency-Key (as the pages send every write) answers
// 204 and keeps that answer, and the same request again answers 204 too.
func TestLogoutWithAKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token, _ := e.fan()
	key := store.NewID("key")
	first := e.call(http.MethodPost, "/api/v1/auth/logout", token, nil, "Idempotency-Key", key)
	require.Equal(t, http.StatusNoContent, first.Status, "%s", first.Body)
	var kept int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(),
		`SELECT status FROM idempotency_keys WHERE key = $1`, key).Scan(&kept), "the first answer was not kept")
	require.Equal(t, http.StatusNoContent, kept)
	// The same click again: the token is gone, so it is a visitor's sign-out,
	// which still answers 204 (and clears the cookie).
	again := e.call(http.MethodPost, "/api/v1/auth/logout", token, nil, "Idempotency-Key", key)
	require.Equal(t, http.StatusNoContent, again.Status, "%s", again.Body)
}
