package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzCheckIn aims arbitrary bodies at the door as an organizer. Whatever the
// body: never a 5xx, a refusal changes nothing, a 200 is one of the three
// results, and only a body holding one of the fixture's genuine codes lets a
// ticket in. $CODE and $BOBCODE are Ann's and Bob's booked tickets' codes.
func FuzzCheckIn(f *testing.F) {
	tf := newTicketFuzz(f, false)
	org, err := tf.e.db.CreateToken(context.Background(), tf.organizer)
	require.NoError(f, err)
	addSeeds(f, ticketMalformedSeeds)
	addSeeds(f, []string{
		`{"code":"$CODE"}`,
		`{"code":"$BOBCODE"}`,
		`{"code":" $CODE "}`,
		`{"code":""}`,
		`{"code":null}`,
		`{"code":123}`,
		`{"code":["$CODE"]}`,
		`{"code":"$CODE","event_id":"other"}`,
		`{"code":"BX1-1-AAAAAAAAAAAAAAAA"}`,
		`{"code":"BX1-99999999999999999999-AAAAAAAAAAAAAAAA"}`,
		`{"code":"BX1--1-AAAAAAAAAAAAAAAA"}`,
		`{"code":"bx1-1-aaaaaaaaaaaaaaaa"}`,
		`{"code":"BX1-1\u0000-AAAAAAAAAAAAAAAA"}`,
		`{"code":"Ряд 🎟️ 東京"}`,
		`{"code":"` + strings.Repeat("B", 10000) + `"}`,
		`{"code":"$CODE","code":"$BOBCODE"}`,
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tf.begin(t)
		codes := map[string]string{}
		for name, token := range map[string]string{"$CODE": tf.ann, "$BOBCODE": tf.bob} {
			r := tf.e.call(http.MethodGet, "/api/v1/me/bookings", token, nil)
			for _, b := range r.JSON(t)["bookings"].([]any) {
				for _, tk := range b.(map[string]any)["tickets"].([]any) {
					if c, ok := tk.(map[string]any)["code"].(string); ok {
						codes[name] = c
					}
				}
			}
		}
		body := tf.fill([]byte(strings.NewReplacer("$BOBCODE", codes["$BOBCODE"], "$CODE", codes["$CODE"]).Replace(string(raw))))
		const what = "POST /api/v1/events/{id}/checkins"
		r, m, before, after := tf.send(t, http.MethodPost, "/api/v1/events/"+tf.event+"/checkins", org, body)
		requireUnchanged(t, what, body, r, before, after) // a check-in touches no ticket, hold, payment or booking
		if r.Status >= 300 {
			return
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		ci := object(t, m, "checkin", body)
		switch ci["result"] {
		case "valid", "already_checked_in":
			upper := strings.ToUpper(string(body))
			require.True(t, strings.Contains(upper, codes["$CODE"]) || strings.Contains(upper, codes["$BOBCODE"]),
				"body %q let a ticket in without its code: %s", body, r.Body)
		case "invalid":
			require.Contains(t, []any{"unknown", "other_event", "cancelled"}, ci["reason"], "body %q: %s", body, r.Body)
		default:
			t.Fatalf("body %q: result %v", body, ci["result"])
		}
	})
}
