package payments

import (
	"errors"
	"strconv"
	"time"
)

// Payment is one charge for one or more holds of a fan in one event. Its life is
// the state machine below (docs/PAYMENTS.md draws it); the store applies these
// methods inside a transaction that locks the payment's row, so two replicas
// never move one payment two ways.
//
// The promise it keeps: a succeeded payment ends, by the server itself, as
// exactly one booking or as a refund. A refund owed (RefundDue) is recorded in
// the same transaction as the change that owes it, and stays owed until the
// provider acknowledges it.
type Payment struct {
	ID          string
	EventID     string
	UserID      string
	HoldIDs     []string // in the order the fan gave them; the first is the "reservation"
	Provider    string
	ProviderRef string
	AmountCents int64
	Currency    string
	Status      string // StatusPending, StatusSucceeded, StatusFailed or StatusRefunded

	BookingID string // the booking it paid for, if any (read from the booking)

	RefundDue      bool
	RefundAttempts int
	RefundNextAt   time.Time // when the next refund attempt is due
	RefundError    string    // the last attempt's failure, for operators
	// CheckAt is when the settler next looks at a payment that is not settled
	// yet (pending, or succeeded without a booking); zero once settled.
	CheckAt     time.Time
	SucceededAt time.Time
	RefundedAt  time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

var (
	// ErrNotSucceeded is a payment that cannot buy anything (yet): pending or failed.
	ErrNotSucceeded = errors.New("the payment has not succeeded")
	// ErrSettled is a payment that already bought a booking or is being refunded.
	ErrSettled = errors.New("the payment is settled already")
)

// How long a success may stay without a booking or a refund before the
// settler takes it up, and how often a pending payment is asked of its provider.
const (
	settleAfter = 5 * time.Second
	checkEvery  = time.Minute
	// maxRefundBackoff caps the wait between refund attempts in a long outage.
	maxRefundBackoff = time.Minute
)

// NewPayment is a pending payment for the holds, looked at by the settler
// if nobody settles it first.
func NewPayment(id, eventID, userID, provider string, holdIDs []string, amountCents int64, currency string, now time.Time) *Payment {
	return &Payment{ID: id, EventID: eventID, UserID: userID, HoldIDs: holdIDs, Provider: provider,
		AmountCents: amountCents, Currency: currency, Status: StatusPending, CheckAt: now.Add(checkEvery)}
}

// Live reports whether the payment may still buy its holds: pending, or
// succeeded and neither booked nor owed back. A hold has at most one live payment.
func (p *Payment) Live() bool {
	return p.Status == StatusPending || (p.Status == StatusSucceeded && !p.RefundDue && p.BookingID == "")
}

// Unsettled reports a success that has bought nothing and is not being refunded:
// the server must book it or refund it.
func (p *Payment) Unsettled() bool {
	return p.Status == StatusSucceeded && !p.RefundDue && p.BookingID == ""
}

// Record applies the provider's word (pending, succeeded, failed, refunded). A
// payment only moves forward: a success is never undone by a late "failed", a
// refund is final, and a failed card may still be paid (Stripe lets the fan try
// another card on the same intent). It reports whether anything changed.
func (p *Payment) Record(status string, now time.Time) bool {
	switch {
	case status == p.Status, p.Status == StatusRefunded:
		return false
	case status == StatusSucceeded:
		p.Status, p.SucceededAt = StatusSucceeded, now
		if p.BookingID == "" {
			p.CheckAt = now.Add(settleAfter)
		}
		return true
	case status == StatusFailed && p.Status == StatusPending:
		p.Status = StatusFailed
		return true
	case status == StatusRefunded:
		p.refunded(now)
		return true
	}
	return false
}

// Booked records the booking the payment bought.
func (p *Payment) Booked(bookingID string) error {
	if p.Status != StatusSucceeded {
		return ErrNotSucceeded
	}
	if !p.Unsettled() {
		return ErrSettled
	}
	p.BookingID, p.CheckAt = bookingID, time.Time{}
	return nil
}

// OweRefund records that the money must go back: the booking was cancelled, the
// holds were gone before it could be booked, or another payment bought them. A
// payment that never succeeded owes nothing; one owed or refunded already, no more.
func (p *Payment) OweRefund(now time.Time) bool {
	if p.Status != StatusSucceeded || p.RefundDue {
		return false
	}
	p.RefundDue, p.RefundNextAt, p.CheckAt = true, now, time.Time{}
	return true
}

// RefundFailed records a failed attempt and when to try again: the wait doubles
// from a second, up to a minute, so a long outage costs one call a minute.
func (p *Payment) RefundFailed(reason string, now time.Time) {
	p.RefundAttempts++
	wait := maxRefundBackoff
	if p.RefundAttempts < 7 {
		wait = min(time.Second<<(p.RefundAttempts-1), maxRefundBackoff)
	}
	p.RefundNextAt, p.RefundError = now.Add(wait), reason
}

// Refunded records the provider's acknowledgement.
func (p *Payment) Refunded(now time.Time) { p.refunded(now) }

func (p *Payment) refunded(now time.Time) {
	p.Status, p.RefundDue, p.RefundedAt, p.RefundError, p.CheckAt = StatusRefunded, false, now, "", time.Time{}
}

// Voided records that a payment which never succeeded was canceled with its
// provider (its holds are gone): nothing more can happen to it.
func (p *Payment) Voided() {
	if p.Status == StatusPending || p.Status == StatusFailed {
		p.Status, p.CheckAt = StatusFailed, time.Time{}
	}
}

// Checked moves the next look at an unsettled payment on.
func (p *Payment) Checked(now time.Time) {
	switch {
	case p.Status == StatusPending || (p.Status == StatusFailed && !p.CheckAt.IsZero()):
		p.CheckAt = now.Add(checkEvery)
	case p.Unsettled():
		p.CheckAt = now.Add(settleAfter)
	default:
		p.CheckAt = time.Time{}
	}
}

// RefundKey is the provider idempotency key of the next refund attempt. It
// changes per attempt, so that a provider which keeps a failed answer for its
// key (Stripe does, for a day) is really asked again; a full refund cannot
// happen twice, so a new key is safe.
func (p *Payment) RefundKey() string {
	return "boxoffice-refund-" + p.ID + "-" + strconv.Itoa(p.RefundAttempts)
}
