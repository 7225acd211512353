package session

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/store"
)

// Reason says why a shopping session ended; fans read it in session.expired.
type Reason string

const (
	ReasonTimedOut Reason = "timed_out" // the session's time ran out
	ReasonBooked   Reason = "booked"    // the fan booked and holds nothing more
	ReasonLeft     Reason = "left"      // the fan left the line
)

// Line is what sessions need from the waiting room, which keeps them in its
// Redis state beside the places; *queue.Queue satisfies it.
type Line interface {
	Join(ctx context.Context, ev queue.Event, userID string) (*queue.Place, error)
	Status(ctx context.Context, ev queue.Event, userID string) (*queue.Place, error)
	Leave(ctx context.Context, eventID, userID string) (*queue.Left, error)
	Active(ctx context.Context, eventID, userID string) (*queue.Admission, error)
	Touch(ctx context.Context, eventID string, users []string) error
}

// Holds ends the holds of a session that is over; *booking.Service satisfies
// it. left says the fan chose to leave (holds released, payments refunded);
// otherwise the session ran out or is done (unpaid holds expire at once, holds
// with a payment under way after the event's payment grace).
type Holds interface {
	EndSession(ctx context.Context, eventID, userID string, left bool) error
}

// Store is what sessions read from PostgreSQL; *store.DB satisfies it.
type Store interface {
	ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error)
}

// Events gives an event by id, recent enough for its settings;
// *store.EventCache satisfies it.
type Events interface {
	Event(ctx context.Context, id string) (*store.Event, error)
}

// Hub is this replica's live hub; *realtime.Hub satisfies it.
type Hub interface {
	Publish(ctx context.Context, eventID string, msg realtime.Message) error
	Events() []string
	LocalUsers(eventID string) []string
	Admissions() <-chan struct{}
	TakeAdmissions() map[string][]string
}

// Config wires a Service.
type Config struct {
	Line   Line
	Signer *Signer
	Holds  Holds
	Store  Store
	Events Events
	Hub    Hub
	Log    *slog.Logger
	Now    func() time.Time // default time.Now
}

// Service owns the life of shopping sessions: a session starts when a fan
// claims an admission (a status call, or an open live connection), is proven by
// its signed token, is kept present while the fan is connected, and ends when
// its time runs out, when the fan has booked and holds nothing more, or when
// the fan leaves. Whichever way it ends, its holds are ended, its slot goes to
// the next fan, and the fan's tabs hear session.expired with the reason. Safe
// for concurrent use, on every replica at once.
type Service struct {
	line   Line
	signer *Signer
	holds  Holds
	store  Store
	events Events
	hub    Hub
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	touched map[string]time.Time // last sign of life sent for live fans, per event
}

// New builds a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{line: cfg.Line, signer: cfg.Signer, holds: cfg.Holds, store: cfg.Store, events: cfg.Events,
		hub: cfg.Hub, log: cfg.Log, now: cfg.Now, touched: map[string]time.Time{}}
}

// Join puts the fan in line (see queue.Queue.Join), with the signed session if
// the fan is admitted at once.
func (s *Service) Join(ctx context.Context, ev queue.Event, userID string) (*queue.Place, *Session, error) {
	p, err := s.line.Join(ctx, ev, userID)
	if err != nil {
		return nil, nil, err
	}
	return p, s.sessionOf(ev.ID, userID, p), nil
}

// Status is the fan's place now. It claims an admission, which starts the
// shopping session; an admitted fan gets the session with its signed token.
func (s *Service) Status(ctx context.Context, ev queue.Event, userID string) (*queue.Place, *Session, error) {
	p, err := s.line.Status(ctx, ev, userID)
	if err != nil {
		return nil, nil, err
	}
	return p, s.sessionOf(ev.ID, userID, p), nil
}

func (s *Service) sessionOf(eventID, userID string, p *queue.Place) *Session {
	if p.Admission == nil {
		return nil
	}
	sess := &Session{ID: p.Admission.SessionID, EventID: eventID, UserID: userID, ExpiresAt: p.Admission.ExpiresAt}
	s.signer.Sign(sess)
	return sess
}

// Session returns the fan's active shopping session (queue.ErrNoSession when
// there is none). With a token, the token must be genuine, unexpired and name
// the session that is active now, so neither a forged token nor one kept from an
// earlier session opens the shop.
func (s *Service) Session(ctx context.Context, ev queue.Event, userID, token string) (*Session, error) {
	var claimed *Session
	if token != "" {
		c, err := s.signer.Verify(token, ev.ID, userID)
		if err != nil {
			return nil, err
		}
		claimed = c
	}
	a, err := s.line.Active(ctx, ev.ID, userID)
	if err != nil {
		return nil, err
	}
	if claimed != nil && claimed.ID != a.SessionID {
		return nil, ErrInvalid
	}
	sess := &Session{ID: a.SessionID, EventID: ev.ID, UserID: userID, ExpiresAt: a.ExpiresAt}
	s.signer.Sign(sess)
	return sess, nil
}

// Leave takes the fan out of the line. A fan who was shopping ends the
// session: its holds are released now (a paid one refunded), and the fan's
// tabs hear session.expired (left).
func (s *Service) Leave(ctx context.Context, ev queue.Event, userID string) (*queue.Left, error) {
	left, err := s.line.Leave(ctx, ev.ID, userID)
	if err != nil {
		return nil, err
	}
	if left.Was == "admitted" {
		if err := s.end(ctx, ev.ID, userID, left.SessionID, ReasonLeft); err != nil {
			return nil, err
		}
	}
	return left, nil
}

