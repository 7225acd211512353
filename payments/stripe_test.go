package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/boxofficehq/boxoffice/payments"
)

func TestNewStripe(t *testing.T) {
	t.Parallel()
	valid := payments.StripeConfig{SecretKey: "sk_test_1", WebhookSecret: "whsec_1"}
	tests := []struct {
		name    string
		give    func(c *payments.StripeConfig)
		wantErr string // "" is valid
	}{
		{name: "minimal", give: func(*payments.StripeConfig) {}},
		{name: "full", give: func(c *payments.StripeConfig) {
			c.SecretKey, c.PublishableKey, c.APIBase, c.MaxRetries = "sk_live_1", "pk_live_1", "https://api.example.com", 2
		}},
		{name: "restricted key", give: func(c *payments.StripeConfig) { c.SecretKey = "rk_test_1" }},
		{name: "no secret key", give: func(c *payments.StripeConfig) { c.SecretKey = "" }, wantErr: "secret key is required"},
		{name: "publishable key as secret", give: func(c *payments.StripeConfig) { c.SecretKey = "pk_test_1" }, wantErr: "must start with sk_"},
		{name: "no webhook secret", give: func(c *payments.StripeConfig) { c.WebhookSecret = "" }, wantErr: "webhook secret is required"},
		{name: "webhook secret not whsec", give: func(c *payments.StripeConfig) { c.WebhookSecret = "secret" }, wantErr: "whsec_"},
		{name: "publishable key not pk", give: func(c *payments.StripeConfig) { c.PublishableKey = "sk_test_2" }, wantErr: "must start with pk_"},
		{name: "live secret, test publishable", give: func(c *payments.StripeConfig) {
			c.SecretKey, c.PublishableKey = "sk_live_1", "pk_test_1"
		}, wantErr: "live mode but publishable key is test mode"},
		{name: "API base not a URL", give: func(c *payments.StripeConfig) { c.APIBase = "localhost:12111" }, wantErr: "not an http(s) URL"},
		{name: "no retries", give: func(c *payments.StripeConfig) { c.MaxRetries = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := valid
			tt.give(&cfg)
			s, err := payments.NewStripe(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "stripe", s.Name())
			require.Equal(t, cfg.PublishableKey, s.PublishableKey())
		})
	}
}

func TestNewStripeReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := payments.NewStripe(payments.StripeConfig{})
	require.ErrorContains(t, err, "secret key is required")
	require.ErrorContains(t, err, "webhook secret is required")
}

var testCharge = payments.Charge{PaymentID: "pay_1", EventID: "ev_1", HoldIDs: []string{"hold_1", "hold_2"}, UserID: "usr_1", AmountCents: 5000, Currency: "EUR"}

func TestStripeCreate(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)

	intent, err := newStripe(t, base).Create(t.Context(), testCharge)
	require.NoError(t, err)
	require.Regexp(t, `^pi_`, intent.Ref)
	require.Regexp(t, `^pi_\w+_secret_\w+$`, intent.ClientSecret)
	require.NotEmpty(t, intent.Status)

	req := rec.only(t)
	require.Equal(t, http.MethodPost, req.Method)
	require.Equal(t, "/v1/payment_intents", req.Path)
	require.Equal(t, "Bearer "+testSecretKey, req.Header.Get("Authorization"))
	require.Equal(t, "boxoffice-pi-pay_1", req.Header.Get("Idempotency-Key"))
	require.Equal(t, "5000", req.Form.Get("amount"))
	require.Equal(t, "eur", req.Form.Get("currency"))
	require.Equal(t, "true", req.Form.Get("automatic_payment_methods[enabled]"))
	require.Equal(t, "pay_1", req.Form.Get("metadata[payment_id]"))
	require.Equal(t, "hold_1,hold_2", req.Form.Get("metadata[reservation_ids]"))
	require.Equal(t, "ev_1", req.Form.Get("metadata[event_id]"))
	require.Equal(t, "usr_1", req.Form.Get("metadata[user_id]"))

	var echoed struct { // stripe-mock echoes what it accepted
		ID       string `json:"id"`
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}
	require.NoError(t, json.Unmarshal(req.Response, &echoed))
	require.Equal(t, intent.Ref, echoed.ID)
	require.EqualValues(t, 5000, echoed.Amount)
	require.Equal(t, "eur", echoed.Currency)
}

