package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// view is a screen: every page is photographed at a desktop and a phone width.
type view struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop = view{name: "desktop", width: 1280, height: 860}
	phone   = view{name: "phone", width: 390, height: 844, mobile: true}
)

// fan is one person in the browser: a browser context of their own (cookies,
// storage), one tab, and a record of every console error the pages made.
type fan struct {
	t    *testing.T
	ctx  context.Context
	view view
	base string // where the browser reaches the server: the server, or a proxy in front

	mu       sync.Mutex
	problems []string
}

// apiNoise is the browser's own log line for an API answer of 4xx, which the
// pages expect and handle (401 for a visitor, 404 before joining the line,
// 402 for a declined card); every other error or exception is a failure.
var apiNoise = regexp.MustCompile(`the server responded with a status of 4\d\d`)

func newFan(t *testing.T, v view) *fan {
	t.Helper()
	ctx, cancel := chromedp.NewContext(env.browser, chromedp.WithNewBrowserContext())
	f := &fan{t: t, ctx: ctx, view: v, base: env.base}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() && m.Type != "assert" {
				continue
			}
			if m.Source == "network" && strings.Contains(m.URL, "/api/v1/") && apiNoise.MatchString(m.Text) {
				continue
			}
			f.mu.Lock()
			f.problems = append(f.problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.problems) > 0 {
			t.Errorf("console errors:\n  %s", strings.Join(f.problems, "\n  "))
		}
	})
	opts := []chromedp.EmulateViewportOption{}
	if v.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	f.do(chromedp.EmulateViewport(v.width, v.height, opts...))
	return f
}

func (f *fan) do(actions ...chromedp.Action[chromedp.Void]) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	require.NoError(f.t, chromedp.Do(ctx, actions...), "on %s", f.location())
}

// signIn gives the browser the sign-in cookie of a fan made through the API.
func (f *fan) signIn(c client) {
	f.t.Helper()
	_, err := chromedp.Call(f.ctx, network.SetCookie, network.SetCookieParams{
		Name: "boxoffice_token", Value: c.token, URL: env.base, Path: "/", HTTPOnly: new(true),
	})
	require.NoError(f.t, err)
}

// token is the fan's sign-in token, read from the HttpOnly cookie the pages
// got, so the test can ask the API what the pages did.
func (f *fan) token() client {
	f.t.Helper()
	res, err := chromedp.Call(f.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{env.base}})
	require.NoError(f.t, err)
	for _, c := range res.Cookies {
		if c.Name == "boxoffice_token" {
			return client{t: f.t, token: c.Value}
		}
	}
	f.t.Fatal("the browser has no sign-in cookie")
	return client{}
}

func (f *fan) open(path string) {
	f.t.Helper()
	f.do(chromedp.Navigate(f.base + path))
}

func (f *fan) location() string {
	loc, err := chromedp.Run(f.ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil {
		return "(unknown page)"
	}
	return loc
}

// js evaluates an expression and decodes its value.
func js[T any](f *fan, expr string) T {
	f.t.Helper()
	v, err := chromedp.Run(f.ctx, chromedp.Evaluate[T](expr))
	require.NoError(f.t, err, "%s on %s", expr, f.location())
	return v
}

// wait polls a JavaScript condition until it holds, across page loads; on time
// out it fails with what the page shows.
func (f *fan) wait(cond string, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(f.ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("waited %s for %s on %s; the page says:\n%s", within, cond, f.location(), f.pageText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (f *fan) pageText() string {
	s, err := chromedp.Run(f.ctx, chromedp.Evaluate[string](`document.body ? (document.querySelector("main") || document.body).innerText || document.body.textContent : ""`))
	if err != nil {
		return err.Error()
	}
	return s
}

// waitFor waits until an element matching sel is on the page and visible.
func (f *fan) waitFor(sel string) {
	f.t.Helper()
	f.wait(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.getClientRects().length > 0 })()`, sel), 20*time.Second)
}

func (f *fan) waitPath(path string) {
	f.t.Helper()
	f.wait(fmt.Sprintf(`location.pathname === %q && document.readyState === "complete"`, path), 20*time.Second)
}

func (f *fan) click(sel string) {
	f.t.Helper()
	f.waitFor(sel)
	f.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (f *fan) text(sel string) string {
	f.t.Helper()
	return js[string](f, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

func (f *fan) count(sel string) int {
	f.t.Helper()
	return js[int](f, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

func (f *fan) fill(sel, value string) {
	f.t.Helper()
	f.waitFor(sel)
	f.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// press sends keys to whatever has the focus, as a keyboard would.
func (f *fan) press(keys ...string) {
	f.t.Helper()
	for _, k := range keys {
		f.do(chromedp.KeyEvent(k))
	}
}

// tabTo presses Tab until the focus is on an element matching sel: the proof
// that a keyboard alone reaches it.
func (f *fan) tabTo(sel string) {
	f.t.Helper()
	check := fmt.Sprintf(`document.activeElement && document.activeElement.matches(%q)`, sel)
	for range 80 {
		if js[bool](f, check) {
			return
		}
		f.press(kb.Tab)
	}
	f.t.Fatalf("80 presses of Tab never reached %s on %s", sel, f.location())
}

// typeKeys types text into the focused field, key by key.
func (f *fan) typeKeys(text string) {
	f.t.Helper()
	f.do(chromedp.KeyEvent(text))
}

// check runs axe-core on the page and photographs it: no serious or critical
// accessibility violation may remain.
func (f *fan) check(page string) {
	f.t.Helper()
	f.shot(page)
	f.axe(page)
}

// axe runs axe-core on the page: no serious or critical violation may remain.
func (f *fan) axe(page string) {
	f.t.Helper()
	if !js[bool](f, `typeof axe !== "undefined"`) {
		f.do(chromedp.Evaluate[chromedp.Void](env.axe))
	}
	raw, err := chromedp.Run(f.ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ["violations"]}).then((r) =>
		r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) =>
			v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", ")))`,
		chromedp.EvalAwaitPromise))
	require.NoError(f.t, err)
	var violations []string
	require.NoError(f.t, json.Unmarshal(raw, &violations))
	require.Empty(f.t, violations, "axe-core on the %s page (%s)", page, f.location())
}

// shot writes a screenshot of the whole page to test-output/screenshots.
func (f *fan) shot(page string) {
	f.t.Helper()
	f.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(f.ctx, chromedp.FullScreenshot(100))
	require.NoError(f.t, err)
	name := filepath.Join(env.out, "screenshots", page+"-"+f.view.name+".png")
	require.NoError(f.t, os.WriteFile(name, png, 0o644))
}

func evalVoid(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}
