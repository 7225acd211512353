package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCreateAndReadEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.organizer()
	body := eventBody()
	id := body["id"].(string)

	r := e.call(http.MethodPost, "/api/v1/events", org, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	ev := r.JSON(t)["event"].(map[string]any)
	require.Equal(t, 15.0, ev["capacity"])
	require.Equal(t, "scheduled", ev["sale_status"])
	require.Equal(t, 600.0, ev["hold_seconds"], "default hold is ten minutes")

	r = e.call(http.MethodGet, "/api/v1/events/"+id, "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	zones := r.JSON(t)["event"].(map[string]any)["zones"].([]any)
	require.Len(t, zones, 2)
	vip := zones[1].(map[string]any)
	require.Equal(t, "VIP", vip["id"])
	require.Equal(t, 5.0, vip["capacity"])
	require.Equal(t, 5.0, vip["available_tickets"])
	require.Equal(t, 0.0, vip["booked_tickets"])

	r = e.call(http.MethodGet, "/api/v1/events/"+id+"/zones/VIP/seats", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	var ids []string
	for _, s := range r.JSON(t)["seats"].([]any) {
		seat := s.(map[string]any)
		require.Equal(t, "AVAILABLE", seat["status"])
		ids = append(ids, seat["id"].(string))
	}
	require.Equal(t, []string{"1A", "1B", "1C", "2A", "2B"}, ids)

	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/events/"+id+"/zones/GA/seats", "", nil).Status)
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/events/"+id+"/zones/NOPE/seats", "", nil).Status)

	r = e.call(http.MethodGet, "/api/v1/events", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	found := false
	for _, x := range r.JSON(t)["events"].([]any) {
		found = found || x.(map[string]any)["id"] == id
	}
	require.True(t, found)

	r = e.call(http.MethodPost, "/api/v1/events", org, body)
	require.Equal(t, http.StatusConflict, r.Status)
	require.Equal(t, "event_exists", r.ErrorCode(t))
}

func TestCreateEventValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.organizer()
	tests := []struct {
		name       string
		change     func(b map[string]any)
		wantStatus int
		wantField  string
	}{
		{name: "no zones", change: func(b map[string]any) { b["zones"] = []any{} }, wantStatus: 422, wantField: "zones"},
		{name: "duplicate zone id", change: func(b map[string]any) {
			z := b["zones"].([]any)
			b["zones"] = append(z, z[0])
		}, wantStatus: 422, wantField: "zones[2].id"},
		{name: "duplicate seat id", change: func(b map[string]any) {
			b["zones"].([]any)[1].(map[string]any)["rows"] = []any{map[string]any{"row": "1", "seats": 2}, map[string]any{"row": "1", "seats": 2}}
		}, wantStatus: 422, wantField: "zones[1].rows"},
		{name: "zero capacity", change: func(b map[string]any) { b["zones"].([]any)[0].(map[string]any)["capacity"] = 0 }, wantStatus: 422, wantField: "zones[0].capacity"},
		{name: "over a million", change: func(b map[string]any) { b["zones"].([]any)[0].(map[string]any)["capacity"] = 1_000_000 }, wantStatus: 422, wantField: "zones"},
		{name: "negative price", change: func(b map[string]any) { b["zones"].([]any)[0].(map[string]any)["price_cents"] = -1 }, wantStatus: 422, wantField: "zones[0].price_cents"},
		{name: "sale after show", change: func(b map[string]any) { b["sale_opens_at"] = "2030-07-01T10:00:00Z" }, wantStatus: 422, wantField: "sale_opens_at"},
		{name: "bad kind", change: func(b map[string]any) { b["zones"].([]any)[0].(map[string]any)["kind"] = "standing" }, wantStatus: 422, wantField: "zones[0].kind"},
		{name: "bad time", change: func(b map[string]any) { b["starts_at"] = "tomorrow" }, wantStatus: 422},
		{name: "bad id", change: func(b map[string]any) { b["id"] = "ev{1}" }, wantStatus: 422, wantField: "id"},
		{name: "unknown field", change: func(b map[string]any) { b["colour"] = "red" }, wantStatus: 400},
		{name: "unknown zone field", change: func(b map[string]any) { b["zones"].([]any)[0].(map[string]any)["seats"] = 3 }, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := eventBody()
			tt.change(b)
			r := e.call(http.MethodPost, "/api/v1/events", org, b)
			require.Equal(t, tt.wantStatus, r.Status, "%s", r.Body)
			if tt.wantField != "" {
				require.Equal(t, tt.wantField, r.JSON(t)["error"].(map[string]any)["details"].(map[string]any)["field"], "%s", r.Body)
			}
			require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/api/v1/events/"+b["id"].(string), "", nil).Status)
		})
	}
}

func TestPatchEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.organizer()
	body := eventBody()
	id := body["id"].(string)
	require.Equal(t, http.StatusCreated, e.call(http.MethodPost, "/api/v1/events", org, body).Status)

	r := e.call(http.MethodPatch, "/api/v1/events/"+id, org, map[string]any{"max_active_shoppers": 50, "sale_opens_at": "2030-05-02T10:00:00Z"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	ev := r.JSON(t)["event"].(map[string]any)
	require.Equal(t, 50.0, ev["max_active_shoppers"])
	require.Equal(t, "2030-05-02T10:00:00Z", ev["sale_opens_at"])
	require.Equal(t, 6.0, ev["max_tickets_per_user"], "fields not sent are kept")

	before := e.call(http.MethodGet, "/api/v1/events/"+id, "", nil).Body
	for _, bad := range []any{
		map[string]any{"sale_opens_at": "2031-01-01T00:00:00Z"},
		map[string]any{"hold_seconds": 0},
		map[string]any{"zones": []any{}},
		map[string]any{"currency": "eur"},
		`{"hold_seconds": "ten"}`,
		`{"nope": 1}`,
	} {
		r := e.call(http.MethodPatch, "/api/v1/events/"+id, org, bad)
		require.Contains(t, []int{400, 422}, r.Status, "%v: %s", bad, r.Body)
	}
	require.JSONEq(t, string(before), string(e.call(http.MethodGet, "/api/v1/events/"+id, "", nil).Body))
	require.Equal(t, http.StatusNotFound, e.call(http.MethodPatch, "/api/v1/events/nope-"+id, org, map[string]any{"hold_seconds": 60}).Status)
}
