package web_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/web"
)

// lookups counts sign-in lookups, to show what a request costs the database.
type lookups struct {
	web.Store
	n atomic.Int64
}

func (l *lookups) UserByToken(ctx context.Context, token string) (*store.User, error) {
	l.n.Add(1)
	return l.Store.UserByToken(ctx, token)
}

// The pages are served before routing, so a fan's cookie costs no sign-in
// lookup on a page load; everything that is not a page stays the API's.
func TestPagesBesideTheAPI(t *testing.T) {
	t.Parallel()
	counter := &lookups{}
	e := newEnv(t, func(c *web.Config) { counter.Store = c.Store; c.Store = counter })

	for _, path := range []string{"/", "/events/no-such-event/line", "/tickets"} {
		r := e.call(http.MethodGet, path, "", nil, "Cookie", "boxoffice_token=some-token")
		require.Equal(t, http.StatusOK, r.Status, path)
		require.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/html"), path)
	}
	require.Zero(t, counter.n.Load(), "a page load looked the sign-in up")
	r := e.call(http.MethodGet, "/api/v1/me", "", nil, "Cookie", "boxoffice_token=some-token")
	require.Equal(t, http.StatusUnauthorized, r.Status)
	require.EqualValues(t, 1, counter.n.Load(), "the API still looks the sign-in up")

	for _, path := range []string{"/nope", "/api/v1/nope", "/events/x/line/more"} {
		r := e.call(http.MethodGet, path, "", nil)
		require.Equal(t, http.StatusNotFound, r.Status, path)
		require.Equal(t, "not_found", r.ErrorCode(t), path)
	}
	r = e.call(http.MethodPost, "/", "", nil)
	require.GreaterOrEqual(t, r.Status, 400)
	require.NotEmpty(t, r.ErrorCode(t))
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/api/v1/events", "", nil).Status)
}
