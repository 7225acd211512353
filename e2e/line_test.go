package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// inLine makes an event with one shopper at a time, takes that slot with an
// admitted fan and puts more fans behind it: the next fan is at place n+1.
func inLine(t *testing.T, n int) (string, client, []client) {
	t.Helper()
	id, shopper := lineWithShopper(t, sale{maxActive: 1})
	var waiting []client
	for i := range n {
		c := newAPIFan(t, fmt.Sprintf("Waiting fan %d", i))
		require.Equal(t, "waiting", c.join(id)["status"])
		waiting = append(waiting, c)
	}
	return id, shopper, waiting
}

// TestWaitingRoomKeepsThePlace: a refresh shows the same place (the page asks
// for the place it has instead of joining anew), and when the connection drops
// the page reconnects by itself and keeps following the line.
func TestWaitingRoomKeepsThePlace(t *testing.T) {
	t.Parallel()
	id, shopper, waiting := inLine(t, 1)
	p := newProxy(t)
	f := newFan(t, phone)
	f.base = p.url()
	me := newAPIFan(t, "Refresher")
	f.signIn(me)

	f.open("/events/" + id + "/line")
	f.wait(`document.querySelector("[data-position]").textContent === "2"`, 20*time.Second)
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "live"`, 10*time.Second)
	require.Contains(t, f.text("[data-keep]"), "You keep your place if you refresh")
	f.wait(`document.getElementById("announce-polite").textContent === "You are number 2 in line."`, 5*time.Second)
	f.check("line")
	_, before := me.place(id)

	f.do(chromedp.Reload())
	f.wait(`document.querySelector("[data-position]").textContent === "2"`, 20*time.Second)
	_, after := me.place(id)
	require.Equal(t, before["join_id"], after["join_id"], "the refresh kept the place")
	require.EqualValues(t, 2, after["position"])

	// The connection drops: the page says it is reconnecting, quietly comes
	// back, and without a reload shows the line moving.
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "live"`, 10*time.Second)
	f.do(chromedp.Evaluate[chromedp.Void](`window.stillHere = true; window.states = [];
		new MutationObserver(() => states.push(document.querySelector("[data-conn]").dataset.liveState))
			.observe(document.querySelector("[data-conn]"), {attributes: true})`))
	p.cut()
	f.wait(`states.includes("reconnecting") && document.querySelector("[data-conn]").dataset.liveState === "live"`, 30*time.Second)
	shopper.leave(id)
	f.wait(`document.querySelector("[data-position]").textContent === "1"`, 20*time.Second)
	require.True(t, js[bool](f, `window.stillHere === true`), "the page reloaded instead of reconnecting")
	for !waiting[0].admitted(id) {
		time.Sleep(100 * time.Millisecond)
	}
	waiting[0].leave(id)
	f.waitPath("/events/" + id + "/shop")
}

// TestWaitingRoomNoticesASilentConnection: the network vanishes without a
// word (no close, no reset, as on a phone going out of range). The page's own
// pings find the dead connection, it reconnects and the line moves on.
func TestWaitingRoomNoticesASilentConnection(t *testing.T) {
	t.Parallel()
	id, shopper, _ := inLine(t, 1)
	p := newProxy(t)
	f := newFan(t, desktop)
	f.base = p.url()
	f.signIn(newAPIFan(t, "Out of range"))
	f.open("/events/" + id + "/line")
	f.wait(`document.querySelector("[data-position]").textContent === "2"`, 20*time.Second)
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "live"`, 10*time.Second)
	f.do(evalVoid(`window.stillHere = true; window.states = [];
		new MutationObserver(() => states.push(document.querySelector("[data-conn]").dataset.liveState))
			.observe(document.querySelector("[data-conn]"), {attributes: true})`))
	p.freeze()
	f.wait(`states.includes("reconnecting") && document.querySelector("[data-conn]").dataset.liveState === "live"`, 45*time.Second)
	shopper.leave(id)
	f.wait(`document.querySelector("[data-position]").textContent === "1"`, 20*time.Second)
	require.True(t, js[bool](f, `window.stillHere === true`))
}

// TestWaitingRoomWithoutALiveConnection: the page never gets its live socket
// (every replica's are taken), nor the line's public reading (say a CDN in
// front fails). Its own status calls alone keep the place past the presence
// window, and the one that finds the turn has come takes the fan to the shop.
func TestWaitingRoomWithoutALiveConnection(t *testing.T) {
	t.Parallel()
	id, shopper := lineWithShopper(t, sale{maxActive: 1, presence: 6})
	f := cutOffFan(t, id, "No socket")
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "reconnecting"`, 10*time.Second)
	time.Sleep(8 * time.Second) // past presence_seconds without a socket
	// Only the page has shown signs of life: had its calls not, the next
	// admission step would skip the fan as away, and the page would show the
	// place lost instead of going to the shop.
	shopper.leave(id)
	f.waitPath("/events/" + id + "/shop")
}

