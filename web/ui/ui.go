// Package ui is the web app: fan and organizer pages as static files embedded
// in the binary. Every visitor gets the same bytes; everything personal comes
// from the JSON API and the live WebSocket, so a CDN or nginx can serve the
// pages to any crowd.
//
// Assets (CSS, JavaScript modules) are served under content-hashed names and
// cached for a year; the HTML pages that name them are cached for a minute.
// Nothing is built at run time beyond what New does once: hash, rewrite the
// modules' imports to hashed names, render the page templates and gzip.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

//go:embed pages assets
var embedded embed.FS

// Route is a page's URL pattern: "{name}" matches one path segment.
type Route struct {
	Pattern string
	// Page is the file in pages/ without ".html". Its script, if any, is
	// assets/js/pages/<Page>.js.
	Page string
}

// Routes lists every page. To add a page, write pages/<name>.html (and
// assets/js/pages/<name>.js) and add its route here.
func Routes() []Route {
	return []Route{
		{Pattern: "/", Page: "events"},
		{Pattern: "/signin", Page: "signin"},
		{Pattern: "/signup", Page: "signup"},
		{Pattern: "/tickets", Page: "tickets"},
		{Pattern: "/events/{id}", Page: "event"},
		{Pattern: "/events/{id}/line", Page: "line"},
		{Pattern: "/events/{id}/shop", Page: "shop"},
		{Pattern: "/events/{id}/checkout", Page: "checkout"},
		{Pattern: "/events/{id}/confirmation", Page: "confirmation"},
		{Pattern: "/organizer", Page: "organizer"},
		{Pattern: "/organizer/events/new", Page: "event-form"},
		{Pattern: "/organizer/events/{id}/edit", Page: "event-form"},
		{Pattern: "/events/{id}/dashboard", Page: "dashboard"},
		{Pattern: "/api", Page: "api"},
		{Pattern: "/events/{id}/door", Page: "door"},
	}
}

// Cache lifetimes. Hashed assets never change under their name; a page is
// re-checked after a minute so a deploy reaches fans quickly.
const (
	assetCache = "public, max-age=31536000, immutable"
	pageCache  = "public, max-age=60"
)

// contentSecurityPolicy allows only this origin, plus Stripe's script and
// frames for the Payment Element when PAYMENTS_PROVIDER=stripe.
const contentSecurityPolicy = "default-src 'self'; script-src 'self' https://js.stripe.com; " +
	"connect-src 'self' https://api.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; " +
	"img-src 'self' data: https://*.stripe.com; style-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Site holds every page and asset, rendered and compressed. Safe for
// concurrent use; it never changes after New.
type Site struct {
	routes []compiledRoute
	api    *reference           // the page /api, from the OpenAPI document
	pages  map[string]*resource // by page name
	assets map[string]*resource // by URL path
	urls   map[string]string    // asset source path (js/api.js) → URL path
}

type compiledRoute struct {
	segments []string
	page     string
}

type resource struct {
	body, gzipped []byte
	contentType   string
	etag          string
	cacheControl  string
	page          bool
}

// New builds the site (hashing, rendering, compressing); apiDoc is the OpenAPI
// document that the page /api shows. Build it once and keep it.
func New(apiDoc []byte) (*Site, error) { return newSite(embedded, Routes(), apiDoc) }

// newSite builds a site from pages/ and assets/ in fsys.
func newSite(fsys fs.FS, routes []Route, apiDoc []byte) (*Site, error) {
	s := &Site{pages: map[string]*resource{}, assets: map[string]*resource{}, urls: map[string]string{}}
	if apiDoc != nil {
		api, err := newReference(apiDoc)
		if err != nil {
			return nil, err
		}
		s.api = api
	}
	if err := s.loadAssets(fsys); err != nil {
		return nil, err
	}
	if err := s.renderPages(fsys, routes); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the hashed URL of an asset given by its path under assets/.
func (s *Site) URL(asset string) (string, bool) {
	u, ok := s.urls[asset]
	return u, ok
}

// importRE finds a module's static and dynamic imports; the modules here keep
// to these forms (a test fails on any relative import it cannot resolve).
var importRE = regexp.MustCompile(`(?m)(\bfrom\s*|^\s*import\s*|\bimport\(\s*)["'](\.{1,2}/[^"']+)["']`)

// hashedImportRE finds the imports once rewritten to hashed URLs.
var hashedImportRE = regexp.MustCompile(`"(/assets/[^"]+\.js)"`)

func (s *Site) loadAssets(fsys fs.FS) error {
	sources := map[string][]byte{}
	err := fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		sources[strings.TrimPrefix(p, "assets/")] = b
		return err
	})
	if err != nil {
		return err
	}
	// A module's hash covers the hashed names of what it imports, so a change
	// anywhere renames every module that depends on it.
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if _, done := s.urls[name]; done {
			return nil
		}
		if slices.Contains(stack, name) {
			return fmt.Errorf("ui: import cycle %s → %s", strings.Join(stack, " → "), name)
		}
		body := sources[name]
		if path.Ext(name) == ".js" {
			var failed error
			body = importRE.ReplaceAllFunc(body, func(m []byte) []byte {
				sub := importRE.FindSubmatch(m)
				dep := path.Join(path.Dir(name), string(sub[2]))
				if _, ok := sources[dep]; !ok {
					failed = fmt.Errorf("ui: %s imports %s, which is not in assets/", name, sub[2])
					return m
				}
				if err := visit(dep, append(stack, name)); err != nil {
					failed = err
					return m
				}
				return append(slices.Clone(sub[1]), `"`+s.urls[dep]+`"`...)
			})
			if failed != nil {
				return failed
			}
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		url := "/assets/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		s.urls[name] = url
		s.assets[url] = newResource(body, typeOf(ext), assetCache, false)
		return nil
	}
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := visit(name, nil); err != nil {
			return err
		}
	}
	return nil
}

