package web

import (
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/web/ui"
)

// pages serves the web app (package ui) before routing: static files need no
// sign-in lookup, database or Redis, so they load even while those are down,
// and a fan's cookie costs nothing on a page load. Everything else, /api/v1
// included, goes on to the API's routes.
func (s *Server) pages() {
	site, err := buildSite()
	if err != nil {
		panic(err) // the embedded files are wrong: ui's tests catch it before a build ships
	}
	s.echo.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if site.Serve(c.Response(), c.Request()) {
				return nil
			}
			return next(c)
		}
	})
}

// buildSite builds the web app once per process (hashing, rendering and
// gzipping every page and asset), for every Server made: the pages depend only
// on embedded files.
var buildSite = sync.OnceValues(func() (*ui.Site, error) { return ui.New(openAPIDoc) })