// TestWaitingRoomClaimsInTimeWithoutALiveConnection: with neither a socket nor
// the public reading, and a claim window far shorter than a third of the
// presence window, the page's own status calls come often enough to claim the
// turn before the admission is dropped (at a third of presence_seconds, a
// minute at most, they would come long after).
func TestWaitingRoomClaimsInTimeWithoutALiveConnection(t *testing.T) {
	t.Parallel()
	id, shopper := lineWithShopper(t, sale{maxActive: 1, presence: 600, claim: 4})
	f := cutOffFan(t, id, "No socket, short claim")
	shopper.leave(id)
	f.waitPath("/events/" + id + "/shop")
}

// cutOffFan is a fan whose waiting room gets neither a live socket nor the
// line's public reading, shown first in line for the event.
func cutOffFan(t *testing.T, eventID, name string) *fan {
	t.Helper()
	f := newFan(t, desktop)
	f.signIn(newAPIFan(t, name))
	refuseSockets(t, f)
	blockPublicReading(t, f)
	f.open("/events/" + eventID + "/line")
	f.wait(`document.querySelector("[data-position]").textContent === "1"`, 20*time.Second)
	return f
}

// lineWithShopper makes an event of sale s and a fan admitted to it, shopping.
func lineWithShopper(t *testing.T, s sale) (string, client) {
	t.Helper()
	id := newEvent(t, s)
	shopper := newAPIFan(t, "Shopper")
	shopper.join(id)
	for deadline := time.Now().Add(10 * time.Second); !shopper.admitted(id); time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the first fan was never admitted")
	}
	return id, shopper
}

// blockPublicReading has the page's requests for GET …/queue/now fail, as
// when a cache in front of the replicas fails.
func blockPublicReading(t *testing.T, f *fan) {
	t.Helper()
	_, err := chromedp.Call(f.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		{ const real = window.fetch;
		  window.fetch = (url, init) => String(url).endsWith("/queue/now") ? Promise.reject(new TypeError("blocked")) : real(url, init); }`})
	require.NoError(t, err)
}

// refuseSockets has every socket the page opens refused at once, as at a
// replica whose live connections are all taken (503 at the upgrade).
func refuseSockets(t *testing.T, f *fan) {
	t.Helper()
	_, err := chromedp.Call(f.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.WebSocket = class {
			constructor() { this.readyState = 0; setTimeout(() => { this.readyState = 3; this.onclose?.({ code: 1006 }); }, 20); }
			send() {}
			close() {}
		};
		Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });`})
	require.NoError(t, err)
}

