// Package booking is the reserve → pay → book → cancel flow. Redis (inventory)
// answers first and fast; PostgreSQL (store) decides; payments take the money.
package booking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

var (
	// ErrHoldGone is a hold that expired or was released before it was paid for.
	ErrHoldGone = errors.New("the reservation has expired or was released")
	// ErrNotPaid is a payment that has not succeeded.
	ErrNotPaid = errors.New("the payment has not succeeded")
	// ErrPaymentMismatch is a payment for another reservation.
	ErrPaymentMismatch = errors.New("the payment is for another reservation")
	// ErrNotYours is anything that belongs to another fan; callers answer as for
	// something that does not exist.
	ErrNotYours = errors.New("not found")
	// ErrRefunded is a payment that succeeded after its hold was gone: it was
	// refunded and no tickets were sold.
	ErrRefunded = errors.New("the reservation expired before the payment succeeded; the payment was refunded")
)

// Store is what booking needs from PostgreSQL; *store.DB satisfies it.
type Store interface {
	CreateHold(ctx context.Context, n store.NewHold) (*store.Hold, error)
	Hold(ctx context.Context, id string) (*store.Hold, error)
	EndHold(ctx context.Context, id, status string) (*store.Hold, error)
	DueHolds(ctx context.Context, now time.Time, limit int) ([]string, error)
	ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error)
	CreatePayment(ctx context.Context, p *store.Payment) error
	Payment(ctx context.Context, id string) (*store.Payment, error)
	PaymentByRef(ctx context.Context, provider, ref string) (*store.Payment, error)
	UnsettledPayments(ctx context.Context, provider string) ([]*store.Payment, error)
	SetPaymentStatus(ctx context.Context, id, status string) (*store.Payment, error)
	Book(ctx context.Context, holdID, paymentID string) (*store.Booking, error)
	Booking(ctx context.Context, id string) (*store.Booking, error)
	CancelBooking(ctx context.Context, id string) (*store.Booking, error)
	InventorySnapshot(ctx context.Context, eventID string) (*inventory.Snapshot, error)
}

// Inventory is what booking needs from Redis; *inventory.Inventory satisfies it.
type Inventory interface {
	HoldSeats(ctx context.Context, eventID, zoneID, userID, holdID string, seats []string, maxPerUser int) (*inventory.Hold, error)
	HoldQuantity(ctx context.Context, eventID, zoneID, userID, holdID string, qty, maxPerUser int) (*inventory.Hold, error)
	HoldBest(ctx context.Context, eventID, zoneID, userID, holdID string, qty, maxPerUser int) (*inventory.Hold, error)
	Release(ctx context.Context, eventID, holdID string) error
	MarkBooked(ctx context.Context, eventID, holdID string) error
	ReleaseBooking(ctx context.Context, eventID, bookingID, zoneID, userID string, seats []string, qty int) error
	Loaded(ctx context.Context, eventID string) (bool, error)
	Rebuild(ctx context.Context, snap *inventory.Snapshot) error
	Drift(ctx context.Context, snap *inventory.Snapshot) ([]string, error)
}

// Notifier hears of every change fans should see live.
type Notifier interface {
	// TicketsChanged: seats (seat id → status; nil for a pool) of a zone changed.
	TicketsChanged(ctx context.Context, eventID, zoneID string, seats map[string]string)
	// HoldExpired: a fan's reservation ran out.
	HoldExpired(ctx context.Context, h *store.Hold)
}

// Service runs the flow. Safe for concurrent use, on every replica at once.
type Service struct {
	rebuilds singleflight.Group // one rebuild per event at a time per replica
	store    Store
	inv      Inventory
	provider payments.Provider
	notify   Notifier
	log      *slog.Logger
	now      func() time.Time
}

// New builds a Service.
func New(st Store, inv Inventory, provider payments.Provider, notify Notifier, log *slog.Logger, now func() time.Time) *Service {
	return &Service{store: st, inv: inv, provider: provider, notify: notify, log: log, now: now}
}

