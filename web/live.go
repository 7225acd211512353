package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
)

// Hub is what the API needs from the live-update hub; *realtime.Hub satisfies it.
type Hub interface {
	Publish(ctx context.Context, eventID string, msg realtime.Message) error
	Serve(ctx context.Context, conn *websocket.Conn, info realtime.ClientInfo, snapshot []any) error
	LocalUsers(eventID string) []string
	SetNumbers(eventID string, numbers map[string]int64)
	Events() []string
}

// live serves GET /events/{id}/live: a snapshot (the fan's place, every zone's
// availability, the sale status), then live messages. Anyone may watch; a signed-in
// fan also gets their own place, and the open connection claims an admission and
// keeps the place alive.
func (s *Server) live(c echo.Context) error {
	ev, err := s.eventByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	info := realtime.ClientInfo{EventID: ev.ID, Status: realtime.StatusNone}
	var snapshot []any
	if u := currentUser(c); u != nil {
		info.UserID = u.ID
		p, err := s.line.Status(c.Request().Context(), queue.EventOf(ev), u.ID)
		switch {
		case err == nil:
			info.Status, info.Number = p.Status, p.Number
			r, err := s.withSupply(c.Request().Context(), ev, p)
			if err != nil {
				return err
			}
			snapshot = append(snapshot, placeMessage(u.ID, r))
			if p.Session != nil {
				snapshot = append(snapshot, map[string]any{"type": realtime.TypeSessionAdmitted,
					"session_id": p.Session.ID, "expires_at": p.Session.ExpiresAt})
			}
		case errors.Is(err, queue.ErrNotInLine), errors.Is(err, queue.ErrPlaceLost):
		default:
			return err
		}
	}
	for _, z := range ev.Zones {
		snapshot = append(snapshot, map[string]any{"type": realtime.TypeAvailabilityUpdate,
			"zone_id": z.ID, "available_tickets": z.AvailableTickets})
	}
	snapshot = append(snapshot, map[string]any{"type": realtime.TypeSaleUpdate, "sale_status": ev.SaleStatus})

	conn, err := realtime.Accept(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // Accept has answered the client
	}
	// The handler returns at once so net/http frees the request's buffers; the
	// connection lives on in Serve until the client leaves or the hub closes.
	go func() {
		err := s.hub.Serve(context.Background(), conn, info, snapshot)
		if err != nil && !errors.Is(err, realtime.ErrClosed) && !errors.Is(err, context.Canceled) {
			s.log.Debug("live client ended", "event", info.EventID, "user", info.UserID, "err", err)
		}
	}()
	return nil
}

// placeMessage is a queue.update as API.md shows it.
func placeMessage(userID string, p *placeResponse) map[string]any {
	m := map[string]any{"type": realtime.TypeQueueUpdate, "user_id": userID, "status": p.Status,
		"position": p.Position, "ahead": p.Ahead, "eta_seconds": p.ETASeconds, "tickets_left": p.TicketsLeft}
	if p.Outlook != "" {
		m["outlook"] = p.Outlook
	}
	return m
}

// liveState is what this replica remembers between admission steps.
type liveState struct {
	mu      sync.Mutex
	open    map[string]bool      // events whose line this replica has seen open
	touched map[string]time.Time // last sign of life sent for live fans, per event
}

// OnStep turns an admission step into live messages. The controller calls it on
// every replica for every step; only the replica whose step moved the line
// publishes it, so each change goes out once.
func (s *Server) OnStep(ctx context.Context, ev queue.Event, step *queue.Step) {
	s.liveState.mu.Lock()
	justOpened := step.State == "open" && !s.liveState.open[ev.ID]
	s.liveState.open[ev.ID] = step.State == "open"
	s.liveState.mu.Unlock()
	if justOpened {
		// The lobby was numbered (by whichever replica): this replica's own
		// clients learn their places from one batched read.
		s.numberLocalClients(ctx, ev.ID)
	}
	if !step.Changed() {
		return
	}
	msg := realtime.Message{Type: realtime.TypeQueueTick, Admitted: step.Admitted, EtaRate: step.Rate, AdmittedUsers: step.Users}
	if e, err := s.eventByID(ctx, ev.ID); err == nil {
		if sup, err := s.supply(ctx, e, false); err == nil {
			msg.TicketsLeft = sup.Available
			msg.GoodUntil, msg.UnlikelyFrom = sup.Thresholds()
			if sup.SoldOut() {
				msg.Status, msg.Outlook, msg.GoodUntil, msg.UnlikelyFrom = queue.StatusSoldOut, queue.OutlookUnlikely, 0, 0
			}
		}
	}
	if err := s.hub.Publish(ctx, ev.ID, msg); err != nil {
		s.log.WarnContext(ctx, "publish queue tick", "event", ev.ID, "err", err)
	}
	for _, e := range step.Expired {
		if err := s.booking.EndSession(ctx, ev.ID, e.UserID, false); err != nil {
			s.log.WarnContext(ctx, "release holds of an ended session", "event", ev.ID, "err", err)
		}
		m := realtime.Message{Type: realtime.TypeSessionExpired, UserID: e.UserID, SessionID: e.SessionID}
		if err := s.hub.Publish(ctx, ev.ID, m); err != nil {
			s.log.WarnContext(ctx, "publish session expiry", "event", ev.ID, "err", err)
		}
	}
}

func (s *Server) numberLocalClients(ctx context.Context, eventID string) {
	users := s.hub.LocalUsers(eventID)
	if len(users) == 0 {
		return
	}
	nums, err := s.line.Numbers(ctx, eventID, users)
	if err != nil {
		s.log.WarnContext(ctx, "number live clients", "event", eventID, "err", err)
		return
	}
	s.hub.SetNumbers(eventID, nums)
}

// OnAdmitted claims the admissions of fans connected here (an open live
// connection counts as claiming) and tells all their tabs.
func (s *Server) OnAdmitted(eventID string, users []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := s.eventByID(ctx, eventID)
	if err != nil {
		return
	}
	for _, u := range users {
		p, err := s.line.Status(ctx, queue.EventOf(ev), u)
		if err != nil || p.Session == nil {
			continue
		}
		m := realtime.Message{Type: realtime.TypeSessionAdmitted, UserID: u, SessionID: p.Session.ID, ExpiresAt: p.Session.ExpiresAt}
		if err := s.hub.Publish(ctx, eventID, m); err != nil {
			s.log.WarnContext(ctx, "publish admission", "event", eventID, "err", err)
		}
	}
}

// KeepPresence sends a sign of life for every fan connected here, every few
// seconds per event (a third of its presence window, at most every 30 s), so
// connected fans keep their places without polling.
func (s *Server) KeepPresence(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, id := range s.hub.Events() {
			ev, err := s.eventByID(ctx, id)
			if err != nil {
				continue
			}
			every := min(time.Duration(ev.PresenceSeconds)*time.Second/3, 30*time.Second)
			s.liveState.mu.Lock()
			due := time.Since(s.liveState.touched[id]) >= every
			if due {
				s.liveState.touched[id] = time.Now()
			}
			s.liveState.mu.Unlock()
			if due {
				if err := s.line.Touch(ctx, id, s.hub.LocalUsers(id)); err != nil {
					s.log.WarnContext(ctx, "keep live fans present", "event", id, "err", err)
				}
			}
		}
	}
}
