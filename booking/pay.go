package booking

import (
	"context"
	"errors"
	"slices"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

// MaxHoldsPerPayment bounds one checkout: a fan's holds in one event, well
// past any per-fan ticket limit.
const MaxHoldsPerPayment = 20

// Checkout is a payment and what the payment page needs to pay it.
type Checkout struct {
	Payment      *payments.Payment
	ClientSecret string
	// Created is false when a live payment for the same holds existed and is
	// returned instead of a second one.
	Created bool
}

// Pay starts one payment for one or more of the fan's active holds in one
// event. A hold has at most one live payment: asking again for the same holds
// returns the payment in progress; asking for holds of which only some have
// one is ErrPaymentInProgress.
func (s *Service) Pay(ctx context.Context, userID string, holdIDs []string) (*Checkout, error) {
	holds, err := s.store.Holds(ctx, holdIDs)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*store.Hold, len(holds))
	for _, h := range holds {
		byID[h.ID] = h
	}
	var total int64
	for _, id := range holdIDs {
		h := byID[id]
		if h == nil || h.UserID != userID {
			return nil, ErrNotYours
		}
		if h.Status != store.HoldActive || !s.now().Before(h.ExpiresAt) {
			return nil, ErrHoldGone
		}
		if h.EventID != holds[0].EventID {
			return nil, ErrPaymentMismatch
		}
		total += h.AmountCents
	}
	if len(holdIDs) == 0 {
		return nil, ErrNotYours
	}
	p := payments.NewPayment(store.NewID("pay"), holds[0].EventID, userID, s.provider.Name(), holdIDs, total, holds[0].Currency, s.now())
	intent, err := s.provider.Create(ctx, payments.Charge{PaymentID: p.ID, EventID: p.EventID, HoldIDs: holdIDs,
		UserID: userID, AmountCents: total, Currency: p.Currency})
	if err != nil {
		return nil, err
	}
	p.ProviderRef = intent.Ref
	err = s.store.CreatePayment(ctx, p, s.now())
	var live *store.LivePaymentError
	switch {
	case errors.As(err, &live):
		// The intent just made is never shown to the fan, so never paid.
		if !sameHolds(live.Payment.HoldIDs, holdIDs) {
			return nil, ErrPaymentInProgress
		}
		secret, err := s.provider.ClientSecret(ctx, live.Payment.ProviderRef)
		if err != nil {
			return nil, err
		}
		return &Checkout{Payment: live.Payment, ClientSecret: secret}, nil
	case errors.Is(err, store.ErrHoldNotActive):
		return nil, ErrHoldGone
	case err != nil:
		return nil, err
	}
	return &Checkout{Payment: p, ClientSecret: intent.ClientSecret, Created: true}, nil
}

func sameHolds(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// MyPayment returns a payment of the fan's, or ErrNotYours.
func (s *Service) MyPayment(ctx context.Context, paymentID, userID string) (*payments.Payment, error) {
	p, err := s.store.Payment(ctx, paymentID)
	if err := mine(p, err, userID); err != nil {
		return nil, err
	}
	return p, nil
}

// mine is the error of a payment read for userID: ErrNotYours when there is
// no such payment or it is another fan's.
func mine(p *payments.Payment, err error, userID string) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadText) || (err == nil && p.UserID != userID) {
		return ErrNotYours
	}
	return err
}

// ClientSecret is what the payment page needs to pay p; the provider keeps it.
func (s *Service) ClientSecret(ctx context.Context, p *payments.Payment) (string, error) {
	return s.provider.ClientSecret(ctx, p.ProviderRef)
}

// MyPayments lists the fan's payments, newest first.
func (s *Service) MyPayments(ctx context.Context, userID string) ([]*payments.Payment, error) {
	return s.store.PaymentsOf(ctx, userID)
}

// DeclinedError is a card the provider declined for a payment, which is left
// failed: the fan may pay it with another card. errors.Is(err,
// payments.ErrDeclined) holds.
type DeclinedError struct{ PaymentID string }