// A retried Create sends the same idempotency key; a new payment for the same
// hold (after a decline) sends a new one, so it may get a new intent.
func TestStripeCreateIdempotencyKey(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)
	s := newStripe(t, base)
	again := testCharge
	again.PaymentID = "pay_2"
	for _, c := range []payments.Charge{testCharge, testCharge, again} {
		_, err := s.Create(t.Context(), c)
		require.NoError(t, err)
	}
	reqs := rec.all()
	require.Len(t, reqs, 3)
	require.Equal(t, "boxoffice-pi-pay_1", reqs[0].Header.Get("Idempotency-Key"))
	require.Equal(t, "boxoffice-pi-pay_1", reqs[1].Header.Get("Idempotency-Key"))
	require.Equal(t, "boxoffice-pi-pay_2", reqs[2].Header.Get("Idempotency-Key"))
}

func TestStripeCreateNeedsIDs(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)
	c := testCharge
	c.HoldIDs = nil
	_, err := newStripe(t, base).Create(t.Context(), c)
	require.ErrorContains(t, err, "needs holds and a payment id")
	require.Empty(t, rec.all())
}

func TestStripeStatusRequest(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)

	status, err := newStripe(t, base).Status(t.Context(), "pi_123")
	require.NoError(t, err)
	require.Contains(t, []string{payments.StatusPending, payments.StatusSucceeded, payments.StatusFailed, payments.StatusRefunded}, status)

	req := rec.only(t)
	require.Equal(t, http.MethodGet, req.Method)
	require.Equal(t, "/v1/payment_intents/pi_123", req.Path)
	require.Equal(t, "latest_charge", req.Query.Get("expand[0]"), "query %v", req.Query)
	var echoed struct {
		ID           string          `json:"id"`
		LatestCharge json.RawMessage `json:"latest_charge"`
	}
	require.NoError(t, json.Unmarshal(req.Response, &echoed))
	require.Equal(t, "pi_123", echoed.ID)
	require.Regexp(t, `^\{`, string(echoed.LatestCharge), "stripe-mock expands latest_charge")
}

// TestStripeStatusMapping checks the mapping of every PaymentIntent state with
// fixtures shaped like Stripe's answers (stripe-mock always answers
// requires_payment_method).
func TestStripeStatusMapping(t *testing.T) {
	t.Parallel()
	failure := map[string]any{"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
	charge := func(amount, refunded int64) map[string]any {
		return map[string]any{"id": "ch_1", "object": "charge", "amount": amount, "amount_refunded": refunded,
			"refunded": refunded == amount, "payment_intent": "pi_123"}
	}
	tests := []struct {
		name string
		give map[string]any
		want string
	}{
		{name: "new", give: map[string]any{"status": "requires_payment_method"}, want: payments.StatusPending},
		{name: "after a failed attempt", give: map[string]any{"status": "requires_payment_method", "last_payment_error": failure}, want: payments.StatusFailed},
		{name: "requires confirmation", give: map[string]any{"status": "requires_confirmation"}, want: payments.StatusPending},
		{name: "requires action (3-D Secure)", give: map[string]any{"status": "requires_action"}, want: payments.StatusPending},
		{name: "processing", give: map[string]any{"status": "processing"}, want: payments.StatusPending},
		{name: "requires capture", give: map[string]any{"status": "requires_capture"}, want: payments.StatusPending},
		{name: "succeeded", give: map[string]any{"status": "succeeded", "latest_charge": charge(5000, 0)}, want: payments.StatusSucceeded},
		{name: "succeeded, charge not expanded", give: map[string]any{"status": "succeeded", "latest_charge": "ch_1"}, want: payments.StatusSucceeded},
		{name: "canceled", give: map[string]any{"status": "canceled"}, want: payments.StatusFailed},
		{name: "refunded in full", give: map[string]any{"status": "succeeded", "latest_charge": charge(5000, 5000)}, want: payments.StatusRefunded},
		{name: "refunded in part", give: map[string]any{"status": "succeeded", "latest_charge": charge(5000, 1000)}, want: payments.StatusSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, _ := fakeStripe(t, http.StatusOK, intentJSON(t, tt.give))
			status, err := newStripe(t, base).Status(t.Context(), "pi_123")
			require.NoError(t, err)
			require.Equal(t, tt.want, status)
		})
	}
}

func TestStripeConfirm(t *testing.T) {
	t.Parallel()
	_, err := newStripe(t, stripeMockURL).Confirm(t.Context(), "pi_123", payments.CardSucceeds)
	require.ErrorIs(t, err, payments.ErrNotConfirmable)
}

