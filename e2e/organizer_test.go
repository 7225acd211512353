package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// localTime sets a datetime-local input to now plus offset, in the browser's
// own time zone, as a person picking a time would.
func localTime(sel string, offset time.Duration) string {
	return fmt.Sprintf(`(() => {
		const d = new Date(Date.now() + %d), p = (n) => String(n).padStart(2, "0");
		document.querySelector(%q).value = d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes());
	})()`, offset.Milliseconds(), sel)
}

// buyVIP takes a fan through the API from the line to a booking of two VIP
// seats paid with the test card.
func buyVIP(t *testing.T, c client, eventID string, seats ...string) {
	t.Helper()
	c.join(eventID)
	deadline := time.Now().Add(15 * time.Second)
	for !c.admitted(eventID) {
		require.True(t, time.Now().Before(deadline), "the fan was never admitted")
		time.Sleep(100 * time.Millisecond)
	}
	hold := c.must(http.MethodPost, "/tickets/reserve", map[string]any{"event_id": eventID, "zone_id": "VIP", "seats": seats})["reservation"].(map[string]any)
	pay := c.must(http.MethodPost, "/payments", map[string]any{"reservation_id": hold["id"]})["payment"].(map[string]any)
	c.must(http.MethodPost, "/payments/"+pay["id"].(string)+"/confirm", map[string]any{"card_number": "4242424242424242"})
	c.must(http.MethodPost, "/tickets/book", map[string]any{"reservation_id": hold["id"], "payment_id": pay["id"]})
}