// deps lists every module an entry module loads, in a stable order, so a page
// can preload them all at once instead of discovering them one import at a time.
func (s *Site) deps(entry string) []string {
	var out []string
	var walk func(url string)
	walk = func(url string) {
		r := s.assets[url]
		for _, m := range hashedImportRE.FindAllSubmatch(r.body, -1) {
			dep := string(m[1])
			if !slices.Contains(out, dep) {
				out = append(out, dep)
				walk(dep)
			}
		}
	}
	walk(entry)
	return out
}

type pageData struct {
	Page string
	API  *reference // the API reference page only
}

func (s *Site) renderPages(fsys fs.FS, routes []Route) error {
	funcs := template.FuncMap{
		"asset": func(name string) (string, error) {
			if u, ok := s.urls[name]; ok {
				return u, nil
			}
			return "", fmt.Errorf("no asset %s", name)
		},
		// script names the page's module and preloads everything it imports.
		"script": func(page string) (template.HTML, error) {
			url, ok := s.urls["js/pages/"+page+".js"]
			if !ok {
				return "", nil
			}
			var b strings.Builder
			for _, dep := range s.deps(url) {
				fmt.Fprintf(&b, "<link rel=\"modulepreload\" href=\"%s\">\n", dep)
			}
			fmt.Fprintf(&b, "<script type=\"module\" src=\"%s\"></script>", url)
			return template.HTML(b.String()), nil
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "pages/layout.html")
	if err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	for _, r := range routes {
		if _, done := s.pages[r.Page]; !done {
			t, err := template.Must(layout.Clone()).ParseFS(fsys, "pages/"+r.Page+".html")
			if err != nil {
				return fmt.Errorf("ui: page %s: %w", r.Page, err)
			}
			var b bytes.Buffer
			if err := t.ExecuteTemplate(&b, "layout", pageData{Page: r.Page, API: s.api}); err != nil {
				return fmt.Errorf("ui: page %s: %w", r.Page, err)
			}
			s.pages[r.Page] = newResource(b.Bytes(), "text/html; charset=utf-8", pageCache, true)
		}
		s.routes = append(s.routes, compiledRoute{segments: strings.Split(r.Pattern, "/"), page: r.Page})
	}
	return nil
}

func typeOf(ext string) string {
	switch ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func newResource(body []byte, contentType, cache string, page bool) *resource {
	sum := sha256.Sum256(body)
	r := &resource{body: body, contentType: contentType, cacheControl: cache, page: page,
		etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if b.Len() < len(body) {
		r.gzipped = b.Bytes()
	}
	return r
}

// match finds the page whose pattern fits the path.
func (s *Site) match(p string) *resource {
	segs := strings.Split(p, "/")
	for _, r := range s.routes {
		if len(r.segments) != len(segs) {
			continue
		}
		ok := true
		for i, want := range r.segments {
			if strings.HasPrefix(want, "{") {
				ok = segs[i] != ""
			} else {
				ok = want == segs[i]
			}
			if !ok {
				break
			}
		}
		if ok {
			return s.pages[r.page]
		}
	}
	return nil
}

// Serve answers a GET or HEAD for a page or an asset and reports whether it
// did; anything else is left to the API.
func (s *Site) Serve(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	res, ok := s.assets[r.URL.Path]
	if !ok {
		res = s.match(r.URL.Path)
	}
	if res == nil {
		if !strings.HasPrefix(r.URL.Path, "/assets/") {
			return false
		}
		// An old or mistyped asset name: never cache the miss.
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such asset", http.StatusNotFound)
		return true
	}
	h := w.Header()
	h.Set("Content-Type", res.contentType)
	h.Set("Cache-Control", res.cacheControl)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept-Encoding")
	if res.page {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "same-origin")
	}
	body, etag := res.body, res.etag
	if res.gzipped != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, etag = res.gzipped, strings.TrimSuffix(res.etag, `"`)+`-gz"`
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true
}

// acceptsGzip reads Accept-Encoding well enough for browsers and proxies:
// gzip listed and not refused with q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") || strings.TrimSpace(name) == "*" {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
