package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestSignOut: Sign out, clicked twice at once as a hurried fan does, ends the
// token and clears the cookie (the page sends it with an Idempotency-Key, as
// every write), with no error on the console, and the page offers to sign in.
func TestSignOut(t *testing.T) {
	t.Parallel()
	f := newFan(t, desktop)
	c := newAPIFan(t, "Ada")
	f.signIn(c)
	f.open("/tickets")
	f.waitFor(`[data-account] button`)
	f.do(evalVoid(`const out = document.querySelector("[data-account] button"); out.click(); out.click();`))
	f.waitPath("/")
	f.waitFor(`[data-account] a[href^="/signin"]`)

	status, _ := c.call(http.MethodGet, "/me", nil)
	require.Equal(t, http.StatusUnauthorized, status, "the token still works after signing out")
	res, err := chromedp.Call(f.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{env.base}})
	require.NoError(t, err)
	for _, ck := range res.Cookies {
		require.NotEqual(t, "boxoffice_token", ck.Name, "the sign-in cookie is still there")
	}
	// A reload stays signed out.
	f.open("/tickets")
	f.wait(`location.pathname === "/signin"`, 10*time.Second)
}
