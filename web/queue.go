package web

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

// Sessions are the fans' shopping sessions at the front of the line: proving
// one, leaving (which ends it), and booking (which may end it);
// *session.Service satisfies it.
type Sessions interface {
	Session(ctx context.Context, ev queue.Event, userID, token string) (*session.Session, error)
	Leave(ctx context.Context, ev queue.Event, userID string) (*queue.Left, error)
	Booked(ctx context.Context, eventID, userID string) error
}

// Sale is a fan's standing in line with what the inventory means for them;
// *sale.Service satisfies it.
type Sale interface {
	Join(ctx context.Context, ev *store.Event, userID string) (*sale.Standing, error)
	Status(ctx context.Context, ev *store.Event, userID string) (*sale.Standing, error)
	Now(ctx context.Context, ev *store.Event) (status string, zones []inventory.ZoneCounts)
	Line(ctx context.Context, ev *store.Event) (sale.Line, error)
}

// Queue is what organizers and auditors read of the line; *queue.Queue satisfies it.
type Queue interface {
	Audit(ctx context.Context, ev queue.Event) (*queue.Audit, error)
	Counts(ctx context.Context, eventID string) (*queue.Counts, error)
}

// placeResponse is a fan's place as the API shows it.
type placeResponse struct {
	Status      queue.Status  `json:"status"`
	JoinID      string        `json:"join_id"`
	Number      *int64        `json:"number"`
	Position    *int64        `json:"position"`
	Ahead       *int64        `json:"ahead"`
	ETASeconds  *int64        `json:"eta_seconds"`
	OpensAt     time.Time     `json:"opens_at"`
	LobbySize   *int64        `json:"lobby_size,omitempty"`
	Session     *sessionJSON  `json:"session,omitempty"`
	TicketsLeft int           `json:"tickets_left"`
	Outlook     queue.Outlook `json:"outlook,omitempty"`
}

type sessionJSON struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
	Token     string    `json:"token"`
}

func placeOf(st *sale.Standing) placeResponse {
	p := st.Place
	r := placeResponse{Status: p.Status, JoinID: p.JoinID, Number: numberOf(p), Position: p.Position,
		Ahead: p.Ahead, ETASeconds: p.ETASeconds, OpensAt: p.OpensAt, TicketsLeft: st.TicketsLeft, Outlook: st.Outlook}
	if p.Status == queue.StatusLobby {
		r.LobbySize = &st.LobbySize
	}
	if st.Session != nil {
		r.Session = &sessionJSON{ID: st.Session.ID, ExpiresAt: st.Session.ExpiresAt, Token: st.Session.Token}
	}
	return r
}

// numberOf is the fan's number in line, given with a position (not in the
// lobby, nor once admitted, where it no longer means anything to the fan).
func numberOf(p *queue.Place) *int64 {
	if p.Position == nil {
		return nil
	}
	return &p.Number
}

func (s *Server) cachedEvent(c echo.Context) (*store.Event, error) {
	return s.eventByID(c.Request().Context(), c.Param("id"))
}

// eventByID is the event from the replica's cache (see store.EventCache); 404
// for an unknown id.
func (s *Server) eventByID(ctx context.Context, id string) (*store.Event, error) {
	ev, err := s.events.Event(ctx, id)
	if err != nil {
		return nil, aboutEventID(id, err)
	}
	return ev, nil
}

func (s *Server) joinQueue(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	st, err := s.sale.Join(c.Request().Context(), ev, currentUser(c).ID)
	if err != nil {
		return aboutEvent(ev, err)
	}
	return c.JSON(http.StatusOK, placeOf(st))
}

func (s *Server) queueStatus(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	st, err := s.sale.Status(c.Request().Context(), ev, currentUser(c).ID)
	if err != nil {
		return aboutEvent(ev, err)
	}
	return c.JSON(http.StatusOK, placeOf(st))
}

// lineJSON is the line as everyone sees it (GET …/queue/now).
type lineJSON struct {
	SaleStatus   string    `json:"sale_status"`
	Admitted     int64     `json:"admitted"`
	ETARate      float64   `json:"eta_rate"`
	TicketsLeft  int       `json:"tickets_left"`
	GoodUntil    *int64    `json:"good_until"`
	UnlikelyFrom *int64    `json:"unlikely_from"`
	LobbySize    *int64    `json:"lobby_size,omitempty"`
	AsOf         time.Time `json:"as_of"`
}

// queueNow is the line's public reading, the same for every fan: a page without
// a live socket follows its place with it between its own status calls. It
// answers from the replica's reading of the line, and a CDN or nginx
// (deploy/nginx.conf) may keep it for a second or two (max-age=1 in whole
// seconds), so a crowd polling it costs the replicas and Redis next to nothing.
func (s *Server) queueNow(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	l, err := s.sale.Line(c.Request().Context(), ev)
	if err != nil {
		return aboutEvent(ev, err)
	}
	r := lineJSON{SaleStatus: l.SaleStatus, Admitted: l.Admitted, ETARate: l.Rate, TicketsLeft: l.TicketsLeft,
		LobbySize: l.Lobby, AsOf: l.At.UTC()}
	if l.Bounds != nil {
		r.GoodUntil, r.UnlikelyFrom = &l.Bounds.GoodUntil, &l.Bounds.UnlikelyFrom
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=1")
	return c.JSON(http.StatusOK, r)
}

func (s *Server) leaveQueue(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	left, err := s.sessions.Leave(c.Request().Context(), queue.EventOf(ev), currentUser(c).ID)
	if err != nil {
		return aboutEvent(ev, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "left", "was": left.Was})
}

func (s *Server) queueAudit(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	a, err := s.queue.Audit(c.Request().Context(), queue.EventOf(ev))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}
