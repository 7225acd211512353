package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// bookedFan is a fan who bought two VIP seats through the API, and their codes.
func bookedFan(t *testing.T, eventID string) (client, []map[string]any) {
	t.Helper()
	c := newAPIFan(t, "Grace Hopper")
	c.join(eventID)
	deadline := time.Now().Add(10 * time.Second)
	for !c.admitted(eventID) {
		require.True(t, time.Now().Before(deadline), "the fan was never admitted")
		time.Sleep(100 * time.Millisecond)
	}
	hold := c.must(http.MethodPost, "/tickets/reserve", map[string]any{"event_id": eventID, "zone_id": "VIP", "seats": []string{"1A", "1B"}})
	pay := c.must(http.MethodPost, "/payments", map[string]any{"reservation_id": hold["reservation"].(map[string]any)["id"]})
	payID := pay["payment"].(map[string]any)["id"].(string)
	c.must(http.MethodPost, "/payments/"+payID+"/confirm", map[string]any{"card_number": "4242424242424242"})
	bookings := c.must(http.MethodGet, "/me/bookings", nil)["bookings"].([]any)
	require.Len(t, bookings, 1)
	var tickets []map[string]any
	for _, x := range bookings[0].(map[string]any)["tickets"].([]any) {
		tk := x.(map[string]any)
		require.Regexp(t, `^BX1-\d+-[A-Z2-7]{16}$`, tk["code"])
		tickets = append(tickets, tk)
	}
	require.Len(t, tickets, 2)
	return c, tickets
}

// door is an organizer at the event's door page, in a browser of their own.
func door(t *testing.T, eventID string, v view) *fan {
	t.Helper()
	f := newFan(t, v)
	f.signIn(organizer(t))
	f.open("/events/" + eventID + "/door")
	f.waitFor("[data-door] [data-code]")
	f.wait(`document.activeElement === document.querySelector("[data-code]")`, 5*time.Second)
	return f
}

// result waits for the door's answer and returns its state.
func (f *fan) result() string {
	f.t.Helper()
	f.wait(`!["ready", "checking"].includes(document.querySelector("[data-result]").dataset.state)`, 10*time.Second)
	return js[string](f, `document.querySelector("[data-result]").dataset.state`)
}

func TestTicketCodesAndTheDoor(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{})
	c, tickets := bookedFan(t, id)

	// My tickets: each ticket with its code and its QR code, the server's path.
	f := newFan(t, phone)
	f.signIn(c)
	f.open("/tickets")
	f.wait(`document.querySelectorAll("[data-ticket-code] svg.qr path").length === 2`, 10*time.Second)
	for _, tk := range tickets {
		sel := fmt.Sprintf(`[data-ticket-code][data-ticket-id="%v"]`, tk["id"])
		require.Equal(t, tk["code"], f.text(sel+" [data-code]"))
		require.Equal(t, tk["qr"].(map[string]any)["path"], js[string](f, `document.querySelector('`+sel+` svg.qr path').getAttribute("d")`))
	}
	f.check("tickets-codes")

	// Two doors, the same ticket, the same moment: one lets the fan in.
	north, south := door(t, id, desktop), door(t, id, phone)
	north.check("door")
	south.check("door")
	code := tickets[0]["code"].(string)
	for _, d := range []*fan{north, south} {
		d.fill("[data-code]", code)
	}
	var wg sync.WaitGroup
	for _, d := range []*fan{north, south} {
		wg.Go(func() { _ = chromedp.Do(d.ctx, evalVoid(`document.querySelector("[data-form]").requestSubmit()`)) })
	}
	wg.Wait()
	states := []string{north.result(), south.result()}
	require.ElementsMatch(t, []string{"valid", "already"}, states, "one door says valid, the other already checked in")
	valid, already := north, south
	if states[0] == "already" {
		valid, already = south, north
	}
	require.Contains(t, valid.text("[data-result]"), "Valid")
	require.Contains(t, valid.text("[data-result]"), "seat 1")
	require.Contains(t, valid.text("[data-result]"), "Grace Hopper")
	require.Contains(t, already.text("[data-result]"), "Already checked in at")
	valid.check("door-valid")
	already.check("door-already")
	require.Equal(t, "1", valid.text("[data-count]"))

	// The keyboard alone: the field has the focus again, empty, for the next ticket.
	d := valid
	require.True(t, js[bool](d, `document.activeElement === document.querySelector("[data-code]") && document.activeElement.value === ""`))
	d.typeKeys(strings.ToLower(tickets[1]["code"].(string)))
	d.press(kb.Enter)
	require.Equal(t, "valid", d.result())
	require.Equal(t, "2", d.text("[data-count]"))

	forged := code[:len(code)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(code, "A")]
	d.typeKeys(forged)
	d.press(kb.Enter)
	require.Equal(t, "invalid", d.result())
	require.Contains(t, d.text("[data-result]"), "Not valid")
	d.check("door-invalid")

	// The fan sees their tickets went in.
	f.open("/tickets")
	f.wait(`document.querySelectorAll(".badge-checked-in").length === 2`, 10*time.Second)
}

// A fan who opens the door page is told it is for organizers, and sees no form.
func TestDoorIsForOrganizers(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{})
	f := newFan(t, desktop)
	f.signIn(newAPIFan(t, "Curious Fan"))
	f.open("/events/" + id + "/door")
	f.wait(`document.querySelector("[data-message]").textContent.includes("Only organizers can check tickets in")`, 10*time.Second)
	require.Zero(t, f.count("[data-door]:not([hidden])"))
}