func TestStripeRefund(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)
	s := newStripe(t, base)

	// The settler's attempts each have their key (Stripe keeps a failed answer
	// for its key for a day); stripe-go's own retries resend the attempt's key.
	require.NoError(t, s.Refund(t.Context(), "pi_123", "boxoffice-refund-pay_1-0"))
	require.NoError(t, s.Refund(t.Context(), "pi_123", "boxoffice-refund-pay_1-1"))

	reqs := rec.all()
	require.Len(t, reqs, 2)
	for i, req := range reqs {
		require.Equal(t, http.MethodPost, req.Method)
		require.Equal(t, "/v1/refunds", req.Path)
		require.Equal(t, "pi_123", req.Form.Get("payment_intent"))
		require.Equal(t, fmt.Sprintf("boxoffice-refund-pay_1-%d", i), req.Header.Get("Idempotency-Key"))
	}
	var echoed struct {
		Status        string `json:"status"`
		PaymentIntent string `json:"payment_intent"`
	}
	require.NoError(t, json.Unmarshal(reqs[0].Response, &echoed))
	require.Equal(t, "pi_123", echoed.PaymentIntent)
	require.Equal(t, "succeeded", echoed.Status)
}

func TestStripeRefundAlreadyRefunded(t *testing.T) {
	t.Parallel()
	base, _ := fakeStripe(t, http.StatusBadRequest, `{"error": {"type": "invalid_request_error",
		"code": "charge_already_refunded", "message": "Charge ch_1 has already been refunded."}}`)
	require.NoError(t, newStripe(t, base).Refund(t.Context(), "pi_123", "boxoffice-refund-pay_1-3"))
}

// stripe-mock refuses a live key: a configuration problem, not the fan's.
func TestStripeRejectedByStripeMock(t *testing.T) {
	t.Parallel()
	s, err := payments.NewStripe(payments.StripeConfig{SecretKey: "sk_live_123", WebhookSecret: testWebhookSecret,
		APIBase: stripeMockURL})
	require.NoError(t, err)

	_, err = s.Create(t.Context(), testCharge)
	require.ErrorIs(t, err, payments.ErrProviderRejected)
	var se *stripe.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusUnauthorized, se.HTTPStatusCode)
	require.Equal(t, stripe.ErrorTypeInvalidRequest, se.Type)
}

func TestStripeUnknownPathRejected(t *testing.T) {
	t.Parallel()
	_, err := newStripe(t, stripeMockURL).Status(t.Context(), "")
	require.ErrorIs(t, err, payments.ErrProviderRejected)
}

func TestStripeErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
	}{
		{name: "card declined", status: http.StatusPaymentRequired, wantErr: payments.ErrDeclined,
			body: `{"error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}}`},
		{name: "insufficient funds", status: http.StatusPaymentRequired, wantErr: payments.ErrDeclined,
			body: `{"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}`},
		{name: "rate limited", status: http.StatusTooManyRequests, wantErr: payments.ErrProviderBusy,
			body: `{"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}}`},
		{name: "lock timeout", status: http.StatusTooManyRequests, wantErr: payments.ErrProviderBusy,
			body: `{"error": {"type": "invalid_request_error", "code": "lock_timeout", "message": "This object cannot be accessed right now."}}`},
		{name: "same key in flight", status: http.StatusConflict, wantErr: payments.ErrProviderBusy,
			body: `{"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": "Another request is in flight."}}`},
		{name: "Stripe down", status: http.StatusInternalServerError, wantErr: payments.ErrProviderBusy,
			body: `{"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}`},
		{name: "invalid parameter", status: http.StatusBadRequest, wantErr: payments.ErrProviderRejected,
			body: `{"error": {"type": "invalid_request_error", "code": "parameter_missing", "param": "amount", "message": "Missing required param: amount."}}`},
		{name: "bad key", status: http.StatusUnauthorized, wantErr: payments.ErrProviderRejected,
			body: `{"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_***"}}`},
		{name: "key reused with other parameters", status: http.StatusBadRequest, wantErr: payments.ErrProviderRejected,
			body: `{"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters."}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, rec := fakeStripe(t, tt.status, tt.body)
			_, err := newStripe(t, base).Create(t.Context(), testCharge)
			require.ErrorIs(t, err, tt.wantErr)
			var se *stripe.Error
			require.ErrorAs(t, err, &se, "Stripe's error stays in the chain")
			require.Equal(t, tt.status, se.HTTPStatusCode)
			require.ErrorContains(t, err, "request req_test")
			require.NotContains(t, err.Error(), "{", "no raw JSON in the message")
			require.Len(t, rec.all(), 1, "no retries: one attempt")
		})
	}
}

func TestStripeUnreachableIsBusy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	_, err := newStripe(t, srv.URL).Status(t.Context(), "pi_123")
	require.ErrorIs(t, err, payments.ErrProviderBusy)
}

func TestStripeCanceledIsNotBusy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := newStripe(t, stripeMockURL).Status(ctx, "pi_123")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, payments.ErrProviderBusy)
}

// By default stripe-go retries what Stripe marks safe (here a 409), with the
// same idempotency key, but not a rate limit.
func TestStripeRetries(t *testing.T) {
	t.Parallel()
	s := func(base string) *payments.Stripe {
		s, err := payments.NewStripe(payments.StripeConfig{SecretKey: testSecretKey, WebhookSecret: testWebhookSecret,
			APIBase: base}) // MaxRetries 0: DefaultStripeMaxRetries
		require.NoError(t, err)
		return s
	}
	t.Run("conflict retried", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		base, rec := serve(t, func(w http.ResponseWriter, _ *http.Request, _ func([]byte)) {
			w.Header().Set("Content-Type", "application/json")
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"error": {"type": "invalid_request_error", "message": "Another request is using this object."}}`))
				return
			}
			_, _ = w.Write([]byte(intentJSON(t, nil)))
		})
		intent, err := s(base).Create(t.Context(), testCharge)
		require.NoError(t, err)
		require.Equal(t, "pi_123", intent.Ref)
		reqs := rec.all()
		require.Len(t, reqs, 2)
		require.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
	})
	t.Run("rate limit not retried", func(t *testing.T) {
		t.Parallel()
		base, rec := fakeStripe(t, http.StatusTooManyRequests,
			`{"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests."}}`)
		_, err := s(base).Create(t.Context(), testCharge)
		require.ErrorIs(t, err, payments.ErrProviderBusy)
		require.Len(t, rec.all(), 1)
	})
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	intent := map[string]any{"id": "pi_123", "object": "payment_intent", "status": "succeeded",
		"metadata": map[string]any{"payment_id": "pay_1", "reservation_id": "hold_1"}}
	failed := map[string]any{"id": "pi_123", "object": "payment_intent", "status": "requires_payment_method",
		"metadata": map[string]any{"payment_id": "pay_1"}, "last_payment_error": map[string]any{"type": "card_error"}}
	charge := func(refunded int64) map[string]any {
		return map[string]any{"id": "ch_1", "object": "charge", "amount": 5000, "amount_refunded": refunded,
			"refunded": refunded == 5000, "payment_intent": "pi_123", "metadata": map[string]any{"payment_id": "pay_1"}}
	}
	tests := []struct {
		name string
		give []byte
		want payments.WebhookEvent
	}{
		{name: "succeeded", give: event(t, "evt_1", "payment_intent.succeeded", stripe.APIVersion, intent),
			want: payments.WebhookEvent{ID: "evt_1", Type: "payment_intent.succeeded", PaymentRef: "pi_123", PaymentID: "pay_1", Status: payments.StatusSucceeded}},
		{name: "payment failed", give: event(t, "evt_2", "payment_intent.payment_failed", stripe.APIVersion, failed),
			want: payments.WebhookEvent{ID: "evt_2", Type: "payment_intent.payment_failed", PaymentRef: "pi_123", PaymentID: "pay_1", Status: payments.StatusFailed}},
		{name: "refunded in full", give: event(t, "evt_3", "charge.refunded", stripe.APIVersion, charge(5000)),
			want: payments.WebhookEvent{ID: "evt_3", Type: "charge.refunded", PaymentRef: "pi_123", PaymentID: "pay_1", Status: payments.StatusRefunded}},
		{name: "refunded in part", give: event(t, "evt_4", "charge.refunded", stripe.APIVersion, charge(1000)),
			want: payments.WebhookEvent{ID: "evt_4", Type: "charge.refunded", PaymentRef: "pi_123", PaymentID: "pay_1"}},
		{name: "type we ignore", give: event(t, "evt_5", "customer.created", stripe.APIVersion, map[string]any{"id": "cus_1", "object": "customer"}),
			want: payments.WebhookEvent{ID: "evt_5", Type: "customer.created"}},
		{name: "other API version", give: event(t, "evt_6", "payment_intent.succeeded", "2099-01-01.future", intent),
			want: payments.WebhookEvent{ID: "evt_6", Type: "payment_intent.succeeded", PaymentRef: "pi_123", PaymentID: "pay_1", Status: payments.StatusSucceeded}},
	}
	s := newStripe(t, stripeMockURL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := s.ParseWebhook(tt.give, sign(tt.give, testWebhookSecret, time.Now()))
			require.NoError(t, err)
			require.Equal(t, tt.want, *ev)
		})
	}
}

