package payments

import (
	"context"
	"errors"
	"fmt"
)

// Test cards, as Stripe's test mode names them.
const (
	CardSucceeds = "4242424242424242"
	CardDeclines = "4000000000000002"
)

var (
	// ErrUnknownCard is a card number the test provider does not know.
	ErrUnknownCard = errors.New("unknown test card: use 4242424242424242 (succeeds) or 4000000000000002 (declines)")
	// ErrNothingToRefund is a refund of a charge that never succeeded.
	ErrNothingToRefund = errors.New("the charge has not succeeded: nothing to refund")
)

// Ledger keeps the test provider's charges in PostgreSQL (store.DB), apart
// from Boxoffice's own payments, so the provider works the same on every
// replica and, like Stripe, knows only what it was told.
type Ledger interface {
	CreateCharge(ctx context.Context, ref string, amountCents int64, currency, clientSecret string) error
	// Charge returns a charge's status and client secret.
	Charge(ctx context.Context, ref string) (status, clientSecret string, err error)
	// MoveCharge sets a charge's status when from allows it, and returns the status it has now.
	MoveCharge(ctx context.Context, ref, status string, from ...string) (string, error)
}

// TestProvider is a real provider without money: card 4242… succeeds, 4000…0002
// declines. Use it locally and in tests; never in production.
type TestProvider struct {
	ledger Ledger
}

// NewTestProvider keeps its state in ledger.
func NewTestProvider(ledger Ledger) *TestProvider { return &TestProvider{ledger: ledger} }

var _ Provider = (*TestProvider)(nil)

// Name is the provider's name in payments.
func (p *TestProvider) Name() string { return "test" }

// Create opens a pending charge whose provider id is our payment id.
func (p *TestProvider) Create(ctx context.Context, c Charge) (*Intent, error) {
	secret := "test_secret_" + randomHex(12)
	if err := p.ledger.CreateCharge(ctx, c.PaymentID, c.AmountCents, c.Currency, secret); err != nil {
		return nil, err
	}
	return &Intent{Ref: c.PaymentID, ClientSecret: secret, Status: StatusPending}, nil
}

// canceled is a voided test charge; Boxoffice sees it as failed.
const canceled = "canceled"

// Status reads the ledger.
func (p *TestProvider) Status(ctx context.Context, ref string) (string, error) {
	status, _, err := p.ledger.Charge(ctx, ref)
	if status == canceled {
		status = StatusFailed
	}
	return status, err
}

// ClientSecret reads the ledger.
func (p *TestProvider) ClientSecret(ctx context.Context, ref string) (string, error) {
	_, secret, err := p.ledger.Charge(ctx, ref)
	return secret, err
}

// Confirm charges a test card. A declined charge may be paid again with the
// good card, as with Stripe; a charge that succeeded stays succeeded.
func (p *TestProvider) Confirm(ctx context.Context, ref, card string) (string, error) {
	want := StatusSucceeded
	switch card {
	case CardSucceeds:
	case CardDeclines:
		want = StatusFailed
	default:
		return "", ErrUnknownCard
	}
	status, err := p.ledger.MoveCharge(ctx, ref, want, StatusPending, StatusFailed)
	if err != nil {
		return "", err
	}
	if status == StatusFailed {
		return status, ErrDeclined
	}
	return status, nil
}

// Refund refunds a succeeded charge; refunding twice is harmless.
func (p *TestProvider) Refund(ctx context.Context, ref, _ string) error {
	status, err := p.ledger.MoveCharge(ctx, ref, StatusRefunded, StatusSucceeded)
	if err != nil {
		return err
	}
	if status != StatusRefunded {
		return fmt.Errorf("refund test charge %s: %w", ref, ErrNothingToRefund)
	}
	return nil
}

// Cancel voids a charge that has not succeeded: a canceled charge cannot be paid.
func (p *TestProvider) Cancel(ctx context.Context, ref string) (string, error) {
	status, err := p.ledger.MoveCharge(ctx, ref, canceled, StatusPending, StatusFailed)
	if status == canceled {
		status = StatusFailed
	}
	return status, err
}
