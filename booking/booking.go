// Package booking is the reserve → pay → book → cancel flow. Redis (inventory)
// answers first and fast; PostgreSQL (store) decides; payments take the money.
// It owns the payment's life beyond the provider: every succeeded payment ends,
// by the server itself, as a booking or a refund (see settle.go).
package booking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
	// ErrPaymentMismatch is a payment that does not buy this reservation: it is
	// for another one, or the reservation was bought with another payment (and
	// this one is refunded).
	ErrPaymentMismatch = errors.New("the payment does not buy this reservation")
	// ErrPaymentInProgress is a payment asked for reservations some of which
	// another payment is paying for now.
	ErrPaymentInProgress = errors.New("another payment for some of these reservations is in progress")
	// ErrNotYours is anything that belongs to another fan; callers answer as for
	// something that does not exist.
	ErrNotYours = errors.New("not found")
	// ErrRefunded is a payment that succeeded after its hold was gone: it is
	// refunded and no tickets were sold.
	ErrRefunded = errors.New("the reservation ended before the payment succeeded; the payment is refunded")
)

// Store is what booking needs from PostgreSQL; *store.DB satisfies it.
type Store interface {
	CreateHold(ctx context.Context, n store.NewHold) (*store.Hold, error)
	Hold(ctx context.Context, id string) (*store.Hold, error)
	Holds(ctx context.Context, ids []string) ([]*store.Hold, error)
	EndHold(ctx context.Context, id, status string) (*store.Hold, []string, error)
	DueHolds(ctx context.Context, now time.Time, limit int) ([]string, error)
	ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error)
	UnpaidHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error)
	KnownHolds(ctx context.Context, ids []string) (map[string]bool, error)
	CreatePayment(ctx context.Context, p *payments.Payment, now time.Time) error
	Payment(ctx context.Context, id string) (*payments.Payment, error)
	PaymentWithBooking(ctx context.Context, id string) (*payments.Payment, *store.Booking, error)
	PaymentByRef(ctx context.Context, provider, ref string) (*payments.Payment, error)
	PaymentsOf(ctx context.Context, userID string) ([]*payments.Payment, error)
	UpdatePayment(ctx context.Context, id string, change func(p *payments.Payment) error) (*payments.Payment, error)
	ClaimDueRefunds(ctx context.Context, provider string, now time.Time, limit int) ([]*payments.Payment, error)
	ClaimDueChecks(ctx context.Context, provider string, now time.Time, limit int) ([]*payments.Payment, error)
	Unsettled(ctx context.Context, provider string) ([]*payments.Payment, error)
	Book(ctx context.Context, paymentID, status string, now time.Time) (store.Settlement, error)
	Booking(ctx context.Context, id string) (*store.Booking, error)
	CancelBooking(ctx context.Context, id string) (*store.Booking, error)
	InventorySnapshot(ctx context.Context, eventID string) (*inventory.Snapshot, error)
}

