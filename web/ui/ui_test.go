package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// testAPIDoc is the OpenAPI document the server serves, for the page /api.
func testAPIDoc(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../openapi.yaml")
	require.NoError(t, err)
	return b
}

func get(t *testing.T, s *Site, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	require.True(t, s.Serve(w, req), "%s was not served", path)
	return w
}

var refRE = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+)"`)

// Every page answers at its route, short-cached, with the CSP, and names only
// hashed assets that are served immutable, under the hash of their bytes.
func TestPagesAndTheirAssets(t *testing.T) {
	t.Parallel()
	s, err := New(testAPIDoc(t))
	require.NoError(t, err)
	examples := map[string]string{
		"/": "events", "/signin": "signin", "/signup": "signup", "/tickets": "tickets",
		"/events/gig-1": "event", "/events/gig-1/line": "line", "/events/gig-1/shop": "shop",
		"/events/gig-1/checkout": "checkout", "/events/gig-1/confirmation": "confirmation",
		"/organizer": "organizer", "/organizer/events/new": "event-form", "/organizer/events/gig-1/edit": "event-form",
		"/events/gig-1/dashboard": "dashboard", "/api": "api",
		"/events/gig-1/door": "door",
	}
	for _, r := range Routes() {
		require.Contains(t, slices.Collect(maps.Values(examples)), r.Page, "no example URL for page %s", r.Page)
	}
	for path, page := range examples {
		w := get(t, s, path)
		require.Equal(t, http.StatusOK, w.Code, path)
		require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
		require.Equal(t, pageCache, w.Header().Get("Cache-Control"))
		require.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'self'")
		body := w.Body.String()
		require.Contains(t, body, `data-page="`+page+`"`, path)
		refs := refRE.FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, refs)
		for _, ref := range refs {
			a := get(t, s, ref[1])
			require.Equal(t, http.StatusOK, a.Code, ref[1])
			require.Equal(t, assetCache, a.Header().Get("Cache-Control"))
			sum := sha256.Sum256(a.Body.Bytes())
			require.Contains(t, ref[1], "."+hex.EncodeToString(sum[:6])+".", "%s is not named by its content", ref[1])
		}
	}
}

// A page preloads every module its script imports, however deep, and the
// modules import each other only by hashed URLs that exist.
func TestModulesImportHashedURLs(t *testing.T) {
	t.Parallel()
	s, err := New(testAPIDoc(t))
	require.NoError(t, err)
	body := get(t, s, "/events/gig-1/shop").Body.String()
	for _, dep := range []string{"js/api.js", "js/ui.js", "js/live.js", "js/seatmap.js", "js/order.js"} {
		u, ok := s.URL(dep)
		require.True(t, ok)
		require.Contains(t, body, `<link rel="modulepreload" href="`+u+`">`)
	}
	relative := regexp.MustCompile(`(from\s*|import\s*\(?\s*)["']\.{1,2}/`)
	for url, r := range s.assets {
		if !strings.HasSuffix(url, ".js") {
			continue
		}
		require.NotRegexp(t, relative, string(r.body), "%s still imports by a relative path", url)
		for _, m := range hashedImportRE.FindAllStringSubmatch(string(r.body), -1) {
			require.Contains(t, s.assets, m[1], "%s imports %s, which is not served", url, m[1])
		}
	}
}

