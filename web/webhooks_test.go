package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/web"
)

const webhookSecret = "whsec_test_secret"

// stripeEnv is an API whose webhooks are Stripe's. The Stripe client is never
// asked anything here: webhooks carry the provider's word, signed.
func stripeEnv(t *testing.T) *env {
	t.Helper()
	s, err := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_test_123", WebhookSecret: webhookSecret, APIBase: "http://127.0.0.1:9"})
	require.NoError(t, err)
	return newEnv(t, func(c *web.Config) { c.Webhooks, c.PublishableKey = s, "pk_test_123" })
}

// stripeHold reserves a seat for a fan and records a Stripe payment for it,
// returning the hold and the PaymentIntent id.
func (e *env) stripeHold(t *testing.T, id, seat string) (string, string) {
	t.Helper()
	fan := e.shopper(id)
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", fan, reserveBody(id, "VIP", []string{seat}, 0))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	hold := r.JSON(t)["reservation"].(map[string]any)["id"].(string)
	h, err := e.db.Hold(context.Background(), hold)
	require.NoError(t, err)
	p := payments.NewPayment(store.NewID("pay"), h.EventID, h.UserID, "stripe", []string{hold}, h.AmountCents, "usd", time.Now())
	p.ProviderRef = store.NewID("pi")
	require.NoError(t, e.db.CreatePayment(context.Background(), p, time.Now()))
	return hold, p.ProviderRef
}

func event(t *testing.T, typ, ref string) []byte {
	t.Helper()
	obj := map[string]any{"id": ref, "object": "payment_intent", "status": "succeeded", "amount": 100}
	if typ == "charge.refunded" {
		obj = map[string]any{"id": store.NewID("ch"), "object": "charge", "payment_intent": ref, "amount": 100, "amount_refunded": 100, "refunded": true}
	}
	b, err := json.Marshal(map[string]any{"id": store.NewID("evt"), "object": "event", "api_version": stripe.APIVersion,
		"type": typ, "created": time.Now().Unix(), "data": map[string]any{"object": obj}})
	require.NoError(t, err)
	return b
}

func (e *env) deliver(payload []byte, at time.Time, secret string) response {
	e.t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at})
	return e.call(http.MethodPost, "/api/v1/webhooks/stripe", "", string(signed.Payload), "Stripe-Signature", signed.Header)
}

func (e *env) bookingsOf(t *testing.T, hold string) int {
	t.Helper()
	var n int
	require.NoError(t, e.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM holds WHERE id = $1 AND booking_id IS NOT NULL`, hold).Scan(&n))
	return n
}

// A signed payment_intent.succeeded books the hold without the fan coming back;
// a replayed delivery changes nothing; tampered, foreign, unsigned and stale
// deliveries get 400 and change nothing.
func TestStripeWebhookBooksOnce(t *testing.T) {
	t.Parallel()
	e := stripeEnv(t)
	id := e.seatedEvent(5)
	hold, ref := e.stripeHold(t, id, "1A")
	payload := event(t, "payment_intent.succeeded", ref)

	tampered := append([]byte{}, payload...)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: time.Now()})
	copy(tampered[len(tampered)-3:], "}}}")
	for name, r := range map[string]response{
		"tampered":     e.call(http.MethodPost, "/api/v1/webhooks/stripe", "", string(append(tampered, ' ')), "Stripe-Signature", signed.Header),
		"other secret": e.deliver(payload, time.Now(), "whsec_someone_else"),
		"stale":        e.deliver(payload, time.Now().Add(-10*time.Minute), webhookSecret),
		"unsigned":     e.call(http.MethodPost, "/api/v1/webhooks/stripe", "", string(payload)),
	} {
		require.Equal(t, http.StatusBadRequest, r.Status, name)
		require.Equal(t, "bad_signature", r.ErrorCode(t), name)
	}
	require.Zero(t, e.bookingsOf(t, hold))

	r := e.deliver(payload, time.Now(), webhookSecret)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, 1, e.bookingsOf(t, hold))
	r = e.deliver(payload, time.Now(), webhookSecret) // Stripe delivers at least once
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, true, r.JSON(t)["duplicate"])
	require.Equal(t, 1, e.bookingsOf(t, hold))
}

// Out of order: the refund's event first, then the success: nothing is booked.
// A failure leaves the hold in place until it expires.
func TestStripeWebhooksOutOfOrder(t *testing.T) {
	t.Parallel()
	e := stripeEnv(t)
	id := e.seatedEvent(5)
	hold, ref := e.stripeHold(t, id, "1A")
	require.Equal(t, http.StatusOK, e.deliver(event(t, "charge.refunded", ref), time.Now(), webhookSecret).Status)
	require.Equal(t, http.StatusOK, e.deliver(event(t, "payment_intent.succeeded", ref), time.Now(), webhookSecret).Status)
	require.Zero(t, e.bookingsOf(t, hold))

	failed, failedRef := e.stripeHold(t, id, "2A")
	require.Equal(t, http.StatusOK, e.deliver(event(t, "payment_intent.payment_failed", failedRef), time.Now(), webhookSecret).Status)
	h, err := e.db.Hold(context.Background(), failed)
	require.NoError(t, err)
	require.Equal(t, store.HoldActive, h.Status)
	p, err := e.db.PaymentByRef(context.Background(), "stripe", failedRef)
	require.NoError(t, err)
	require.Equal(t, payments.StatusFailed, p.Status)

	ignored := e.deliver(event(t, "customer.created", "cus_1"), time.Now(), webhookSecret)
	require.Equal(t, http.StatusOK, ignored.Status)
}

// Without Stripe configured the endpoint says so.
func TestStripeWebhookNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.call(http.MethodPost, "/api/v1/webhooks/stripe", "", "{}")
	require.Equal(t, http.StatusNotFound, r.Status)
	require.Equal(t, "not_configured", r.ErrorCode(t))
}

// The payment page gets what Stripe's Payment Element needs: the publishable key
// beside the payment's client secret.
func TestPaymentCarriesPublishableKey(t *testing.T) {
	t.Parallel()
	e := stripeEnv(t)
	id := e.seatedEvent(5)
	fan := e.shopper(id)
	r := e.call(http.MethodPost, "/api/v1/tickets/reserve", fan, reserveBody(id, "VIP", []string{"1A"}, 0))
	hold := r.JSON(t)["reservation"].(map[string]any)["id"]
	r = e.call(http.MethodPost, "/api/v1/payments", fan, map[string]any{"reservation_id": hold})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.Equal(t, "pk_test_123", r.JSON(t)["publishable_key"])
	require.NotEmpty(t, r.JSON(t)["payment"].(map[string]any)["client_secret"])
}
