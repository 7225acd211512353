package web

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

// Line is what the API needs from the waiting room; *queue.Queue satisfies it.
type Line interface {
	Join(ctx context.Context, ev queue.Event, userID string) (*queue.Place, error)
	Status(ctx context.Context, ev queue.Event, userID string) (*queue.Place, error)
	Leave(ctx context.Context, ev queue.Event, userID string) (*queue.Left, error)
	Audit(ctx context.Context, ev queue.Event) (*queue.Audit, error)
	Counts(ctx context.Context, eventID string) (*queue.Counts, error)
	Numbers(ctx context.Context, eventID string, users []string) (map[string]int64, error)
	Touch(ctx context.Context, eventID string, users []string) error
	Session(ctx context.Context, ev queue.Event, userID, token string) (*session.Session, error)
}

// placeResponse is a fan's place as API.md shows it.
type placeResponse struct {
	*queue.Place
	TicketsLeft int    `json:"tickets_left"`
	Outlook     string `json:"outlook,omitempty"`
}

// eventCache keeps events for a second, so that a million fans polling their
// place cost PostgreSQL one read per event per second per replica.
type eventCache struct {
	mu      sync.Mutex
	entries map[string]cachedEvent
}

type cachedEvent struct {
	ev *store.Event
	at time.Time
}

const eventCacheTTL = time.Second

func (s *Server) cachedEvent(c echo.Context) (*store.Event, error) {
	return s.eventByID(c.Request().Context(), c.Param("id"))
}

// eventByID is the event, at most a second old; 404 for an unknown id.
func (s *Server) eventByID(ctx context.Context, id string) (*store.Event, error) {
	s.events.mu.Lock()
	hit, ok := s.events.entries[id]
	s.events.mu.Unlock()
	if ok && time.Since(hit.at) < eventCacheTTL {
		return hit.ev, nil
	}
	ev, err := s.store.Event(ctx, id)
	if isNotFound(err) {
		return nil, notFound("event " + id)
	}
	if err != nil {
		return nil, err
	}
	s.events.mu.Lock()
	if s.events.entries == nil || len(s.events.entries) > 10_000 {
		s.events.entries = map[string]cachedEvent{}
	}
	s.events.entries[id] = cachedEvent{ev: ev, at: time.Now()}
	s.events.mu.Unlock()
	return ev, nil
}

func (s *Server) place(c echo.Context, ev *store.Event, p *queue.Place, status int) error {
	r, err := s.withSupply(c.Request().Context(), ev, p)
	if err != nil {
		return err
	}
	return c.JSON(status, r)
}

func (s *Server) joinQueue(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	p, err := s.line.Join(c.Request().Context(), queue.EventOf(ev), currentUser(c).ID)
	if err != nil {
		return lineError(err, ev)
	}
	return s.place(c, ev, p, http.StatusOK)
}

func (s *Server) queueStatus(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	p, err := s.line.Status(c.Request().Context(), queue.EventOf(ev), currentUser(c).ID)
	if err != nil {
		return lineError(err, ev)
	}
	return s.place(c, ev, p, http.StatusOK)
}

func (s *Server) leaveQueue(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	left, err := s.line.Leave(c.Request().Context(), queue.EventOf(ev), currentUser(c).ID)
	if err != nil {
		return lineError(err, ev)
	}
	if left.Was == "admitted" {
		// The session is over: its holds go back on sale now.
		if err := s.booking.EndSession(c.Request().Context(), ev.ID, currentUser(c).ID, true); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "left", "was": left.Was})
}

func (s *Server) queueAudit(c echo.Context) error {
	ev, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	a, err := s.line.Audit(c.Request().Context(), queue.EventOf(ev))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// lineError explains why the line refused a fan.
func lineError(err error, ev *store.Event) error {
	switch {
	case errors.Is(err, queue.ErrNotInLine):
		return newError(http.StatusNotFound, "not_in_line", "you are not in the line for "+ev.ID+"; join it with POST /api/v1/events/"+ev.ID+"/queue")
	case errors.Is(err, queue.ErrPlaceLost):
		return newError(http.StatusGone, "place_lost", "you left the line, were away too long or your shopping time ended; join again for a new place at the back")
	case errors.Is(err, queue.ErrNotOnSale):
		return &apiError{Status: http.StatusConflict, Code: "line_closed",
			Message: "the line for " + ev.ID + " is not open: it opens at " + ev.LobbyOpensAt.Format(time.RFC3339) + " and closes when the show starts",
			Details: map[string]any{"lobby_opens_at": ev.LobbyOpensAt, "starts_at": ev.StartsAt}}
	}
	return err
}
