package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// TestKeyboardJourney is the whole journey on a phone-sized screen with the
// keyboard alone: every step is reached with Tab and done with Enter, Space
// or the arrow keys, never the mouse. Sign up, join the line, pick two seats
// on the map and two GA tickets, pay, see the tickets, cancel them after the
// confirmation step, sign out and in again.
func TestKeyboardJourney(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{})
	f := newFan(t, phone)

	f.open("/signup")
	f.check("signup")
	f.tabTo("#name")
	f.typeKeys("Grace Hopper")
	f.press(kb.Tab)
	email := "grace-" + randomHex(5) + "@example.com"
	f.typeKeys(email)
	f.press(kb.Tab)
	f.typeKeys("cobol-forever")
	f.press(kb.Enter)
	f.waitPath("/")
	f.waitFor(fmt.Sprintf(`a[href="/events/%s"]`, id))
	f.check("events")

	f.tabTo(fmt.Sprintf(`a[href="/events/%s"]`, id))
	f.press(kb.Enter)
	f.waitFor(`[data-sale-status="open"]`)
	f.check("event")
	f.tabTo(`[data-sale] a.button`)
	f.press(kb.Enter)
	f.waitPath("/events/" + id + "/shop")
	f.waitFor(`[data-zone="VIP"] .seat`)
	f.check("shop")

	// The map is one Tab stop; arrows move, Space picks.
	f.tabTo(`[data-zone="VIP"] .seat`)
	require.Equal(t, "1A", js[string](f, `document.activeElement.dataset.seat`))
	f.press(" ", kb.ArrowRight, " ", kb.ArrowDown)
	require.Equal(t, "2B", js[string](f, `document.activeElement.dataset.seat`))
	require.Contains(t, f.text(`[data-zone="VIP"] [data-picked]`), "1A, 1B")
	f.tabTo(`[data-zone="VIP"] [data-hold]`)
	f.press(kb.Enter)
	f.wait(`document.querySelectorAll("[data-holds] button").length === 1`, 10*time.Second)
	f.tabTo(`[data-zone="GA"] button[aria-label^="One more"]`)
	f.press(kb.Enter)
	f.tabTo(`[data-zone="GA"] [data-add]`)
	require.Equal(t, "Add 2 tickets", f.text(`[data-zone="GA"] [data-add]`))
	f.press(kb.Enter)
	f.wait(`document.querySelectorAll("[data-holds] button").length === 2`, 10*time.Second)
	f.tabTo("[data-checkout]")
	f.press(kb.Enter)

	f.waitPath("/events/" + id + "/checkout")
	f.waitFor("[data-card-form] #card")
	f.check("checkout")
	f.tabTo("#card")
	f.typeKeys("4242424242424242")
	f.press(kb.Enter)
	f.waitPath("/events/" + id + "/confirmation")
	f.wait(`document.querySelectorAll("[data-ticket-code]").length === 4`, 10*time.Second)
	f.check("confirmation")

	f.tabTo(`main a[href="/tickets"]`)
	f.press(kb.Enter)
	f.waitPath("/tickets")
	f.wait(`document.querySelectorAll("[data-booking] [data-ticket-code]").length === 4`, 10*time.Second)
	f.check("tickets")

	// Cancelling asks first; the dialog opens on "Keep my tickets".
	f.tabTo("[data-cancel]")
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-cancel-dialog]").open`, 5*time.Second)
	require.True(t, js[bool](f, `document.activeElement.matches("[data-keep]")`))
	f.check("tickets-cancel")
	f.press(kb.Escape)
	f.wait(`!document.querySelector("[data-cancel-dialog]").open`, 5*time.Second)
	require.Equal(t, 0, f.count(`[data-status="CANCELLED"]`), "Escape keeps the tickets")
	f.tabTo("[data-cancel]")
	f.press(kb.Enter)
	f.wait(`document.querySelector("[data-cancel-dialog]").open`, 5*time.Second)
	f.tabTo("[data-confirm-cancel]")
	f.press(kb.Enter)
	f.wait(`document.querySelector('[data-booking] [data-status="CANCELLED"]')`, 10*time.Second)
	require.Contains(t, f.text("[data-message]"), "is cancelled")

	f.tabTo("[data-account] button")
	f.press(kb.Enter)
	f.waitPath("/")
	f.waitFor(`[data-account] a[href^="/signin"]`)
	f.tabTo(`[data-account] a[href^="/signin"]`)
	f.press(kb.Enter)
	f.waitPath("/signin")
	f.waitFor("#email")
	f.check("signin")
	f.tabTo("#email")
	f.typeKeys(email)
	f.press(kb.Tab)
	f.typeKeys("cobol-forever")
	f.press(kb.Enter)
	f.waitPath("/")
	f.wait(`document.querySelector("[data-account] strong")?.textContent === "Grace Hopper"`, 10*time.Second)
}
