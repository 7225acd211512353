package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shopping signs a new fan in and takes them through the line to the shop.
func shopping(t *testing.T, v view, name, eventID string) *fan {
	t.Helper()
	f := newFan(t, v)
	f.signIn(newAPIFan(t, name))
	f.open("/events/" + eventID + "/line")
	f.waitPath("/events/" + eventID + "/shop")
	f.waitFor(`[data-zone="VIP"] .seat`)
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "live"`, 10*time.Second)
	return f
}

func seatIs(sel, status string) string {
	return fmt.Sprintf(`document.querySelector('[data-zone="VIP"] [data-seat="%s"]').dataset.status === %q`, sel, status)
}

// TestSeatTakenShowsLive: two fans shop at once. A seat one of them holds
// turns grey on the other's map without a reload, and a fan who had picked a
// seat that someone else then holds is told and loses the pick.
func TestSeatTakenShowsLive(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{})
	ann := shopping(t, desktop, "Ann", id)
	bob := shopping(t, desktop, "Bob", id)
	bob.do(evalVoid(`window.stillHere = true`))

	// Ann's first try meets a rate limit: the page waits the Retry-After and
	// sends the same request with the same key.
	ann.do(evalVoid(`window.keys = []; const realFetch = window.fetch; let limited = false;
		window.fetch = (url, init = {}) => {
			if (init.method === "POST" && String(url).endsWith("/tickets/reserve")) {
				keys.push(init.headers["Idempotency-Key"]);
				if (!limited) {
					limited = true;
					return Promise.resolve(new Response('{"error":{"code":"rate_limited","message":"slow down"}}',
						{status: 429, headers: {"Retry-After": "1", "Content-Type": "application/json"}}));
				}
			}
			return realFetch(url, init);
		}`))
	ann.click(`[data-zone="VIP"] [data-seat="1A"]`)
	ann.click(`[data-zone="VIP"] [data-hold]`)
	ann.wait(`document.querySelectorAll("[data-holds] button").length === 1`, 10*time.Second)
	keys := js[[]string](ann, `keys`)
	require.Len(t, keys, 2)
	require.Equal(t, keys[0], keys[1])
	bob.wait(seatIs("1A", "RESERVED"), 10*time.Second)
	require.True(t, js[bool](bob, `(() => {
		const r = (id) => parseFloat(getComputedStyle(document.querySelector('[data-zone="VIP"] [data-seat="' + id + '"]')).r);
		return r("1A") < r("1B") / 2 })()`), "a taken seat is drawn smaller, not only greyer")

	bob.click(`[data-zone="VIP"] [data-seat="2A"]`)
	require.Contains(t, bob.text(`[data-zone="VIP"] [data-picked]`), "2A")
	ann.click(`[data-zone="VIP"] [data-seat="2A"]`)
	ann.click(`[data-zone="VIP"] [data-hold]`)
	bob.wait(`document.querySelector('[data-zone="VIP"] [data-zone-message]').textContent.includes("2A in VIP was just taken")`, 10*time.Second)
	require.Equal(t, "false", js[string](bob, `document.querySelector('[data-zone="VIP"] [data-seat="2A"]').getAttribute("aria-selected")`))
	require.Equal(t, "No seats chosen.", bob.text(`[data-zone="VIP"] [data-picked]`))
	require.True(t, js[bool](bob, `window.stillHere === true`), "the map changed by a reload, not live")
	bob.check("shop-seat-taken")
}

// TestHoldRunsOut: a fan at checkout lets the time run out. The countdown
// reaches zero, the page says the hold ran out, and the seats come back on
// the map of a fan shopping at the same time.
func TestHoldRunsOut(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{holdSeconds: 300})
	bob := shopping(t, phone, "Bob", id)
	// Fans admitted from now on get a short session; Bob keeps his long one.
	organizer(t).must(http.MethodPatch, "/events/"+id, map[string]any{"hold_seconds": 40})
	annFan := newAPIFan(t, "Ann")
	time.Sleep(1500 * time.Millisecond) // the server's event cache (1 s) learns the new hold_seconds
	ann := newFan(t, desktop)
	ann.signIn(annFan)
	ann.open("/events/" + id + "/line")
	ann.waitPath("/events/" + id + "/shop")

	ann.click(`[data-zone="VIP"] [data-seat="2C"]`)
	ann.click(`[data-zone="VIP"] [data-seat="2D"]`)
	ann.click(`[data-zone="VIP"] [data-hold]`)
	ann.wait(`document.querySelectorAll("[data-holds] button").length === 1`, 10*time.Second)
	bob.wait(seatIs("2C", "RESERVED")+" && "+seatIs("2D", "RESERVED"), 10*time.Second)
	ann.click("[data-checkout]")
	ann.waitFor("[data-card-form] #card")

	ann.wait(`!document.querySelector("[data-expired]").hidden`, 60*time.Second)
	require.Equal(t, "0:00", ann.text("[data-session-clock]"))
	require.Contains(t, ann.text("[data-message]"), "Your hold ran out")
	require.True(t, js[bool](ann, `document.querySelector("[data-pay-section]").hidden`), "no card form once the hold ran out")
	ann.check("checkout-expired")

	bob.wait(seatIs("2C", "AVAILABLE")+" && "+seatIs("2D", "AVAILABLE"), 15*time.Second)
	bob.check("shop")
}