func TestParseWebhookBadSignature(t *testing.T) {
	t.Parallel()
	payload := event(t, "evt_1", "payment_intent.succeeded", stripe.APIVersion, map[string]any{"id": "pi_123"})
	tampered := bytes.Replace(payload, []byte("pi_123"), []byte("pi_999"), 1) // valid JSON, not what was signed
	tests := []struct {
		name      string
		payload   []byte
		header    string
		wantCause error
	}{
		{name: "unsigned", payload: payload, header: "", wantCause: webhook.ErrNotSigned},
		{name: "garbage header", payload: payload, header: "nonsense", wantCause: webhook.ErrInvalidHeader},
		{name: "tampered", payload: tampered, header: sign(payload, testWebhookSecret, time.Now()), wantCause: webhook.ErrNoValidSignature},
		{name: "wrong secret", payload: payload, header: sign(payload, "whsec_other", time.Now()), wantCause: webhook.ErrNoValidSignature},
		{name: "stale, a replay", payload: payload, header: sign(payload, testWebhookSecret, time.Now().Add(-301*time.Second)), wantCause: webhook.ErrTooOld},
	}
	s := newStripe(t, stripeMockURL)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.ParseWebhook(tt.payload, tt.header)
			require.ErrorIs(t, err, payments.ErrBadSignature)
			require.ErrorIs(t, err, tt.wantCause)
		})
	}
}

func TestParseWebhookWithinTolerance(t *testing.T) {
	t.Parallel()
	payload := event(t, "evt_1", "payment_intent.succeeded", stripe.APIVersion, map[string]any{"id": "pi_123"})
	ev, err := newStripe(t, stripeMockURL).ParseWebhook(payload, sign(payload, testWebhookSecret, time.Now().Add(-4*time.Minute)))
	require.NoError(t, err)
	require.Equal(t, "pi_123", ev.PaymentRef)
	require.Empty(t, ev.PaymentID, "no metadata")
}

func TestParseWebhookUnreadable(t *testing.T) {
	t.Parallel()
	s := newStripe(t, stripeMockURL)
	for _, payload := range [][]byte{
		[]byte("not json"),
		[]byte(`{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": []}}`),
	} {
		_, err := s.ParseWebhook(payload, sign(payload, testWebhookSecret, time.Now()))
		require.ErrorIs(t, err, payments.ErrBadWebhook)
		require.False(t, errors.Is(err, payments.ErrBadSignature))
	}
}

// Cancel voids an intent with stripe-mock, and reads it as failed.
func TestStripeCancel(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)
	status, err := newStripe(t, base).Cancel(t.Context(), "pi_123")
	require.NoError(t, err)
	require.Equal(t, payments.StatusFailed, status)
	req := rec.only(t)
	require.Equal(t, http.MethodPost, req.Method)
	require.Equal(t, "/v1/payment_intents/pi_123/cancel", req.Path)
}

// An intent that succeeded before it could be canceled says so: the caller
// then settles the success (a booking, or a refund).
func TestStripeCancelAfterSuccess(t *testing.T) {
	t.Parallel()
	succeeded := intentJSON(t, map[string]any{"status": "succeeded", "latest_charge": "ch_1"})
	base, rec := serve(t, func(w http.ResponseWriter, r *http.Request, _ func([]byte)) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
				"message": "You cannot cancel this PaymentIntent because it has a status of succeeded."}}`)
			return
		}
		_, _ = io.WriteString(w, succeeded)
	})
	status, err := newStripe(t, base).Cancel(t.Context(), "pi_123")
	require.NoError(t, err)
	require.Equal(t, payments.StatusSucceeded, status)
	require.Len(t, rec.all(), 2, "the cancel, then the status")
}

// ClientSecret asks Stripe: Boxoffice does not keep client secrets.
func TestStripeClientSecret(t *testing.T) {
	t.Parallel()
	base, rec := viaStripeMock(t)
	secret, err := newStripe(t, base).ClientSecret(t.Context(), "pi_123")
	require.NoError(t, err)
	require.Regexp(t, `^pi_\w+_secret_\w+$`, secret)
	req := rec.only(t)
	require.Equal(t, http.MethodGet, req.Method)
	require.Equal(t, "/v1/payment_intents/pi_123", req.Path)
}