// Request asks for tickets: specific seats, a quantity from a pool, or the best
// adjacent seats of a seated zone.
type Request struct {
	Event         *store.Event
	ZoneID        string
	UserID        string
	SessionID     string
	Until         time.Time // the session's end: a hold never outlives it
	Seats         []string
	Quantity      int
	BestAvailable bool
}

// Reserve holds the tickets: Redis decides at once (taken seats, limits, the
// session), then PostgreSQL records the hold; if the database refuses, the Redis
// hold is undone and the database's word stands.
func (s *Service) Reserve(ctx context.Context, r Request) (*store.Hold, error) {
	if err := s.ensureLoaded(ctx, r.Event.ID); err != nil {
		return nil, err
	}
	holdID := store.NewID("hld")
	max := r.Event.MaxTicketsPerUser
	var (
		h   *inventory.Hold
		err error
	)
	switch {
	case len(r.Seats) > 0:
		h, err = s.inv.HoldSeats(ctx, r.Event.ID, r.ZoneID, r.UserID, holdID, r.Seats, max)
	case r.BestAvailable:
		h, err = s.inv.HoldBest(ctx, r.Event.ID, r.ZoneID, r.UserID, holdID, r.Quantity, max)
	default:
		h, err = s.inv.HoldQuantity(ctx, r.Event.ID, r.ZoneID, r.UserID, holdID, r.Quantity, max)
	}
	if err != nil {
		return nil, err
	}
	n := store.NewHold{ID: holdID, EventID: r.Event.ID, ZoneID: r.ZoneID, UserID: r.UserID,
		SessionID: r.SessionID, ExpiresAt: r.Until}
	if len(h.Seats) > 0 {
		n.Seats = h.Seats
	} else {
		n.Quantity = h.Quantity
	}
	hold, err := s.store.CreateHold(context.WithoutCancel(ctx), n)
	if err != nil {
		s.undo(ctx, r.Event.ID, holdID)
		if errors.Is(err, store.ErrTicketsTaken) {
			// Redis thought them free: it has drifted from the truth. Repair it.
			s.rebuildSoon(r.Event.ID)
			if len(h.Seats) > 0 {
				return nil, &inventory.SeatTakenError{Seats: h.Seats}
			}
			return nil, inventory.ErrNotEnough
		}
		return nil, err
	}
	s.notify.TicketsChanged(ctx, hold.EventID, hold.ZoneID, seatStates(hold, inventory.Reserved))
	return hold, nil
}

func (s *Service) undo(ctx context.Context, eventID, holdID string) {
	if err := s.inv.Release(context.WithoutCancel(ctx), eventID, holdID); err != nil {
		s.log.WarnContext(ctx, "undo redis hold", "event", eventID, "hold", holdID, "err", err)
		s.rebuildSoon(eventID)
	}
}

// Mine returns a hold of the fan's, or ErrNotYours.
func (s *Service) Mine(ctx context.Context, holdID, userID string) (*store.Hold, error) {
	h, err := s.store.Hold(ctx, holdID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && h.UserID != userID) {
		return nil, ErrNotYours
	}
	return h, err
}

// Release cancels one of the fan's holds; its tickets are on sale again at once.
func (s *Service) Release(ctx context.Context, holdID, userID string) (*store.Hold, error) {
	if _, err := s.Mine(ctx, holdID, userID); err != nil {
		return nil, err
	}
	return s.end(ctx, holdID, store.HoldReleased)
}

// end ends a hold in PostgreSQL, then in Redis, then tells the fans.
func (s *Service) end(ctx context.Context, holdID, status string) (*store.Hold, error) {
	h, err := s.store.EndHold(ctx, holdID, status)
	if errors.Is(err, store.ErrHoldNotActive) {
		return nil, ErrHoldGone
	}
	if err != nil {
		return nil, err
	}
	if err := s.inv.Release(context.WithoutCancel(ctx), h.EventID, h.ID); err != nil {
		s.log.WarnContext(ctx, "release redis hold", "hold", h.ID, "err", err)
		s.rebuildSoon(h.EventID)
	}
	s.notify.TicketsChanged(ctx, h.EventID, h.ZoneID, seatStates(h, inventory.Available))
	return h, nil
}

