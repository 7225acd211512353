// Package payments holds the payment providers behind one interface: a built-in
// test provider for local use and tests, and Stripe.
package payments

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// Statuses a provider reports.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusRefunded  = "refunded"
)

var (
	// ErrDeclined is a card the provider refused.
	ErrDeclined = errors.New("the card was declined")
	// ErrNotConfirmable is a provider whose payments are confirmed by the
	// customer with the provider, not through our API.
	ErrNotConfirmable = errors.New("this provider's payments are confirmed with the provider")
)

// Intent is what a provider returns for a new payment.
type Intent struct {
	Ref          string // the provider's id
	ClientSecret string // what the payment page needs
	Status       string
}

// Charge describes one payment to make.
type Charge struct {
	PaymentID   string
	EventID     string
	HoldIDs     []string
	UserID      string
	AmountCents int64
	Currency    string
}

// Provider takes payments.
type Provider interface {
	Name() string
	// Create starts a payment. Retrying with the same Charge must not charge twice.
	Create(ctx context.Context, c Charge) (*Intent, error)
	// Status asks the provider where a payment stands.
	Status(ctx context.Context, ref string) (string, error)
	// ClientSecret is what the payment page needs to pay a payment made earlier.
	ClientSecret(ctx context.Context, ref string) (string, error)
	// Confirm pays with a card number (test provider only).
	Confirm(ctx context.Context, ref, card string) (string, error)
	// Refund gives the money back in full; refunding twice is harmless. key is
	// the attempt's idempotency key.
	Refund(ctx context.Context, ref, key string) error
	// Cancel voids a payment that has not succeeded, so that it never will
	// (its holds are gone), and returns its status after: StatusFailed, or
	// StatusSucceeded (or StatusRefunded) when it had succeeded first.
	Cancel(ctx context.Context, ref string) (string, error)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
