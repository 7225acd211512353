package payments_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/payments"
)

var t0 = time.Date(2030, 5, 1, 10, 0, 0, 0, time.UTC)

func pending() *payments.Payment {
	return payments.NewPayment("pay_1", "ev_1", "usr_1", "test", []string{"hld_1"}, 5000, "usd", t0)
}

// A payment only moves forward, whatever order the provider's words come in.
func TestPaymentRecordMovesForwardOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		words []string
		want  string
	}{
		{"declined", []string{payments.StatusFailed}, payments.StatusFailed},
		{"declined, then paid with another card", []string{payments.StatusFailed, payments.StatusSucceeded}, payments.StatusSucceeded},
		{"a late failure after a success", []string{payments.StatusSucceeded, payments.StatusFailed}, payments.StatusSucceeded},
		{"a late pending after a success", []string{payments.StatusSucceeded, payments.StatusPending}, payments.StatusSucceeded},
		{"refunded, then a stale success", []string{payments.StatusRefunded, payments.StatusSucceeded}, payments.StatusRefunded},
		{"unknown words change nothing", []string{"", "processing"}, payments.StatusPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := pending()
			for _, w := range tt.words {
				p.Record(w, t0)
			}
			require.Equal(t, tt.want, p.Status)
		})
	}
}

// A success must end as a booking or a refund: until one of them it is
// unsettled and has a time for the settler to look.
func TestPaymentSettlement(t *testing.T) {
	t.Parallel()
	p := pending()
	require.True(t, p.Live())
	require.False(t, p.Unsettled())
	require.ErrorIs(t, p.Booked("bkg_1"), payments.ErrNotSucceeded)
	require.False(t, p.OweRefund(t0), "nothing was taken: nothing to give back")

	p.Record(payments.StatusSucceeded, t0)
	require.True(t, p.Unsettled())
	require.Equal(t, t0.Add(5*time.Second), p.CheckAt, "the settler takes it up if nobody settles it first")

	booked := *p
	require.NoError(t, booked.Booked("bkg_1"))
	require.False(t, booked.Unsettled())
	require.False(t, booked.Live())
	require.True(t, booked.CheckAt.IsZero())
	require.ErrorIs(t, booked.Booked("bkg_2"), payments.ErrSettled)

	require.True(t, p.OweRefund(t0))
	require.False(t, p.OweRefund(t0), "owed once")
	require.False(t, p.Live())
	require.ErrorIs(t, p.Booked("bkg_1"), payments.ErrSettled, "a payment owed back buys nothing")
	p.Refunded(t0)
	require.Equal(t, payments.StatusRefunded, p.Status)
	require.False(t, p.RefundDue)
}

// Refund attempts back off from a second, doubling, to a minute; each
// attempt has its own idempotency key.
func TestRefundBackoff(t *testing.T) {
	t.Parallel()
	p := pending()
	p.Record(payments.StatusSucceeded, t0)
	p.OweRefund(t0)
	keys := map[string]bool{}
	var waits []time.Duration
	for range 9 {
		keys[p.RefundKey()] = true
		p.RefundFailed("busy", t0)
		waits = append(waits, p.RefundNextAt.Sub(t0))
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, time.Minute, time.Minute, time.Minute}, waits)
	require.Len(t, keys, 9)
	require.Equal(t, "busy", p.RefundError)
}