// checkLong is check for a page too long to photograph whole in good time
// (the API reference): a screenshot of the first screen, and axe-core on all
// of it when withAxe (it takes seconds on a page that long).
func (f *fan) checkLong(page string, withAxe bool) {
	f.t.Helper()
	f.do(evalVoid(`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(f.ctx, chromedp.CaptureScreenshot())
	require.NoError(f.t, err)
	require.NoError(f.t, os.WriteFile(filepath.Join(env.out, "screenshots", page+"-"+f.view.name+".png"), png, 0o644))
	if withAxe {
		f.axe(page)
	}
}

// TestOrganizerRunsASale: the organizer signs in, creates an event in the form
// (a GA pool and a seated zone; the server's errors show beside their fields
// first), lands on its dashboard and watches it move, without a reload, as
// fans buy through the API; then pauses admissions from the dashboard, and a
// fan who joins afterwards is not let in.
func TestOrganizerRunsASale(t *testing.T) {
	t.Parallel()
	f := newFan(t, desktop)
	f.open("/signin?next=/organizer")
	f.fill("#email", env.orgEmail)
	f.fill("#password", env.orgPassword)
	f.click(`button[type=submit]`)
	f.waitPath("/organizer")
	f.waitFor(`a[href="/organizer/events/new"]`)
	f.check("organizer")

	f.click(`a[href="/organizer/events/new"]`)
	f.waitPath("/organizer/events/new")
	f.waitFor("#f-id")
	f.check("event-form")
	id := "e2e-org-" + randomHex(4)
	env.remember(id)
	f.fill("#f-id", id)
	f.fill("#f-name", "The Organizer's Night")
	f.fill("#f-venue", "Harbour Arena")
	f.do(evalVoid(localTime("#f-lobby", -2*time.Minute)),
		evalVoid(localTime("#f-sale", -time.Minute)),
		evalVoid(localTime("#f-starts", -2*time.Hour))) // a show before its sale: the server says no
	f.fill(`[data-zone] input[data-key="price"]`, "99")
	f.fill(`[data-zone] input[data-key="capacity"]`, "40")
	f.click("[data-add-zone]")
	require.Equal(t, 2, f.count("[data-zone]"))
	vip := `[data-zone]:nth-of-type(2) `
	f.fill(vip+`input[data-key="id"]`, "VIP")
	f.fill(vip+`input[data-key="name"]`, "VIP Balcony")
	f.do(evalVoid(`(() => { const s = document.querySelector('[data-zone]:nth-of-type(2) select'); s.value = "seated"; s.dispatchEvent(new Event("change")); })()`))
	f.fill(vip+`input[data-key="price"]`, "450")
	f.fill(vip+`input[data-key="rows"]`, "2")

	f.click("[data-submit]")
	f.waitFor("#f-sale-error")
	require.Contains(t, f.text("#f-sale-error"), "Sale opens: must be before starts at")
	require.Equal(t, "true", js[string](f, `document.querySelector("#f-sale").getAttribute("aria-invalid")`))
	require.Contains(t, js[string](f, `document.querySelector("#f-sale").getAttribute("aria-describedby")`), "f-sale-error")
	require.Equal(t, "f-sale", js[string](f, `document.activeElement.id`), "focus goes to the field")

	f.do(evalVoid(localTime("#f-starts", 30*24*time.Hour)))
	f.click("[data-submit]")
	seats := vip + `input[data-key="seats"]`
	f.wait(`document.querySelector('[data-zone]:nth-of-type(2) input[data-key="seats"]').getAttribute("aria-invalid") === "true"`, 10*time.Second)
	require.Contains(t, f.text(vip+".field-error"), "Seats per row: must be between 1 and 1000", "a zone's error sits beside the zone's field")
	require.Zero(t, f.count("#f-sale-error"), "the fixed field's error is gone")
	f.check("event-form-errors")
	f.fill(seats, "6")
	f.click("[data-submit]")

	f.waitPath("/events/" + id + "/dashboard")
	f.wait(`document.querySelector('[data-stat="sold"]').textContent === "0"`, 10*time.Second)
	require.Equal(t, 2, f.count("[data-zones] tr"))
	require.Contains(t, f.text(`[data-zone="VIP"] th`), "VIP Balcony")
	f.do(evalVoid(`window.notReloaded = true`))

	ann, bob := newAPIFan(t, "Ann"), newAPIFan(t, "Bob")
	buyVIP(t, ann, id, "1A", "1B")
	f.wait(`document.querySelector('[data-stat="sold"]').textContent === "2"`, 10*time.Second)
	require.Contains(t, f.text(`[data-stat="revenue"]`), "900.00")
	buyVIP(t, bob, id, "2C")
	f.wait(`document.querySelector('[data-stat="sold"]').textContent === "3"`, 10*time.Second)
	require.Contains(t, f.text(`[data-stat="revenue"]`), "1,350.00")
	require.Equal(t, "3", strings.TrimSpace(f.text(`[data-zone="VIP"] [data-sold]`)))
	require.True(t, js[bool](f, `window.notReloaded === true`), "the dashboard moved without a reload")
	f.wait(`document.querySelectorAll('[data-chart="sold"] path.plot').length === 1`, 5*time.Second)
	f.check("dashboard")

	org := organizer(t)
	f.click("[data-pause]")
	f.wait(`document.querySelector("[data-pause]").getAttribute("aria-pressed") === "true"`, 10*time.Second)
	require.Equal(t, "Resume admissions", f.text("[data-pause]"))
	require.Equal(t, true, org.must(http.MethodGet, "/events/"+id, nil)["event"].(map[string]any)["paused"])
	// Every replica reads the events on sale every 2 s; after that nobody is let in.
	time.Sleep(2500 * time.Millisecond)
	cat := newAPIFan(t, "Cat")
	require.Equal(t, "waiting", cat.join(id)["status"])
	for range 10 {
		time.Sleep(200 * time.Millisecond)
		require.False(t, cat.admitted(id), "a fan was admitted while admissions were paused")
	}
	stats := org.must(http.MethodGet, "/events/"+id+"/stats", nil)["stats"].(map[string]any)
	require.Equal(t, true, stats["paused"])
	require.Equal(t, 1.0, stats["queue_length"])
	f.waitFor("[data-paused-badge]")
	f.check("dashboard-paused")
}

// TestOrganizerPagesByKeyboardOnAPhone: the settings form and the dashboard's
// knobs work with the keyboard alone on a phone; a fan who opens an organizer
// page is told to sign in as an organizer; the API reference lists the API.
func TestOrganizerPagesByKeyboardOnAPhone(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{})
	f := newFan(t, phone)
	f.signIn(organizer(t))

	f.open("/organizer/events/" + id + "/edit")
	f.waitFor("#f-max-active")
	require.Zero(t, f.count("[data-zone] input"), "zones cannot change: they are shown, not edited")
	f.check("event-edit")
	f.tabTo("#f-max-active")
	f.press(kb.End)
	for range 4 {
		f.press(kb.Backspace)
	}
	f.typeKeys("12")
	f.tabTo("#f-rate")
	f.typeKeys("5")
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-message]").textContent.startsWith("Saved")`, 10*time.Second)
	ev := organizer(t).must(http.MethodGet, "/events/"+id, nil)["event"].(map[string]any)
	require.Equal(t, 12.0, ev["max_active_shoppers"], "max_active_shoppers was 50: four backspaces and 12")
	require.Equal(t, 5.0, ev["admission_rate"], "admission_rate was 0, typed after it: 05")

	f.tabTo("[data-dashboard]")
	f.press(kb.Enter)
	f.waitPath("/events/" + id + "/dashboard")
	f.wait(`document.querySelector('[data-stat="sold"]').textContent === "0"`, 10*time.Second)
	require.Equal(t, "12", js[string](f, `document.querySelector("#k-max-active").value`))
	f.check("dashboard")
	f.tabTo("#k-max-active")
	f.press(kb.End, kb.Backspace, kb.Backspace)
	f.typeKeys("0")
	f.press(kb.Enter)
	f.waitFor("#k-max-active[aria-invalid=true]")
	require.Contains(t, f.text("[data-knob-message]"), "must be between 1 and")
	f.typeKeys("7")
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-knob-message]").textContent.startsWith("Applied")`, 10*time.Second)
	require.Equal(t, 7.0, organizer(t).must(http.MethodGet, "/events/"+id, nil)["event"].(map[string]any)["max_active_shoppers"])
	f.tabTo("[data-pause]")
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-pause]").getAttribute("aria-pressed") === "true"`, 10*time.Second)
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-pause]").getAttribute("aria-pressed") === "false"`, 10*time.Second)
	require.Equal(t, false, organizer(t).must(http.MethodGet, "/events/"+id, nil)["event"].(map[string]any)["paused"])

	fan := newFan(t, phone)
	fan.signIn(newAPIFan(t, "Dee"))
	fan.open("/events/" + id + "/dashboard")
	fan.waitFor("[data-gate] h1")
	require.Contains(t, fan.text("[data-gate]"), "sign in with an organizer account")
	fan.check("dashboard-fan")
	visitor := newFan(t, desktop)
	visitor.open("/organizer/events/new")
	visitor.waitFor(`[data-gate] a.button`)
	require.Equal(t, "Sign in as an organizer", visitor.text(`[data-gate] a.button`))

	for _, v := range []view{phone, desktop} {
		r := newFan(t, v)
		r.open("/")
		r.tabTo(`footer a[href="/api"]`)
		r.press(kb.Enter)
		r.waitPath("/api")
		r.waitFor("#op-updateevent")
		require.Contains(t, r.text("#op-updateevent"), "paused")
		r.checkLong("api", v == desktop) // the same static page at both widths: axe-core once
	}
}
