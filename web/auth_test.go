package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/store"
)

func TestRegisterLoginMeLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	local := store.NewID("ann")
	body := map[string]string{"name": "Ann", "email": "Ann." + local + "@example.com", "password": "correct horse"}
	r := e.call(http.MethodPost, "/api/v1/users", "", body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	user := r.JSON(t)["user"].(map[string]any)
	require.Equal(t, "fan", user["role"])
	require.Contains(t, r.Header.Get("Set-Cookie"), "HttpOnly")

	r = e.call(http.MethodPost, "/api/v1/users", "", body)
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "email_taken", r.ErrorCode(t))

	r = e.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "ann." + local + "@EXAMPLE.com", "password": "wrong password"})
	require.Equal(t, http.StatusUnauthorized, r.Status)
	r = e.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "ann." + local + "@EXAMPLE.com", "password": "correct horse"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	token := r.JSON(t)["token"].(string)

	r = e.call(http.MethodGet, "/api/v1/me", token, nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, user["id"], r.JSON(t)["user"].(map[string]any)["id"])

	r = e.call(http.MethodPost, "/api/v1/auth/logout", token, nil)
	require.Equal(t, http.StatusNoContent, r.Status)
	r = e.call(http.MethodGet, "/api/v1/me", token, nil)
	require.Equal(t, http.StatusUnauthorized, r.Status)
}

// The sign-in cookie works in place of the header, as a browser sends it.
func TestCookieAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	token, _ := e.fan()
	r := e.call(http.MethodGet, "/api/v1/me", "", nil, "Cookie", "boxoffice_token="+token)
	require.Equal(t, http.StatusOK, r.Status)
}

// A fan cannot make itself an organizer: the role field is refused, and the
// account stays a fan.
func TestRegisterCannotChooseRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call(http.MethodPost, "/api/v1/users", "", map[string]string{
		"name": "Mallory", "email": store.NewID("mallory") + "@example.com", "password": "password123", "role": "organizer",
	})
	require.Equal(t, http.StatusBadRequest, r.Status)
	require.Equal(t, "unknown_field", r.ErrorCode(t))
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name       string
		give       string
		wantStatus int
		wantField  string
	}{
		{name: "malformed", give: `{"name":`, wantStatus: http.StatusBadRequest},
		{name: "empty body", give: ``, wantStatus: http.StatusBadRequest},
		{name: "array", give: `[]`, wantStatus: http.StatusBadRequest},
		{name: "two objects", give: `{} {}`, wantStatus: http.StatusBadRequest},
		{name: "no name", give: `{"email":"a@example.com","password":"password123"}`, wantStatus: http.StatusUnprocessableEntity, wantField: "name"},
		{name: "bad email", give: `{"name":"A","email":"not-an-email","password":"password123"}`, wantStatus: http.StatusUnprocessableEntity, wantField: "email"},
		{name: "short password", give: `{"name":"A","email":"a@example.com","password":"short"}`, wantStatus: http.StatusUnprocessableEntity, wantField: "password"},
		{name: "number as name", give: `{"name":5,"email":"a@example.com","password":"password123"}`, wantStatus: http.StatusUnprocessableEntity, wantField: "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(http.MethodPost, "/api/v1/users", "", tt.give)
			require.Equal(t, tt.wantStatus, r.Status, "%s", r.Body)
			if tt.wantField != "" {
				require.Equal(t, tt.wantField, r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["field"])
			}
		})
	}
}

// Without a token: 401; a fan managing events: 403; organizers only.
func TestEventAccessControl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fan, _ := e.fan()
	org := e.organizer()
	body := eventBody()
	id := body["id"].(string)

	require.Equal(t, http.StatusUnauthorized, e.call(http.MethodPost, "/api/v1/events", "", body).Status)
	require.Equal(t, http.StatusUnauthorized, e.call(http.MethodPost, "/api/v1/events", "not-a-token", body).Status)
	require.Equal(t, http.StatusForbidden, e.call(http.MethodPost, "/api/v1/events", fan, body).Status)
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/events/"+id, "", nil).Status)

	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/api/v1/events", org, body).Status)
	patch := map[string]any{"max_active_shoppers": 5}
	require.Equal(t, http.StatusUnauthorized, e.call(http.MethodPatch, "/api/v1/events/"+id, "", patch).Status)
	require.Equal(t, http.StatusForbidden, e.call(http.MethodPatch, "/api/v1/events/"+id, fan, patch).Status)
	require.Equal(t, http.StatusForbidden, e.call(http.MethodGet, "/api/v1/events/"+id+"/stats", fan, nil).Status)
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/api/v1/events/"+id+"/stats", org, nil).Status)
	require.Equal(t, http.StatusOK, e.call(http.MethodPatch, "/api/v1/events/"+id, org, patch).Status)
}
