package booking

import (
	"context"
	"errors"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

// Pay starts a payment for one of the fan's active holds.
func (s *Service) Pay(ctx context.Context, holdID, userID string) (*store.Payment, error) {
	h, err := s.Mine(ctx, holdID, userID)
	if err != nil {
		return nil, err
	}
	if h.Status != store.HoldActive {
		return nil, ErrHoldGone
	}
	p := &store.Payment{ID: store.NewID("pay"), HoldID: h.ID, UserID: userID, Provider: s.provider.Name(),
		AmountCents: h.AmountCents, Currency: h.Currency, Status: store.PaymentPending}
	intent, err := s.provider.Create(ctx, payments.Charge{PaymentID: p.ID, HoldID: h.ID, UserID: userID,
		AmountCents: h.AmountCents, Currency: h.Currency})
	if err != nil {
		return nil, err
	}
	p.ProviderRef, p.ClientSecret = intent.Ref, intent.ClientSecret
	if err := s.store.CreatePayment(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// myPayment returns a payment of the fan's, or ErrNotYours.
func (s *Service) myPayment(ctx context.Context, paymentID, userID string) (*store.Payment, error) {
	p, err := s.store.Payment(ctx, paymentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.UserID != userID) {
		return nil, ErrNotYours
	}
	return p, err
}

// Confirm pays with a test card (the test provider only).
func (s *Service) Confirm(ctx context.Context, paymentID, userID, card string) (*store.Payment, error) {
	p, err := s.myPayment(ctx, paymentID, userID)
	if err != nil {
		return nil, err
	}
	if p.Status == store.PaymentSucceeded || p.Status == store.PaymentRefunded {
		return p, nil // a double click pays once
	}
	if _, err := s.provider.Confirm(ctx, p.ProviderRef, card); err != nil && !errors.Is(err, payments.ErrDeclined) {
		return nil, err
	}
	return s.store.Payment(ctx, paymentID)
}

// Book turns a paid hold into a booking. The provider must say the payment
// succeeded. Idempotent on the payment: the same booking comes back. A payment
// that succeeded after its hold was gone is refunded (ErrRefunded): nothing is
// ever charged without tickets.
func (s *Service) Book(ctx context.Context, holdID, paymentID, userID string) (*store.Booking, error) {
	h, err := s.Mine(ctx, holdID, userID)
	if err != nil {
		return nil, err
	}
	p, err := s.myPayment(ctx, paymentID, userID)
	if err != nil {
		return nil, err
	}
	if p.HoldID != h.ID {
		return nil, ErrPaymentMismatch
	}
	status, err := s.provider.Status(ctx, p.ProviderRef)
	if err != nil {
		return nil, err
	}
	switch status {
	case store.PaymentSucceeded:
	case store.PaymentRefunded:
		return nil, ErrRefunded
	default:
		return nil, ErrNotPaid
	}
	if p.Status != status {
		if p, err = s.store.SetPaymentStatus(ctx, p.ID, status); err != nil {
			return nil, err
		}
	}
	return s.book(ctx, h, p)
}

// book sells a hold whose payment succeeded. The database decides once: a
// second call for the same payment gets the same booking; a hold that is gone
// gets its payment refunded.
func (s *Service) book(ctx context.Context, h *store.Hold, p *store.Payment) (*store.Booking, error) {
	b, err := s.store.Book(context.WithoutCancel(ctx), h.ID, p.ID)
	switch {
	case errors.Is(err, store.ErrHoldNotActive), errors.Is(err, store.ErrHoldBooked):
		// Gone, or already sold with another payment of the fan's: this money
		// buys nothing, so it goes back.
		return nil, s.refund(ctx, p)
	case err != nil:
		return nil, err
	}
	if err := s.inv.MarkBooked(context.WithoutCancel(ctx), h.EventID, h.ID); err != nil {
		s.log.WarnContext(ctx, "mark redis hold booked", "hold", h.ID, "err", err)
		s.rebuildSoon(h.EventID)
	}
	s.notify.TicketsChanged(ctx, h.EventID, h.ZoneID, seatStates(h, inventory.Booked))
	return b, nil
}

// Settle acts on a provider's word (a signed webhook) that a payment changed:
// succeeded books the hold without the fan coming back (or refunds, if the hold
// is gone); failed leaves the hold until it expires; refunded is recorded. A
// payment only moves forward, so late and repeated words change nothing.
func (s *Service) Settle(ctx context.Context, provider, ref, status string) error {
	p, err := s.store.PaymentByRef(ctx, provider, ref)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadText) {
		return nil // not ours (another integration on the same account)
	}
	if err != nil {
		return err
	}
	if p, err = s.store.SetPaymentStatus(ctx, p.ID, status); err != nil {
		return err
	}
	if status != store.PaymentSucceeded || p.Status != store.PaymentSucceeded {
		return nil
	}
	h, err := s.store.Hold(ctx, p.HoldID)
	if err != nil {
		return err
	}
	if _, err = s.book(ctx, h, p); errors.Is(err, ErrRefunded) {
		return nil // settled by a refund
	}
	return err
}

// Settled is what the reconciliation did with one payment.
type Settled struct {
	PaymentID, ProviderRef string
	Outcome                string // "booked" or "refunded"
}

// Reconcile asks the provider about every payment without a booking that
// succeeded or is still pending (a lost webhook), and settles those that
// succeeded: booked while their hold is active, refunded otherwise.
func (s *Service) Reconcile(ctx context.Context) ([]Settled, error) {
	ps, err := s.store.UnsettledPayments(ctx, s.provider.Name())
	if err != nil {
		return nil, err
	}
	var done []Settled
	for _, p := range ps {
		status, err := s.provider.Status(ctx, p.ProviderRef)
		if err != nil {
			return done, err
		}
		if status != store.PaymentSucceeded {
			if status == store.PaymentFailed || status == store.PaymentRefunded {
				if _, err := s.store.SetPaymentStatus(ctx, p.ID, status); err != nil {
					return done, err
				}
			}
			continue
		}
		if p.Status != status {
			if p, err = s.store.SetPaymentStatus(ctx, p.ID, status); err != nil {
				return done, err
			}
		}
		h, err := s.store.Hold(ctx, p.HoldID)
		if err != nil {
			return done, err
		}
		outcome := "booked"
		if _, err := s.book(ctx, h, p); errors.Is(err, ErrRefunded) {
			outcome = "refunded"
		} else if err != nil {
			return done, err
		}
		done = append(done, Settled{PaymentID: p.ID, ProviderRef: p.ProviderRef, Outcome: outcome})
	}
	return done, nil
}

// refund gives back a payment whose hold is gone, and says so.
func (s *Service) refund(ctx context.Context, p *store.Payment) error {
	if p.Status != store.PaymentRefunded {
		if err := s.provider.Refund(context.WithoutCancel(ctx), p.ProviderRef); err != nil {
			return err
		}
		if _, err := s.store.SetPaymentStatus(context.WithoutCancel(ctx), p.ID, store.PaymentRefunded); err != nil {
			return err
		}
	}
	return ErrRefunded
}

// MyBooking returns a booking of the fan's, or ErrNotYours.
func (s *Service) MyBooking(ctx context.Context, bookingID, userID string) (*store.Booking, error) {
	b, err := s.store.Booking(ctx, bookingID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.UserID != userID) {
		return nil, ErrNotYours
	}
	return b, err
}

// CancelBooking cancels one of the fan's bookings, refunds it and puts the
// tickets back on sale at once.
func (s *Service) CancelBooking(ctx context.Context, bookingID, userID string) (*store.Booking, error) {
	if _, err := s.MyBooking(ctx, bookingID, userID); err != nil {
		return nil, err
	}
	b, err := s.store.CancelBooking(context.WithoutCancel(ctx), bookingID)
	if err != nil {
		return nil, err
	}
	if err := s.refundBooking(ctx, b); err != nil {
		// The tickets are back on sale either way; the reconciliation finds
		// a payment left unrefunded.
		s.log.ErrorContext(ctx, "refund cancelled booking", "booking", b.ID, "err", err)
	}
	seats := make([]string, 0, len(b.Tickets))
	for _, t := range b.Tickets {
		if t.SeatID != "" {
			seats = append(seats, t.SeatID)
		}
	}
	if err := s.inv.ReleaseBooking(context.WithoutCancel(ctx), b.EventID, b.ID, b.ZoneID, b.UserID, seats, len(b.Tickets)); err != nil {
		s.log.WarnContext(ctx, "release redis booking", "booking", b.ID, "err", err)
		s.rebuildSoon(b.EventID)
	}
	h := &store.Hold{Tickets: b.Tickets}
	s.notify.TicketsChanged(ctx, b.EventID, b.ZoneID, seatStates(h, inventory.Available))
	return b, nil
}

func (s *Service) refundBooking(ctx context.Context, b *store.Booking) error {
	ctx = context.WithoutCancel(ctx)
	p, err := s.store.Payment(ctx, b.PaymentID)
	if err != nil {
		return err
	}
	if err := s.provider.Refund(ctx, p.ProviderRef); err != nil {
		return err
	}
	_, err = s.store.SetPaymentStatus(ctx, p.ID, store.PaymentRefunded)
	return err
}