// EndSession ends the fan's active holds for the event because the shopping
// session is over: left says the fan chose to leave (holds RELEASED); otherwise
// the session ran out (holds EXPIRED).
func (s *Service) EndSession(ctx context.Context, eventID, userID string, left bool) error {
	ids, err := s.store.ActiveHoldsOfSession(ctx, eventID, userID)
	if err != nil {
		return err
	}
	status := store.HoldExpired
	if left {
		status = store.HoldReleased
	}
	for _, id := range ids {
		if _, err := s.end(ctx, id, status); err != nil && !errors.Is(err, ErrHoldGone) {
			return err
		}
	}
	return nil
}

// ExpireDue puts the tickets of every hold whose time is up back on sale. Safe
// on every replica at once: the database lets one end each hold.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	ids, err := s.store.DueHolds(ctx, s.now(), 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		h, err := s.end(ctx, id, store.HoldExpired)
		if errors.Is(err, ErrHoldGone) {
			continue // another replica got there first
		}
		if err != nil {
			return n, err
		}
		n++
		s.notify.HoldExpired(ctx, h)
	}
	return n, nil
}

// RunExpiry ends due holds every interval until ctx ends.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "expire holds", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func seatStates(h *store.Hold, status string) map[string]string {
	var seats map[string]string
	for _, t := range h.Tickets {
		if t.SeatID == "" {
			continue
		}
		if seats == nil {
			seats = make(map[string]string, len(h.Tickets))
		}
		seats[t.SeatID] = status
	}
	return seats
}

// ensureLoaded rebuilds an event's inventory from PostgreSQL when Redis does not
// have it (a new event, a restart, a flush).
func (s *Service) ensureLoaded(ctx context.Context, eventID string) error {
	ok, err := s.inv.Loaded(ctx, eventID)
	if err != nil || ok {
		return err
	}
	return s.Rebuild(ctx, eventID)
}

// Rebuild replaces the event's Redis inventory with the database's state.
// Concurrent calls for one event share one rebuild: after a flush, a crowd of
// reserves must not each read every ticket.
func (s *Service) Rebuild(ctx context.Context, eventID string) error {
	_, err, _ := s.rebuilds.Do(eventID, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
		snap, err := s.store.InventorySnapshot(ctx, eventID)
		if err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		if err := s.inv.Rebuild(ctx, snap); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		s.log.InfoContext(ctx, "inventory rebuilt from postgres", "event", eventID)
		return nil, nil
	})
	return err
}

// CheckDrift compares Redis with PostgreSQL and repairs Redis when they disagree.
// Holds in flight show as differences for a moment, so a difference must still
// be there on a second look before it is repaired.
func (s *Service) CheckDrift(ctx context.Context, eventID string) (repaired bool, err error) {
	if ok, err := s.inv.Loaded(ctx, eventID); err != nil || !ok {
		if err != nil {
			return false, err
		}
		return true, s.Rebuild(ctx, eventID)
	}
	for look := 0; look < 2; look++ {
		snap, err := s.store.InventorySnapshot(ctx, eventID)
		if err != nil {
			return false, err
		}
		diffs, err := s.inv.Drift(ctx, snap)
		if err != nil || len(diffs) == 0 {
			return false, err
		}
		if look == 1 {
			s.log.WarnContext(ctx, "inventory drifted from postgres", "event", eventID, "differences", diffs)
			return true, s.inv.Rebuild(ctx, snap)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return false, nil
}

// RunDriftCheck checks every event on sale every interval, until ctx ends.
func (s *Service) RunDriftCheck(ctx context.Context, events func(ctx context.Context) ([]string, error), interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids, err := events(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "list events for the drift check", "err", err)
			continue
		}
		for _, id := range ids {
			if _, err := s.CheckDrift(ctx, id); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "drift check", "event", id, "err", err)
			}
		}
	}
}

func (s *Service) rebuildSoon(eventID string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Rebuild(ctx, eventID); err != nil {
			s.log.Warn("rebuild inventory", "event", eventID, "err", err)
		}
	}()
}
