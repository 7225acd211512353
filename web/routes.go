package web

import "github.com/labstack/echo/v4"

// Routes lists the routes registered with echo, for the test that keeps
// openapi.yaml in step with them. It includes echo's internal catch-all entries
// (method echo.RouteNotFound) that group middleware adds.
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }
