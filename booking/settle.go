package booking

import (
	"context"
	"errors"
	"time"

	"github.com/boxofficehq/boxoffice/payments"
)

// The settler finishes what a request, a webhook or a replica left undone, so
// that every succeeded payment ends as a booking or a refund by the server
// itself, within a bounded time:
//
//   - refunds owed are tried until the provider acknowledges them, with a
//     backoff of 1 s doubling to 1 min (payments.Payment.RefundFailed);
//   - a success that bought nothing for payments.settleAfter (5 s: the fan's
//     own call or the webhook usually settles it first) is booked or refunded;
//   - a pending payment is asked of its provider every minute (a webhook may
//     be lost), and once its holds are gone it is canceled with the provider,
//     so that it can never succeed later.
//
// Every replica runs it, for the payments of its provider; the database hands
// each due payment to one replica at a time, for a lease longer than any
// provider call.

// providerTimeout bounds one provider call of the settler (below the lease).
const providerTimeout = 10 * time.Second

// Outcomes of settling one payment.
const (
	OutcomeBooked   = "booked"
	OutcomeRefunded = "refunded"
	OutcomeOwed     = "refund owed" // the provider did not answer yet; retried
	OutcomeVoided   = "voided"      // never succeeded, its holds are gone
)

// Settled is what the settler did with one payment.
type Settled struct {
	PaymentID, ProviderRef string
	Outcome                string
}

// SettleDue settles the payments due now, up to limit of each kind, and
// returns what it did. Safe on every replica at once.
func (s *Service) SettleDue(ctx context.Context, limit int) ([]Settled, error) {
	refunds, err := s.store.ClaimDueRefunds(ctx, s.provider.Name(), s.now(), limit)
	if err != nil {
		return nil, err
	}
	checks, err := s.store.ClaimDueChecks(ctx, s.provider.Name(), s.now(), limit)
	if err != nil {
		return nil, err
	}
	return s.settleAll(ctx, append(refunds, checks...))
}

// Reconcile settles every payment the settler has yet to finish, due or not:
// `boxoffice payments reconcile`, after an outage or on a schedule.
func (s *Service) Reconcile(ctx context.Context) ([]Settled, error) {
	ps, err := s.store.Unsettled(ctx, s.provider.Name())
	if err != nil {
		return nil, err
	}
	return s.settleAll(ctx, ps)
}

func (s *Service) settleAll(ctx context.Context, ps []*payments.Payment) ([]Settled, error) {
	done := make([]Settled, 0, len(ps))
	var errs []error
	for _, p := range ps {
		outcome, err := s.settleOne(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, Settled{PaymentID: p.ID, ProviderRef: p.ProviderRef, Outcome: outcome})
	}
	return done, errors.Join(errs...)
}

// settleOne moves one payment on as far as it can go now.
func (s *Service) settleOne(ctx context.Context, p *payments.Payment) (string, error) {
	if p.RefundDue {
		return s.refund(ctx, p.ID)
	}
	if p.Status == payments.StatusPending || p.Status == payments.StatusFailed {
		return s.check(ctx, p)
	}
	if p.Unsettled() {
		return s.settleSuccess(ctx, p)
	}
	// Settled meanwhile (a booking, a refund word): nothing left to watch.
	_, err := s.store.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error { p.Checked(s.now()); return nil })
	return p.Status, err
}

// settleSuccess books a success or, if it cannot buy its holds any more,
// refunds it.
func (s *Service) settleSuccess(ctx context.Context, p *payments.Payment) (string, error) {
	_, err := s.settle(ctx, p.ID, "")
	switch {
	case err == nil:
		return OutcomeBooked, nil
	case refused(err):
		fresh, err := s.store.Payment(ctx, p.ID)
		if err != nil {
			return "", err
		}
		if fresh.Status == payments.StatusRefunded {
			return OutcomeRefunded, nil
		}
		return OutcomeOwed, nil
	}
	return "", err
}

// check asks the provider where a payment that has not succeeded stands, and
// cancels it with the provider once its holds are gone, so it never succeeds.
func (s *Service) check(ctx context.Context, p *payments.Payment) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, providerTimeout)
	defer cancel()
	status, err := s.provider.Status(pctx, p.ProviderRef)
	if err != nil {
		return "", err
	}
	bookable := true
	if status == payments.StatusPending || status == payments.StatusFailed {
		if bookable, err = s.bookable(ctx, p); err != nil {
			return "", err
		}
		if !bookable {
			if status, err = s.provider.Cancel(pctx, p.ProviderRef); err != nil {
				return "", err
			}
		}
	}
	p, err = s.store.UpdatePayment(ctx, p.ID, func(p *payments.Payment) error {
		p.Record(status, s.now())
		switch {
		case p.Status != payments.StatusPending && p.Status != payments.StatusFailed:
		case bookable:
			p.Checked(s.now())
		default:
			p.Voided()
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	switch {
	case p.Unsettled():
		return s.settleSuccess(ctx, p)
	case !bookable && p.Status == payments.StatusFailed:
		return OutcomeVoided, nil
	}
	return p.Status, nil
}

// bookable reports whether every hold of the payment could still be bought.
func (s *Service) bookable(ctx context.Context, p *payments.Payment) (bool, error) {
	for _, id := range p.HoldIDs {
		h, err := s.store.Hold(ctx, id)
		if err != nil {
			return false, err
		}
		if !h.BookableAt(s.now()) {
			return false, nil
		}
	}
	return true, nil
}

// refund asks the provider to refund a payment that is owed back, and records
// the answer: refunded, or the failure and when to try again.
func (s *Service) refund(ctx context.Context, paymentID string) (string, error) {
	p, err := s.store.Payment(ctx, paymentID)
	if err != nil {
		return "", err
	}
	if !p.RefundDue {
		return p.Status, nil
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), providerTimeout)
	defer cancel()
	refundErr := s.provider.Refund(pctx, p.ProviderRef, p.RefundKey())
	p, err = s.store.UpdatePayment(context.WithoutCancel(ctx), paymentID, func(p *payments.Payment) error {
		if !p.RefundDue {
			return nil // refunded meanwhile (the provider's word)
		}
		if refundErr != nil {
			p.RefundFailed(refundErr.Error(), s.now())
		} else {
			p.Refunded(s.now())
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if refundErr != nil {
		s.log.WarnContext(ctx, "refund failed; retried later", "payment", paymentID,
			"attempts", p.RefundAttempts, "next", p.RefundNextAt, "err", refundErr)
		return OutcomeOwed, nil
	}
	return OutcomeRefunded, nil
}

// refundNow tries refunds just owed at once, so a fan who cancels sees the
// money back in the answer when the provider is well; whatever fails here the
// settler retries.
func (s *Service) refundNow(ctx context.Context, paymentIDs []string) {
	for _, id := range paymentIDs {
		if _, err := s.refund(ctx, id); err != nil {
			s.log.WarnContext(ctx, "refund", "payment", id, "err", err)
		}
	}
}