func (e *DeclinedError) Error() string {
	return "payment " + e.PaymentID + ": " + payments.ErrDeclined.Error()
}

// Is makes the error match payments.ErrDeclined, for callers that need no payment.
func (e *DeclinedError) Is(target error) bool { return target == payments.ErrDeclined }

// Confirm pays with a test card (the test provider only) and settles the
// payment at once, in the transaction that records the success: its holds are
// booked, or, if they are gone, it is refunded. A declined card is a
// *DeclinedError. A payment settled before is answered as it is, so a double
// click pays once; a second click that finds the payment succeeded but not yet
// booked settles it too (the database books once, and the other click waits
// for it), so both clicks are answered with the booking.
func (s *Service) Confirm(ctx context.Context, paymentID, userID, card string) (*payments.Payment, error) {
	p, err := s.MyPayment(ctx, paymentID, userID)
	if err != nil {
		return nil, err
	}
	if p.BookingID != "" || p.RefundDue || p.Status == payments.StatusRefunded {
		return p, nil
	}
	status := ""
	if p.Status != payments.StatusSucceeded {
		if status, err = s.provider.Confirm(ctx, p.ProviderRef, card); err != nil && !errors.Is(err, payments.ErrDeclined) {
			return nil, err
		}
	}
	st, err := s.settle(ctx, p.ID, status)
	switch {
	case errors.Is(err, ErrNotPaid) && st.Payment.Status == payments.StatusFailed:
		return nil, &DeclinedError{PaymentID: p.ID}
	case refused(err):
		return s.store.Payment(ctx, p.ID) // as the refund tried at once left it
	case err != nil && !errors.Is(err, ErrNotPaid):
		return nil, err
	}
	return st.Payment, nil
}

// Book turns a paid hold into a booking, or returns the booking its payment
// bought already: idempotent on the payment. The provider is asked when we do
// not know of the success yet. A payment that cannot buy the hold any more is
// refunded: ErrRefunded when the hold ended first, ErrPaymentMismatch when
// another payment bought it.
func (s *Service) Book(ctx context.Context, holdID, paymentID, userID string) (*store.Booking, error) {
	p, b, err := s.store.PaymentWithBooking(ctx, paymentID)
	if err = mine(p, err, userID); err != nil || !slices.Contains(p.HoldIDs, holdID) {
		// The reservation's own answer comes first: not yours, then the payment's.
		if _, herr := s.Mine(ctx, holdID, userID); herr != nil {
			return nil, herr
		}
		if err != nil {
			return nil, err
		}
		return nil, ErrPaymentMismatch
	}
	if b != nil {
		return b, nil
	}
	status := ""
	if p.Status == payments.StatusPending || p.Status == payments.StatusFailed {
		if status, err = s.provider.Status(ctx, p.ProviderRef); err != nil {
			return nil, err
		}
	}
	st, err := s.settle(ctx, p.ID, status)
	if err != nil {
		return nil, err
	}
	return st.Booking, nil
}

// settle records the provider's word on a payment, if there is a new one, and
// settles it in the same transaction: a success books its holds, or, when it
// cannot buy them any more, is owed back (and the refund tried at once). Safe
// to call from every replica at once: the database settles once. The
// settlement carries the payment unless the error is the database's.
func (s *Service) settle(ctx context.Context, paymentID, status string) (store.Settlement, error) {
	st, err := s.store.Book(context.WithoutCancel(ctx), paymentID, status, s.now())
	switch {
	case errors.Is(err, store.ErrHoldBooked):
		s.refundNow(ctx, []string{paymentID})
		return st, ErrPaymentMismatch
	case errors.Is(err, store.ErrHoldNotActive):
		s.refundNow(ctx, []string{paymentID})
		return st, ErrRefunded
	case errors.Is(err, payments.ErrSettled):
		// Owed back or refunded already (a refund word, or another replica);
		// say why, as the first answer did.
		if s.boughtElsewhere(ctx, st.Payment) {
			return st, ErrPaymentMismatch
		}
		return st, ErrRefunded
	case errors.Is(err, payments.ErrNotSucceeded):
		return st, ErrNotPaid
	case err != nil:
		return st, err
	}
	if st.New {
		s.booked(ctx, st.Booking)
	}
	return st, nil
}

