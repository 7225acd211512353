// Package sale runs each on-sale event's control loop on every replica, between
// the line (queue), the shopping sessions (session), the inventory's live counts
// and the live feed (realtime): before each admission step it reads the supply,
// announces the sale status when it changes and pauses admission while nothing
// is on sale; after the step it turns what moved into live updates and hands
// the sessions that ran out to session. It also gives a fan their standing in
// line with what the inventory means for them, and tells live clients what
// booking changes (Notifier).
package sale

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

// Queue is what the sale reads of the line; *queue.Queue satisfies it.
type Queue interface {
	Counts(ctx context.Context, eventID string) (*queue.Counts, error)
	Numbers(ctx context.Context, eventID string, users []string) (map[string]int64, error)
}

// Sessions starts and ends shopping sessions; *session.Service satisfies it.
type Sessions interface {
	Join(ctx context.Context, ev queue.Event, userID string) (*queue.Place, *session.Session, error)
	Status(ctx context.Context, ev queue.Event, userID string) (*queue.Place, *session.Session, error)
	Expired(ctx context.Context, eventID string, ended []queue.Ended)
}

// Hub is this replica's live hub; *realtime.Hub satisfies it.
type Hub interface {
	Publish(ctx context.Context, eventID string, msg realtime.Message) error
	LocalUsers(eventID string) []string
	SetNumbers(eventID string, numbers map[string]int64)
}

// Counter reads live counts; *inventory.Inventory satisfies it.
type Counter interface {
	Counts(ctx context.Context, eventID string) ([]inventory.ZoneCounts, error)
}

// Store is what the sale reads from PostgreSQL; *store.DB satisfies it.
type Store interface {
	Event(ctx context.Context, id string) (*store.Event, error)
	// OnSale lists the events whose line is open, from the lobby's opening
	// until the show starts.
	OnSale(ctx context.Context) ([]*store.Event, error)
}

// Config wires a Service.
type Config struct {
	Queue     Queue
	Sessions  Sessions
	Hub       Hub
	Inventory Counter
	Store     Store
	// Redis keeps each event's last announced sale status (ev:{E}:sale), so
	// that one replica announces each change.
	Redis redis.UniversalClient
	Log   *slog.Logger
	// ListEvery is how often the events on sale are read from PostgreSQL
	// (default 2 s); the counts come from Redis every step.
	ListEvery time.Duration
	// FlipEvery is the least time between two announced flips of an event
	// between open and sold_out (default 1 s); see announce.
	FlipEvery time.Duration
	Now       func() time.Time // default time.Now
}

// Service is one replica's part in every sale. Safe for concurrent use.
type Service struct {
	queue     Queue
	sessions  Sessions
	hub       Hub
	inv       Counter
	store     Store
	rdb       redis.UniversalClient
	log       *slog.Logger
	listEvery time.Duration
	flipEvery time.Duration
	now       func() time.Time

	mu        sync.Mutex
	listed    map[string]*store.Event // the events on sale, as last read
	listedAt  time.Time
	announced map[string]string // sale status as last seen here, per event
	open      map[string]bool   // events whose line this replica has seen open
	supplies  map[string]cachedSupply
}

