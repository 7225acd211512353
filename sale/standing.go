package sale

import (
	"context"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

// Standing is a fan's place in line as the fan sees it: the place, the session
// once admitted, and what the inventory means for them.
type Standing struct {
	Place   *queue.Place
	Session *session.Session // admitted fans only
	// TicketsLeft is what is on sale now.
	TicketsLeft int
	// Outlook is the chance of tickets for a fan with a position.
	Outlook queue.Outlook
	// LobbySize is how many fans wait in the lobby, before the opening.
	LobbySize int64
}

// Join puts the fan in line (or returns the place it has). A new place is also
// sent to the fan's live connections, which may have been open before the fan
// joined (as a page's is), on any replica: from then on every step moves it.
func (s *Service) Join(ctx context.Context, ev *store.Event, userID string) (*Standing, error) {
	p, sess, err := s.sessions.Join(ctx, queue.EventOf(ev), userID)
	if err != nil {
		return nil, err
	}
	st, err := s.standing(ctx, ev, p, sess)
	if err != nil {
		return nil, err
	}
	if p.New {
		if err := s.hub.Publish(ctx, ev.ID, st.Message(userID)); err != nil {
			s.log.WarnContext(ctx, "publish a new place", "event", ev.ID, "err", err)
		}
	}
	return st, nil
}

// Status is the fan's standing now; like queue's, it claims an admission.
func (s *Service) Status(ctx context.Context, ev *store.Event, userID string) (*Standing, error) {
	p, sess, err := s.sessions.Status(ctx, queue.EventOf(ev), userID)
	if err != nil {
		return nil, err
	}
	return s.standing(ctx, ev, p, sess)
}

// standing adds what the inventory tells a fan in line: while nothing is on
// sale a fan not yet admitted is sold_out, and a fan with a position gets an
// outlook.
func (s *Service) standing(ctx context.Context, ev *store.Event, p *queue.Place, sess *session.Session) (*Standing, error) {
	sup, err := s.supply(ctx, ev, false)
	if err != nil {
		return nil, err
	}
	st := &Standing{Place: p, Session: sess, TicketsLeft: sup.Available, LobbySize: sup.Lobby}
	if p.Status == queue.StatusLobby || p.Status == queue.StatusWaiting {
		if sup.SoldOut() {
			p.Status = queue.StatusSoldOut
		}
		if p.Position != nil {
			st.Outlook = sup.Outlook(*p.Position)
		}
	}
	return st, nil
}

// Message is the live message that tells the fan's connections their
// standing: session.admitted for an admitted fan, otherwise Update.
func (st *Standing) Message(userID string) realtime.Message {
	if st.Session != nil {
		return realtime.Message{Type: realtime.TypeSessionAdmitted, UserID: userID,
			SessionID: st.Session.ID, ExpiresAt: st.Session.ExpiresAt}
	}
	return st.Update(userID)
}

// Update is the fan's queue.update. It also gives each of the fan's
// connections the fan's number, so that later steps move it.
func (st *Standing) Update(userID string) realtime.Message {
	p := st.Place
	return realtime.Message{Type: realtime.TypeQueueUpdate, UserID: userID, Status: p.Status, Number: p.Number,
		Position: p.Position, Ahead: p.Ahead, EtaSeconds: p.ETASeconds, TicketsLeft: st.TicketsLeft, Outlook: st.Outlook}
}
