package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/store"
)

func (s *Server) createEvent(c echo.Context) error {
	var n newEvent
	if err := decode(c, &n); err != nil {
		return err
	}
	e, err := s.store.CreateEvent(c.Request().Context(), n.event(), currentUser(c).ID)
	if err != nil {
		return aboutEventID(n.ID, err)
	}
	return c.JSON(http.StatusCreated, map[string]eventJSON{"event": eventOf(e)})
}

func (s *Server) listEvents(c echo.Context) error {
	events, err := s.store.Events(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string][]eventJSON{"events": list(events, eventOf)})
}

// event loads the event named in the path; an unknown id answers 404 naming it.
func (s *Server) event(c echo.Context) (*store.Event, error) {
	e, err := s.store.Event(c.Request().Context(), c.Param("id"))
	return e, aboutEventID(c.Param("id"), err)
}

// getEvent answers from the replica's event cache, at most a second old: every
// page of a sale reads the event when it loads, and counting the event's
// tickets in PostgreSQL for each would make its work grow with the crowd. The
// counts stay PostgreSQL's, which a replica's crash cannot leave behind: Redis's
// (the live feed's) can be off until the drift check repairs them, and a
// client deciding the sale is over reads this.
func (s *Server) getEvent(c echo.Context) error {
	e, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]eventJSON{"event": eventOf(e)})
}

func (s *Server) updateEvent(c echo.Context) error {
	var p eventPatch
	if err := decode(c, &p); err != nil {
		return err
	}
	if p.Zones != nil {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid",
			Message: "zones cannot change once tickets exist; create a new event", Details: map[string]any{"field": "zones"}}
	}
	e, err := s.store.UpdateEvent(c.Request().Context(), c.Param("id"), p.settings())
	if err != nil {
		return aboutEventID(c.Param("id"), err)
	}
	s.events.Forget(e.ID)
	return c.JSON(http.StatusOK, map[string]eventJSON{"event": eventOf(e)})
}

// seats finds the zone in the cached event (zones never change) and reads its
// seats fresh.
func (s *Server) seats(c echo.Context) error {
	e, err := s.cachedEvent(c)
	if err != nil {
		return err
	}
	z, ok := e.Zone(c.Param("zone"))
	if !ok {
		return notFound("zone " + c.Param("zone"))
	}
	if z.Kind != inventory.Seated {
		return newError(http.StatusNotFound, "not_seated", "zone "+z.ID+" is general admission: it has no assigned seats")
	}
	seats, err := s.store.Seats(c.Request().Context(), e.ID, z.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"zone_id": z.ID, "seats": list(seats, seatOf)})
}

type zoneStats struct {
	ID               string `json:"id"`
	Capacity         int    `json:"capacity"`
	AvailableTickets int    `json:"available_tickets"`
	ReservedTickets  int    `json:"reserved_tickets"`
	BookedTickets    int    `json:"booked_tickets"`
}

type eventStats struct {
	EventID    string      `json:"event_id"`
	SaleStatus string      `json:"sale_status"`
	Zones      []zoneStats `json:"zones"`
	// Paused is the organizer's pause of admissions.
	Paused      bool  `json:"paused"`
	QueueLength int64 `json:"queue_length"`
	// LobbySize counts the fans in the lobby before the opening (0 after it,
	// when they all have places and count in QueueLength).
	LobbySize      int64 `json:"lobby_size"`
	Admitted       int64 `json:"admitted"`
	ActiveShoppers int64 `json:"active_shoppers"`
	// PendingAdmissions are admitted fans who have not claimed yet: their
	// slots are taken, so the line waits for them (up to claim_seconds).
	PendingAdmissions int64   `json:"pending_admissions"`
	AdmissionRate     float64 `json:"admission_rate"`
	Bookings          int     `json:"bookings"`
	RevenueCents      int64   `json:"revenue_cents"`
}

// stats is the organizer's view of a sale: tickets from PostgreSQL, the line
// from Redis. queue_length counts places not yet reached by admission.
func (s *Server) stats(c echo.Context) error {
	e, err := s.event(c)
	if err != nil {
		return err
	}
	st := eventStats{EventID: e.ID, SaleStatus: e.SaleStatus, Paused: e.Paused, Zones: make([]zoneStats, len(e.Zones))}
	for i, z := range e.Zones {
		st.Zones[i] = zoneStats{ID: z.ID, Capacity: z.Capacity, AvailableTickets: z.AvailableTickets,
			ReservedTickets: z.ReservedTickets, BookedTickets: z.BookedTickets}
	}
	if st.Bookings, st.RevenueCents, err = s.store.Sales(c.Request().Context(), e.ID); err != nil {
		return err
	}
	counts, err := s.queue.Counts(c.Request().Context(), e.ID)
	if err != nil {
		return err
	}
	st.QueueLength = max(counts.Length-counts.Admitted, 0)
	if counts.State == "lobby" {
		st.LobbySize = counts.Length
	}
	st.Admitted, st.ActiveShoppers, st.PendingAdmissions = counts.Admitted, counts.Active, counts.Pending
	st.AdmissionRate = counts.Rate
	return c.JSON(http.StatusOK, map[string]eventStats{"stats": st})
}