// Inventory is what booking needs from Redis; *inventory.Inventory satisfies it.
type Inventory interface {
	HoldSeats(ctx context.Context, r inventory.HoldRequest) (*inventory.Hold, error)
	HoldQuantity(ctx context.Context, r inventory.HoldRequest) (*inventory.Hold, error)
	HoldBest(ctx context.Context, r inventory.HoldRequest) (*inventory.Hold, error)
	Release(ctx context.Context, eventID, holdID string) error
	MarkBooked(ctx context.Context, eventID, holdID string) error
	ReleaseBooking(ctx context.Context, r inventory.BookingRelease) error
	Unconfirmed(ctx context.Context, eventID string, until time.Time, limit int) (map[string]string, error)
	Confirm(ctx context.Context, eventID string, holdIDs []string) error
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
// Its passes (ExpireDue, SettleDue, ReapPhantoms, CheckDrift, Repair) are run
// on a schedule by their owner (app).
type Service struct {
	rebuilds singleflight.Group // one rebuild per event at a time per replica
	mu       sync.Mutex
	repairs  map[string]bool // events whose Redis inventory was found wrong
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

// holdWriteTimeout bounds the database write of a hold Redis decided. A hold
// still unconfirmed well after it (phantomAfter) was lost with its replica.
const (
	holdWriteTimeout = 5 * time.Second
	phantomAfter     = 2 * holdWriteTimeout
)

// Reserve holds the tickets: Redis decides at once (taken seats, limits, the
// session), then PostgreSQL records the hold; if the database refuses, the Redis
// hold is undone and the database's word stands.
func (s *Service) Reserve(ctx context.Context, r Request) (*store.Hold, error) {
	if err := s.ensureLoaded(ctx, r.Event.ID); err != nil {
		return nil, err
	}
	req := inventory.HoldRequest{EventID: r.Event.ID, ZoneID: r.ZoneID, UserID: r.UserID, HoldID: store.NewID("hld"),
		Seats: r.Seats, Quantity: r.Quantity, MaxPerUser: r.Event.MaxTicketsPerUser}
	var (
		h   *inventory.Hold
		err error
	)
	switch {
	case len(r.Seats) > 0:
		h, err = s.inv.HoldSeats(ctx, req)
	case r.BestAvailable:
		h, err = s.inv.HoldBest(ctx, req)
	default:
		h, err = s.inv.HoldQuantity(ctx, req)
	}
	if err != nil {
		return nil, err
	}
	n := store.NewHold{ID: h.ID, EventID: r.Event.ID, ZoneID: r.ZoneID, UserID: r.UserID,
		SessionID: r.SessionID, ExpiresAt: r.Until}
	if len(h.Seats) > 0 {
		n.Seats = h.Seats
	} else {
		n.Quantity = h.Quantity
	}
	// Not the caller's context: a fan who goes away must not leave a Redis hold
	// without its row. Bounded, so that the phantom reaper never frees a hold
	// whose write is still running.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holdWriteTimeout)
	hold, err := s.store.CreateHold(wctx, n)
	cancel()
	if err != nil {
		s.undo(ctx, r.Event.ID, h.ID)
		switch {
		case errors.Is(err, store.ErrTicketsTaken):
			// Redis thought them free: it has drifted from the truth. Repair it.
			s.rebuildSoon(r.Event.ID)
			if len(h.Seats) > 0 {
				return nil, &inventory.SeatTakenError{Seats: h.Seats}
			}
			return nil, inventory.ErrNotEnough
		case errors.Is(err, store.ErrLimitReached):
			s.rebuildSoon(r.Event.ID) // Redis's count of the fan's tickets drifted
			return nil, fmt.Errorf("%w: %w", inventory.ErrLimitReached, err)
		}
		return nil, err
	}
	s.notify.TicketsChanged(ctx, hold.EventID, hold.ZoneID, seatStates(hold.Tickets, inventory.Reserved))
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

// Release cancels one of the fan's holds; its tickets are on sale again at once
// and a payment that already succeeded for it is refunded.
func (s *Service) Release(ctx context.Context, holdID, userID string) (*store.Hold, error) {
	if _, err := s.Mine(ctx, holdID, userID); err != nil {
		return nil, err
	}
	h, refunds, err := s.end(ctx, holdID, store.HoldReleased)
	if err != nil {
		return nil, err
	}
	s.refundNow(ctx, refunds)
	return h, nil
}

// end ends a hold in PostgreSQL (which records any refund it owes), then in
// Redis, then tells the fans. It returns the refunds owed.
func (s *Service) end(ctx context.Context, holdID, status string) (*store.Hold, []string, error) {
	h, refunds, err := s.store.EndHold(context.WithoutCancel(ctx), holdID, status)
	if errors.Is(err, store.ErrHoldNotActive) {
		return nil, nil, ErrHoldGone
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.inv.Release(context.WithoutCancel(ctx), h.EventID, h.ID); err != nil {
		s.log.WarnContext(ctx, "release redis hold", "hold", h.ID, "err", err)
		s.rebuildSoon(h.EventID)
	}
	s.notify.TicketsChanged(ctx, h.EventID, h.ZoneID, seatStates(h.Tickets, inventory.Available))
	return h, refunds, nil
}

// EndSession ends the fan's active holds for the event because the shopping
// session is over. left says the fan chose to leave: every hold is RELEASED
// and a payment that succeeded for one is refunded. Otherwise the session ran
// out: holds with no payment in progress are EXPIRED now, and the others get
// the event's payment grace (the expiry loop ends them after it).
func (s *Service) EndSession(ctx context.Context, eventID, userID string, left bool) error {
	list, status := s.store.UnpaidHoldsOfSession, store.HoldExpired
	if left {
		list, status = s.store.ActiveHoldsOfSession, store.HoldReleased
	}
	ids, err := list(ctx, eventID, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		h, refunds, err := s.end(ctx, id, status)
		if errors.Is(err, ErrHoldGone) {
			continue
		}
		if err != nil {
			return err
		}
		if status == store.HoldExpired {
			s.notify.HoldExpired(ctx, h)
		}
		s.refundNow(ctx, refunds)
	}
	return nil
}

// ExpireDue puts the tickets of every hold whose time is up back on sale. Safe
// on every replica at once: the database lets one end each hold. Refunds the
// expiries owe are left to the settler, so that a slow provider never holds
// tickets back.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	ids, err := s.store.DueHolds(ctx, s.now(), 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		h, _, err := s.end(ctx, id, store.HoldExpired)
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

// ReapPhantoms frees the event's holds that Redis decided and the database
// never recorded, because the replica between the two died: unconfirmed long
// after their write could have finished. Holds the database has are confirmed.
func (s *Service) ReapPhantoms(ctx context.Context, eventID string) (freed int, err error) {
	zones, err := s.inv.Unconfirmed(ctx, eventID, s.now().Add(-phantomAfter), 500)
	if err != nil || len(zones) == 0 {
		return 0, err
	}
	ids := make([]string, 0, len(zones))
	for id := range zones {
		ids = append(ids, id)
	}
	known, err := s.store.KnownHolds(ctx, ids)
	if err != nil {
		return 0, err
	}
	var confirmed []string
	for id, zone := range zones {
		if known[id] {
			confirmed = append(confirmed, id)
			continue
		}
		if err := s.inv.Release(ctx, eventID, id); err != nil {
			return freed, err
		}
		freed++
		s.log.WarnContext(ctx, "freed a hold the database never recorded", "event", eventID, "hold", id)
		if zone != "" {
			s.notify.TicketsChanged(ctx, eventID, zone, nil)
		}
	}
	return freed, s.inv.Confirm(ctx, eventID, confirmed)
}

// seatStates is a seat.update's seats: each seated ticket's id → status, as
// the live message carries them; nil for a pool.
func seatStates(tickets []store.HoldTicket, status inventory.TicketStatus) map[string]string {
	var seats map[string]string
	for _, t := range tickets {
		if t.SeatID == "" {
			continue
		}
		if seats == nil {
			seats = make(map[string]string, len(tickets))
		}
		seats[t.SeatID] = string(status)
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
		if err := s.rebuild(ctx, snap); err != nil {
			return nil, fmt.Errorf("rebuild %s: %w", eventID, err)
		}
		s.log.InfoContext(ctx, "inventory rebuilt from postgres", "event", eventID)
		return nil, nil
	})
	return err
}

// rebuild replaces Redis's inventory with snap and tells watchers every
// zone's count: what changed while Redis was away or wrong (bookings settled
// in PostgreSQL alone, say) was never announced, and their pages still show
// the counts from before.
func (s *Service) rebuild(ctx context.Context, snap *inventory.Snapshot) error {
	if err := s.inv.Rebuild(ctx, snap); err != nil {
		return err
	}
	for _, z := range snap.Zones {
		s.notify.TicketsChanged(ctx, snap.EventID, z.ID, nil)
	}
	return nil
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
	var first map[string]bool
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
			// Only what both looks saw: on a busy sale each look catches other
			// holds in flight, and rebuilding for them would be work for nothing.
			still := slices.DeleteFunc(diffs, func(d string) bool { return !first[d] })
			if len(still) == 0 {
				return false, nil
			}
			s.log.WarnContext(ctx, "inventory drifted from postgres", "event", eventID, "differences", still)
			return true, s.rebuild(ctx, snap)
		}
		first = make(map[string]bool, len(diffs))
		for _, d := range diffs {
			first[d] = true
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return false, nil
}

// rebuildSoon marks the event's Redis inventory as wrong, for Repair to rebuild:
// the request that found it out does not wait for the rebuild.
func (s *Service) rebuildSoon(eventID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.repairs == nil {
		s.repairs = map[string]bool{}
	}
	s.repairs[eventID] = true
}

// Repair rebuilds the events marked as wrong since the last call; one that
// fails stays marked for the next.
func (s *Service) Repair(ctx context.Context) error {
	s.mu.Lock()
	due := s.repairs
	s.repairs = nil
	s.mu.Unlock()
	var errs []error
	for id := range due {
		if err := s.Rebuild(ctx, id); err != nil {
			s.rebuildSoon(id)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