// Booked is called after each booking: a fan who holds nothing more is done
// shopping, so the session ends (booked) and its slot goes to the next fan.
func (s *Service) Booked(ctx context.Context, eventID, userID string) error {
	// Redis first: most calls come after the session ended (the book call
	// after a confirm that booked), and it says so for less than PostgreSQL.
	if _, err := s.line.Active(ctx, eventID, userID); errors.Is(err, queue.ErrNoSession) {
		return nil
	}
	held, err := s.store.ActiveHoldsOfSession(ctx, eventID, userID)
	if err != nil || len(held) > 0 {
		return err
	}
	left, err := s.line.Leave(ctx, eventID, userID)
	if errors.Is(err, queue.ErrNotInLine) || errors.Is(err, queue.ErrPlaceLost) {
		return nil // the session ended meanwhile, some other way
	}
	if err != nil || left.Was != "admitted" {
		return err
	}
	return s.end(ctx, eventID, userID, left.SessionID, ReasonBooked)
}

// Expired ends the sessions whose time an admission step found over (the
// step has freed their slots).
func (s *Service) Expired(ctx context.Context, eventID string, ended []queue.Ended) {
	for _, e := range ended {
		if err := s.end(ctx, eventID, e.UserID, e.SessionID, ReasonTimedOut); err != nil {
			s.log.WarnContext(ctx, "end of a timed out session", "event", eventID, "err", err)
		}
	}
}

// end does what the end of a session does, once the line has freed its slot:
// the holds end (a session that ends any way but leaving leaves payments under
// way their grace, in booking), then every tab of the fan hears it. The fan is
// told even if ending the holds failed: they end on their own at the session's
// expiry, and the session is over either way.
func (s *Service) end(ctx context.Context, eventID, userID, sessionID string, why Reason) error {
	err := s.holds.EndSession(ctx, eventID, userID, why == ReasonLeft)
	m := realtime.Message{Type: realtime.TypeSessionExpired, UserID: userID, SessionID: sessionID, Reason: string(why)}
	if perr := s.hub.Publish(ctx, eventID, m); perr != nil {
		s.log.WarnContext(ctx, "publish session end", "event", eventID, "err", perr)
	}
	return err
}

// Claim claims the admissions of fans connected here (an open live connection
// counts as claiming) and tells all their tabs. It returns the fans whose claim
// failed for a reason that may pass (Redis or PostgreSQL out of reach), to be
// tried again: an admission nobody claims is lost at the end of the claim
// window, and with it the fan, whose page waits for the live message.
func (s *Service) Claim(ctx context.Context, eventID string, users []string) (retry []string) {
	ev, err := s.events.Event(ctx, eventID)
	if err != nil {
		s.log.WarnContext(ctx, "claim admissions", "event", eventID, "err", err)
		return users
	}
	var lastErr error
	for _, u := range users {
		_, sess, err := s.Status(ctx, queue.EventOf(ev), u)
		if errors.Is(err, queue.ErrNotInLine) || errors.Is(err, queue.ErrPlaceLost) || errors.Is(err, queue.ErrNotOnSale) {
			continue // left meanwhile: the line has moved on
		}
		if err == nil && sess == nil {
			continue // not admitted (any more): the claim window passed
		}
		if err == nil {
			m := realtime.Message{Type: realtime.TypeSessionAdmitted, UserID: u, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt}
			err = s.hub.Publish(ctx, eventID, m) // if it fails, claiming again returns the same session
		}
		if err != nil {
			retry, lastErr = append(retry, u), err
		}
	}
	if lastErr != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "claim admissions: trying again", "event", eventID, "fans", len(retry), "err", lastErr)
	}
	return retry
}

// claimRetry is how soon a failed claim is tried again.
const claimRetry = 250 * time.Millisecond

// Run claims the admissions of fans connected here as ticks admit them, until
// ctx ends. A failed claim is tried again until it succeeds or the line has
// moved on.
func (s *Service) Run(ctx context.Context) {
	retry := map[string][]string{}
	var again <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.hub.Admissions():
			for eventID, users := range s.hub.TakeAdmissions() {
				retry[eventID] = append(retry[eventID], s.Claim(ctx, eventID, users)...)
			}
		case <-again:
			was := retry
			retry = map[string][]string{}
			for eventID, users := range was {
				retry[eventID] = s.Claim(ctx, eventID, users)
			}
			again = nil
		}
		maps.DeleteFunc(retry, func(_ string, users []string) bool { return len(users) == 0 })
		if len(retry) > 0 && again == nil {
			again = time.After(claimRetry)
		}
	}
}

// KeepPresent sends a sign of life for every fan connected here, per event every
// third of its presence window (at most every 30 s), so that connected fans keep
// their places without polling. Its owner runs it every second.
func (s *Service) KeepPresent(ctx context.Context) {
	for _, id := range s.hub.Events() {
		ev, err := s.events.Event(ctx, id)
		if err != nil {
			continue
		}
		every := min(time.Duration(ev.PresenceSeconds)*time.Second/3, 30*time.Second)
		now := s.now()
		s.mu.Lock()
		due := now.Sub(s.touched[id]) >= every
		if due {
			s.touched[id] = now
		}
		s.mu.Unlock()
		if due {
			if err := s.line.Touch(ctx, id, s.hub.LocalUsers(id)); err != nil {
				s.log.WarnContext(ctx, "keep live fans present", "event", id, "err", err)
			}
		}
	}
}
