package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
)

// Hub serves this replica's live connections; *realtime.Hub satisfies it.
type Hub interface {
	Serve(ctx context.Context, conn *websocket.Conn, info realtime.ClientInfo, snapshot []any) error
}

// live serves GET /events/{id}/live: a snapshot (the fan's place, every zone's
// availability, the sale status), then live messages. Anyone may watch; a signed-in
// fan also gets their own place, and the open connection claims an admission and
// keeps the place alive.
func (s *Server) live(c echo.Context) error {
	if !sameOrigin(c.Request()) {
		return newError(http.StatusForbidden, "forbidden", "live updates are only for pages of this site: the Origin header names another")
	}
	ev, err := s.eventByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	info := realtime.ClientInfo{EventID: ev.ID, Status: queue.StatusNone}
	var snapshot []any
	if u := currentUser(c); u != nil {
		info.UserID = u.ID
		st, err := s.sale.Status(c.Request().Context(), ev, u.ID)
		switch {
		case err == nil:
			info.Status, info.Number = st.Place.Status, st.Place.Number
			place, err := realtime.ClientJSON(st.Update(u.ID))
			if err != nil {
				return err
			}
			snapshot = append(snapshot, place)
			if st.Session != nil {
				snapshot = append(snapshot, map[string]any{"type": realtime.TypeSessionAdmitted,
					"session_id": st.Session.ID, "expires_at": st.Session.ExpiresAt})
			}
		case errors.Is(err, queue.ErrNotInLine), errors.Is(err, queue.ErrPlaceLost):
		default:
			return err
		}
	}
	status, zones := s.sale.Now(c.Request().Context(), ev)
	for _, z := range zones {
		snapshot = append(snapshot, map[string]any{"type": realtime.TypeAvailabilityUpdate,
			"zone_id": z.ZoneID, "available_tickets": z.Available})
	}
	snapshot = append(snapshot, map[string]any{"type": realtime.TypeSaleUpdate, "sale_status": status})

	conn, err := realtime.Accept(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Accept has answered the client
	}
	// The handler returns at once so net/http frees the request's buffers; the
	// connection lives on in Serve until the client leaves or the hub closes.
	go func() {
		err := s.hub.Serve(context.Background(), conn, info, snapshot)
		if errors.Is(err, realtime.ErrClosed) || errors.Is(err, context.Canceled) {
			return // the replica is shutting down
		}
		s.metrics.liveEnded.WithLabelValues(endReason(err)).Inc()
		if err != nil {
			s.log.Debug("live client ended", "event", info.EventID, "user", info.UserID, "err", err)
		}
	}()
	return nil
}

// endReason names how a live connection ended, for boxoffice_live_ended_total.
func endReason(err error) string {
	switch {
	case err == nil:
		return "left"
	case errors.Is(err, realtime.ErrSlowClient):
		return "slow"
	case errors.Is(err, realtime.ErrNoPong):
		return "no_pong"
	case errors.Is(err, realtime.ErrResync):
		return "resync"
	}
	return "error"
}

// sameOrigin is the WebSocket library's own origin rule (no Origin header, or
// one naming this host), checked here first so that a refusal is the API's
// error envelope rather than the library's plain text. Cookies ride along with
// a cross-site WebSocket, so another site's page must not open one.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