// New builds a Service.
func New(cfg Config) *Service {
	if cfg.ListEvery <= 0 {
		cfg.ListEvery = 2 * time.Second
	}
	if cfg.FlipEvery <= 0 {
		cfg.FlipEvery = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{queue: cfg.Queue, sessions: cfg.Sessions, hub: cfg.Hub, inv: cfg.Inventory, store: cfg.Store,
		rdb: cfg.Redis, log: cfg.Log, listEvery: cfg.ListEvery, flipEvery: cfg.FlipEvery, now: cfg.Now,
		listed: map[string]*store.Event{}, announced: map[string]string{}, open: map[string]bool{},
		supplies: map[string]cachedSupply{}}
}

// Events lists the events whose line is open, for queue.Controller, each with
// whether it is sold out. Each call reads every listed event's supply fresh, so
// that a sell-out pauses admission at the very next step, and announces each
// event's sale status when it has changed, the clock's changes included
// (scheduled → lobby → open ↔ sold_out → closed).
func (s *Service) Events(ctx context.Context) ([]queue.Event, error) {
	list, ended, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, e := range ended {
		// No longer on sale: the show has started (or the lobby was moved later).
		s.announce(ctx, e.ID, e.SaleStatusAt(now, e.AvailableTickets))
		s.forget(e.ID)
	}
	out := make([]queue.Event, 0, len(list))
	for _, e := range list {
		qe := queue.EventOf(e)
		if sup, err := s.supply(ctx, e, true); err == nil {
			status := e.SaleStatusAt(now, sup.Available)
			qe.SoldOut = status == store.SaleSoldOut
			s.announce(ctx, e.ID, status)
		} else if ctx.Err() == nil {
			s.log.WarnContext(ctx, "read the supply of an event on sale", "event", e.ID, "err", err)
		}
		out = append(out, qe)
	}
	return out, nil
}

// list returns the events on sale, read from PostgreSQL at most every
// listEvery, and the events that have left the list since the last read.
func (s *Service) list(ctx context.Context) (list, ended []*store.Event, err error) {
	s.mu.Lock()
	due := s.now().Sub(s.listedAt) >= s.listEvery
	s.mu.Unlock()
	if due {
		fresh, err := s.store.OnSale(ctx)
		if err != nil {
			return nil, nil, err
		}
		byID := make(map[string]*store.Event, len(fresh))
		for _, e := range fresh {
			byID[e.ID] = e
		}
		s.mu.Lock()
		for id, e := range s.listed {
			if byID[id] == nil {
				ended = append(ended, e)
			}
		}
		s.listed, s.listedAt = byID, s.now()
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.listed {
		list = append(list, e)
	}
	return list, ended, nil
}

// forget drops what this replica remembers of an event that is no longer on sale.
func (s *Service) forget(eventID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.announced, eventID)
	delete(s.open, eventID)
	delete(s.supplies, eventID)
}

// saleKey names the event's last announced sale status; this package owns it.
func saleKey(eventID string) string { return "ev:{" + eventID + "}:sale" }

// flipKey marks an event's last flip between open and sold_out, for flipEvery.
func flipKey(eventID string) string { return "ev:{" + eventID + "}:sale:flip" }

// announce publishes sale.update when the event's status differs from what this
// replica saw last. Every replica sees the change; the swap in Redis lets the
// first of them announce it, so clients get one message per change. A replica
// that announced a status already overtaken sees the newer one at its next step
// and announces that.
//
// At the end of a sale the status flips between open and sold_out as holds run
// out and are taken again a moment later, and every flip is a message to every
// socket (20,000 fans got 58 each in a rehearsal). So the fleet announces at
// most one such flip per flipEvery per event: a later one waits for a step
// after it, which announces the status of then, or nothing if it flipped back.
func (s *Service) announce(ctx context.Context, eventID, status string) {
	s.mu.Lock()
	was, known := s.announced[eventID]
	s.mu.Unlock()
	if known && was == status {
		return
	}
	if known && flips(was, status) {
		ok, err := s.rdb.SetNX(ctx, flipKey(eventID), status, s.flipEvery).Result()
		if err == nil && !ok {
			return
		}
	}
	s.mu.Lock()
	s.announced[eventID] = status
	s.mu.Unlock()
	old, err := s.rdb.SetArgs(ctx, saleKey(eventID), status, redis.SetArgs{Get: true}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.log.WarnContext(ctx, "record sale status", "event", eventID, "err", err)
		s.mu.Lock()
		delete(s.announced, eventID) // try again at the next step
		s.mu.Unlock()
		return
	}
	if old == status {
		return // another replica announced it
	}
	if err := s.hub.Publish(ctx, eventID, realtime.Message{Type: realtime.TypeSaleUpdate, SaleStatus: status}); err != nil {
		s.log.WarnContext(ctx, "publish sale status", "event", eventID, "err", err)
	}
}

// flips reports a change between open and sold_out, either way.
func flips(was, now string) bool {
	return was == store.SaleOpen && now == store.SaleSoldOut || was == store.SaleSoldOut && now == store.SaleOpen
}

// OnStep turns an admission step into live messages. The controller calls it on
// every replica for every step; only the replica whose step moved the line
// publishes it, so each change goes out once.
func (s *Service) OnStep(ctx context.Context, ev queue.Event, step *queue.Step) {
	s.mu.Lock()
	justOpened := step.State == "open" && !s.open[ev.ID]
	s.open[ev.ID] = step.State == "open"
	if c, ok := s.supplies[ev.ID]; ok && step.Admitted >= c.s.Admitted {
		// The reading was taken before the step (Events); the line's public
		// reading (Line) must say what this step's tick says.
		c.s.Admitted, c.rate = step.Admitted, step.Rate
		s.supplies[ev.ID] = c
	}
	s.mu.Unlock()
	if justOpened {
		// The lobby was numbered (by whichever replica): this replica's own
		// clients learn their places from one batched read.
		s.numberLocalClients(ctx, ev.ID)
	}
	if !step.Changed() {
		return
	}
	msg := realtime.Message{Type: realtime.TypeQueueTick, Admitted: step.Admitted, EtaRate: step.Rate, AdmittedUsers: step.Users}
	if sup, err := s.supplyOf(ctx, ev.ID); err == nil {
		msg.TicketsLeft = sup.Available
		if b := boundsOf(sup); b == nil {
			msg.Status, msg.Outlook = queue.StatusSoldOut, queue.OutlookUnlikely
		} else {
			msg.GoodUntil, msg.UnlikelyFrom = b.GoodUntil, b.UnlikelyFrom
		}
	}
	if err := s.hub.Publish(ctx, ev.ID, msg); err != nil {
		s.log.WarnContext(ctx, "publish queue tick", "event", ev.ID, "err", err)
	}
	s.sessions.Expired(ctx, ev.ID, step.Expired)
}

func (s *Service) numberLocalClients(ctx context.Context, eventID string) {
	users := s.hub.LocalUsers(eventID)
	if len(users) == 0 {
		return
	}
	nums, err := s.queue.Numbers(ctx, eventID, users)
	if err != nil {
		s.log.WarnContext(ctx, "number live clients", "event", eventID, "err", err)
		return
	}
	s.hub.SetNumbers(eventID, nums)
}