// refused reports a settlement that ended in a refund, not in an error.
func refused(err error) bool {
	return errors.Is(err, ErrRefunded) || errors.Is(err, ErrPaymentMismatch)
}

// boughtElsewhere reports whether one of the payment's holds was bought with another payment.
func (s *Service) boughtElsewhere(ctx context.Context, p *payments.Payment) bool {
	for _, id := range p.HoldIDs {
		h, err := s.store.Hold(ctx, id)
		if err == nil && h.BookingID != "" && h.BookingID != p.BookingID {
			return true
		}
	}
	return false
}

// booked reflects a new booking in Redis and tells the fans.
func (s *Service) booked(ctx context.Context, b *store.Booking) {
	ctx = context.WithoutCancel(ctx)
	for _, id := range b.HoldIDs {
		if err := s.inv.MarkBooked(ctx, b.EventID, id); err != nil {
			s.log.WarnContext(ctx, "mark redis hold booked", "hold", id, "err", err)
			s.rebuildSoon(b.EventID)
		}
	}
	for zone, tickets := range byZone(b.Tickets) {
		s.notify.TicketsChanged(ctx, b.EventID, zone, seatStates(tickets, inventory.Booked))
	}
}

func byZone(tickets []store.HoldTicket) map[string][]store.HoldTicket {
	out := map[string][]store.HoldTicket{}
	for _, t := range tickets {
		out[t.ZoneID] = append(out[t.ZoneID], t)
	}
	return out
}

// Settle acts on a provider's word (a signed webhook) that a payment changed:
// succeeded books its holds without the fan coming back (or refunds, if they
// are gone); failed leaves the holds until they end; refunded is recorded. A
// payment only moves forward, so late and repeated words change nothing.
func (s *Service) Settle(ctx context.Context, provider, ref, status string) error {
	p, err := s.store.PaymentByRef(ctx, provider, ref)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadText) {
		return nil // not ours (another integration on the same account)
	}
	if err != nil {
		return err
	}
	if _, err := s.settle(ctx, p.ID, status); err != nil && !refused(err) && !errors.Is(err, ErrNotPaid) {
		return err
	}
	return nil
}

// MyBooking returns a booking of the fan's, or ErrNotYours.
func (s *Service) MyBooking(ctx context.Context, bookingID, userID string) (*store.Booking, error) {
	b, err := s.store.Booking(ctx, bookingID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.UserID != userID) {
		return nil, ErrNotYours
	}
	return b, err
}

// CancelBooking cancels one of the fan's bookings: its tickets are on sale again
// at once, and its payment is owed back in the same transaction, refunded now
// if the provider answers, or by the settler as soon as it does.
func (s *Service) CancelBooking(ctx context.Context, bookingID, userID string) (*store.Booking, error) {
	if _, err := s.MyBooking(ctx, bookingID, userID); err != nil {
		return nil, err
	}
	b, err := s.store.CancelBooking(context.WithoutCancel(ctx), bookingID)
	if err != nil {
		return nil, err
	}
	s.refundNow(ctx, []string{b.PaymentID})
	ctx = context.WithoutCancel(ctx)
	for zone, tickets := range byZone(b.Tickets) {
		r := inventory.BookingRelease{EventID: b.EventID, BookingID: b.ID, ZoneID: zone, UserID: b.UserID}
		if seats := seatStates(tickets, ""); len(seats) > 0 {
			for seat := range seats {
				r.Seats = append(r.Seats, seat)
			}
		} else {
			r.Quantity = len(tickets)
		}
		if err := s.inv.ReleaseBooking(ctx, r); err != nil {
			s.log.WarnContext(ctx, "release redis booking", "booking", b.ID, "zone", zone, "err", err)
			s.rebuildSoon(b.EventID)
		}
		s.notify.TicketsChanged(ctx, b.EventID, zone, seatStates(tickets, inventory.Available))
	}
	return b, nil
}