// TestWaitingRoomFollowsTheCounterWithoutASocket: with long presence and claim
// windows the page without a socket asks for its own place only every few
// minutes; in between it follows the line's public reading, so it sees its
// place move and goes to the shop within seconds of its turn, long before its
// next own status call.
func TestWaitingRoomFollowsTheCounterWithoutASocket(t *testing.T) {
	t.Parallel()
	id, shopper := lineWithShopper(t, sale{maxActive: 1, presence: 600, claim: 600})
	ahead := newAPIFan(t, "Ahead")
	require.Equal(t, "waiting", ahead.join(id)["status"])
	f := newFan(t, desktop)
	f.signIn(newAPIFan(t, "No socket, long presence"))
	refuseSockets(t, f)
	// The line page's own status calls (GET …/queue) and its public readings
	// (GET …/queue/now), and the requests the browser sent a cookie with.
	var mu sync.Mutex
	status, readings, cookied := map[network.RequestID]bool{}, map[network.RequestID]bool{}, map[network.RequestID]bool{}
	require.NoError(t, chromedp.Listen(f.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.Method == "GET" && strings.HasSuffix(ev.DocumentURL, "/line") {
				status[ev.RequestID] = strings.HasSuffix(ev.Request.URL, "/queue")
				readings[ev.RequestID] = strings.HasSuffix(ev.Request.URL, "/queue/now")
			}
		case *network.EventRequestWillBeSentExtraInfo:
			for _, c := range ev.AssociatedCookies {
				cookied[ev.RequestID] = cookied[ev.RequestID] || len(c.BlockedReasons) == 0
			}
		}
	}))
	f.open("/events/" + id + "/line")
	f.wait(`document.querySelector("[data-position]").textContent === "2"`, 20*time.Second)
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "reconnecting"`, 10*time.Second)

	shopper.leave(id)
	f.wait(`document.querySelector("[data-position]").textContent === "1"`, 15*time.Second)
	for deadline := time.Now().Add(10 * time.Second); !ahead.admitted(id); time.Sleep(100 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the fan ahead was never admitted")
	}
	ahead.leave(id)
	f.waitPath("/events/" + id + "/shop")
	// The page's own calls come every 150–250 s here: it made the one that
	// showed the place and the one that claimed the turn. It asked the public
	// reading without its cookie, so that a cache in front may answer it.
	mu.Lock()
	defer mu.Unlock()
	count := func(of map[network.RequestID]bool, withCookie bool) (n int) {
		for id, ok := range of {
			if ok && cookied[id] == withCookie {
				n++
			}
		}
		return n
	}
	require.Equal(t, 2, count(status, true), "the page followed the public reading, not its own status calls (each signed in)")
	require.Zero(t, count(status, false))
	require.Positive(t, count(readings, false), "the page asked the public reading")
	require.Zero(t, count(readings, true), "GET …/queue/now went with the sign-in cookie")
}

// TestCountdownFollowsTheServer: a phone whose clock is an hour fast still
// counts down to the opening by the server's time.
func TestCountdownFollowsTheServer(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{opensIn: 10 * time.Minute})
	f := newFan(t, desktop)
	f.signIn(newAPIFan(t, "Time traveller"))
	_, err := chromedp.Call(f.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `{ const real = Date.now; Date.now = () => real() + 3600e3; }`})
	require.NoError(t, err)
	f.open("/events/" + id + "/line")
	f.waitFor(`[data-panel="lobby"]`)
	f.wait(`/^(9:[0-5]\d|10:00)$/.test(document.querySelector("[data-lobby-clock]").textContent)`, 10*time.Second)
	f.wait(`/^The sale opens in (9|10) minutes\.$/.test(document.getElementById("announce-polite").textContent)`, 5*time.Second)
}

// TestWaitingRoomWeight measures the waiting room as a fan on a phone loads it
// with an empty cache: the bytes on the wire (gzipped, with headers) of the
// page and everything it loads, and the count of requests. Budget: 60 KB.
func TestWaitingRoomWeight(t *testing.T) {
	t.Parallel()
	id := newEvent(t, sale{opensIn: 10 * time.Minute})
	f := newFan(t, phone)
	f.signIn(newAPIFan(t, "Light traveller"))
	_, err := chromedp.Call(f.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
	require.NoError(t, err)

	var mu sync.Mutex
	urls := map[network.RequestID]string{}
	bytes := map[network.RequestID]float64{}
	sockets := 0
	require.NoError(t, chromedp.Listen(f.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[ev.RequestID] = ev.Request.URL
		case *network.EventLoadingFinished:
			bytes[ev.RequestID] = ev.EncodedDataLength
		case *network.EventWebSocketCreated:
			sockets++
		}
	}))
	f.open("/events/" + id + "/line")
	f.waitFor(`[data-panel="lobby"]`)
	f.wait(`document.querySelector("[data-conn]").dataset.liveState === "live"`, 10*time.Second)
	f.wait(`performance.getEntriesByType("resource").every((e) => e.responseEnd > 0)`, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // the last loadingFinished events

	mu.Lock()
	total := 0.0
	var lines []string
	for id, u := range urls {
		total += bytes[id]
		lines = append(lines, fmt.Sprintf("%7.0f  %s", bytes[id], strings.TrimPrefix(u, env.base)))
	}
	requests := len(urls)
	mu.Unlock()
	slices.SortFunc(lines, func(a, b string) int { return strings.Compare(a[9:], b[9:]) })
	report := fmt.Sprintf("waiting room (lobby), empty cache, phone: %d requests + %d WebSocket, %.1f KB on the wire\n%s\n",
		requests, sockets, total/1024, strings.Join(lines, "\n"))
	t.Log(report)
	require.NoError(t, os.WriteFile(filepath.Join(env.out, "waiting-room-weight.txt"), []byte(report), 0o644))
	require.Less(t, total, 60*1024.0, "the waiting room must stay under 60 KB gzipped")
	time.Sleep(3 * time.Second)
	mu.Lock()
	require.Len(t, urls, requests, "the waiting room polls instead of following the WebSocket")
	mu.Unlock()
	require.Equal(t, 1, sockets)
	f.check("lobby")
}