// Changing a module renames it and every module that imports it, so no
// browser keeps an old importer that names the new code's old URL.
func TestHashCoversImports(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{
		"pages/layout.html": {Data: []byte(`{{define "layout"}}<title>{{template "title" .}}</title>{{script .Page}}{{template "main" .}}{{end}}`)},
		"pages/a.html":      {Data: []byte(`{{define "title"}}A{{end}}{{define "main"}}a{{end}}`)},
		"assets/js/pages/a.js": {Data: []byte(`import { b } from "../b.js";
b();`)},
		"assets/js/b.js": {Data: []byte(`import "./c.js";
export const b = () => 1;`)},
		"assets/js/c.js":   {Data: []byte(`export const c = 1;`)},
		"assets/js/d.js":   {Data: []byte(`export const d = 1;`)},
		"assets/css/x.css": {Data: []byte(`body{}`)},
	}
	routes := []Route{{Pattern: "/", Page: "a"}}
	before, err := newSite(files, routes, nil)
	require.NoError(t, err)
	files["assets/js/c.js"] = &fstest.MapFile{Data: []byte(`export const c = 2;`)}
	after, err := newSite(files, routes, nil)
	require.NoError(t, err)
	for _, name := range []string{"js/c.js", "js/b.js", "js/pages/a.js"} {
		require.NotEqual(t, before.urls[name], after.urls[name], "%s kept its name", name)
	}
	require.Equal(t, before.urls["js/d.js"], after.urls["js/d.js"], "an unrelated module was renamed")
	page := string(after.pages["a"].body)
	require.Contains(t, page, `<link rel="modulepreload" href="`+after.urls["js/b.js"]+`">`)
	require.Contains(t, page, `<link rel="modulepreload" href="`+after.urls["js/c.js"]+`">`)
	require.Contains(t, page, `<script type="module" src="`+after.urls["js/pages/a.js"]+`">`)

	files["assets/js/c.js"] = &fstest.MapFile{Data: []byte(`import "./b.js";`)}
	_, err = newSite(files, routes, nil)
	require.ErrorContains(t, err, "import cycle")
	files["assets/js/c.js"] = &fstest.MapFile{Data: []byte(`import "./nowhere.js";`)}
	_, err = newSite(files, routes, nil)
	require.ErrorContains(t, err, "not in assets/")
}

func TestGzipAndRevalidation(t *testing.T) {
	t.Parallel()
	s, err := New(testAPIDoc(t))
	require.NoError(t, err)
	plain := get(t, s, "/events/gig-1/line")
	require.Empty(t, plain.Header().Get("Content-Encoding"))
	zipped := get(t, s, "/events/gig-1/line", "Accept-Encoding", "gzip, deflate, br")
	require.Equal(t, "gzip", zipped.Header().Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", zipped.Header().Get("Vary"))
	require.Less(t, zipped.Body.Len(), plain.Body.Len())
	zr, err := gzip.NewReader(zipped.Body)
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.True(t, bytes.Equal(plain.Body.Bytes(), unzipped))
	require.NotEqual(t, plain.Header().Get("ETag"), zipped.Header().Get("ETag"), "one ETag per encoding")

	again := get(t, s, "/events/gig-1/line", "If-None-Match", plain.Header().Get("ETag"))
	require.Equal(t, http.StatusNotModified, again.Code)
	require.Zero(t, again.Body.Len())
	refused := get(t, s, "/events/gig-1/line", "Accept-Encoding", "gzip;q=0, identity")
	require.Empty(t, refused.Header().Get("Content-Encoding"))
}

func TestWhatIsNotAPage(t *testing.T) {
	t.Parallel()
	s, err := New(testAPIDoc(t))
	require.NoError(t, err)
	for _, path := range []string{"/api/v1/events", "/healthz", "/events", "/events/", "/events/x/line/more", "/nope"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		require.False(t, s.Serve(httptest.NewRecorder(), req), "%s is the API's", path)
	}
	post := httptest.NewRequest(http.MethodPost, "/", nil)
	require.False(t, s.Serve(httptest.NewRecorder(), post), "only GET and HEAD are pages")

	w := get(t, s, "/assets/js/api.js") // a name without its hash
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	head := httptest.NewRequest(http.MethodHead, "/", nil)
	hw := httptest.NewRecorder()
	require.True(t, s.Serve(hw, head))
	require.Equal(t, http.StatusOK, hw.Code)
	require.Zero(t, hw.Body.Len())
	require.NotEmpty(t, hw.Header().Get("Content-Length"))
}
