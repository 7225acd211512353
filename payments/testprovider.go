package payments

import (
	"context"
	"errors"
)

// Test cards, as Stripe's test mode names them.
const (
	CardSucceeds = "4242424242424242"
	CardDeclines = "4000000000000002"
)

// ErrUnknownCard is a card number the test provider does not know.
var ErrUnknownCard = errors.New("unknown test card: use 4242424242424242 (succeeds) or 4000000000000002 (declines)")

// Ledger keeps the test provider's payments; the payments table does, so the
// provider works the same on every replica.
type Ledger interface {
	PaymentStatus(ctx context.Context, ref string) (string, error)
	SetPaymentStatusByRef(ctx context.Context, provider, ref, status string) error
}

// TestProvider is a real provider without money: card 4242… succeeds, 4000…0002
// declines. Use it locally and in tests; never in production.
type TestProvider struct {
	ledger Ledger
}

// NewTestProvider keeps its state in ledger.
func NewTestProvider(ledger Ledger) *TestProvider { return &TestProvider{ledger: ledger} }

// Name is the provider's name in payments.
func (p *TestProvider) Name() string { return "test" }

// Create makes a pending payment whose provider id is our own payment id.
func (p *TestProvider) Create(_ context.Context, c Charge) (*Intent, error) {
	return &Intent{Ref: c.PaymentID, ClientSecret: "test_secret_" + randomHex(12), Status: StatusPending}, nil
}

// Status reads the ledger.
func (p *TestProvider) Status(ctx context.Context, ref string) (string, error) {
	return p.ledger.PaymentStatus(ctx, ref)
}

// Confirm charges the test card.
func (p *TestProvider) Confirm(ctx context.Context, ref, card string) (string, error) {
	status := StatusSucceeded
	switch card {
	case CardSucceeds:
	case CardDeclines:
		status = StatusFailed
	default:
		return "", ErrUnknownCard
	}
	if err := p.ledger.SetPaymentStatusByRef(ctx, p.Name(), ref, status); err != nil {
		return "", err
	}
	if status == StatusFailed {
		return status, ErrDeclined
	}
	return status, nil
}

// Refund marks the payment refunded.
func (p *TestProvider) Refund(ctx context.Context, ref string) error {
	return p.ledger.SetPaymentStatusByRef(ctx, p.Name(), ref, StatusRefunded)
}
