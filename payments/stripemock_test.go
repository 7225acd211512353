package payments_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/boxofficehq/boxoffice/payments"
)

const (
	testSecretKey     = "sk_test_123" // the key stripe-mock's examples use
	testWebhookSecret = "whsec_boxoffice_test"
)

// newStripe is a provider with no retries against base.
func newStripe(t *testing.T, base string) *payments.Stripe {
	t.Helper()
	s, err := payments.NewStripe(payments.StripeConfig{SecretKey: testSecretKey, WebhookSecret: testWebhookSecret,
		PublishableKey: "pk_test_123", APIBase: base, MaxRetries: -1})
	require.NoError(t, err)
	return s
}

// recorded is one request a test server saw, and its answer.
type recorded struct {
	Method, Path string
	Query, Form  url.Values
	Header       http.Header
	Response     []byte
}

// recorder keeps the requests a test server saw.
type recorder struct {
	mu   sync.Mutex
	reqs []*recorded
}

func (r *recorder) all() []*recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*recorded(nil), r.reqs...)
}

// only returns the single request the server saw.
func (r *recorder) only(t *testing.T) *recorded {
	t.Helper()
	reqs := r.all()
	require.Len(t, reqs, 1)
	return reqs[0]
}

// serve runs h behind a recorder; h may keep the answer it gives with save.
func serve(t *testing.T, h func(w http.ResponseWriter, r *http.Request, save func(answer []byte))) (string, *recorder) {
	t.Helper()
	rc := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec := &recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Form: form, Header: r.Header.Clone()}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, rec)
		rc.mu.Unlock()
		h(w, r, func(answer []byte) {
			rc.mu.Lock()
			rec.Response = answer
			rc.mu.Unlock()
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rc
}

// viaStripeMock is a proxy to stripe-mock that records what the provider sends
// (stripe-mock validates it but does not echo metadata or headers).
func viaStripeMock(t *testing.T) (string, *recorder) {
	t.Helper()
	target, err := url.Parse(stripeMockURL)
	require.NoError(t, err)
	return serve(t, func(w http.ResponseWriter, r *http.Request, save func([]byte)) {
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
			ModifyResponse: func(res *http.Response) error {
				body, err := io.ReadAll(res.Body)
				if err != nil {
					return err
				}
				res.Body = io.NopCloser(bytes.NewReader(body))
				save(body)
				return nil
			},
		}
		proxy.ServeHTTP(w, r)
	})
}

// fakeStripe answers every request with status and a JSON body, as Stripe
// would; Request-Id lets tests check that errors carry it.
func fakeStripe(t *testing.T, status int, body string) (string, *recorder) {
	t.Helper()
	return serve(t, func(w http.ResponseWriter, _ *http.Request, _ func([]byte)) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// event is a webhook delivery as Stripe sends it.
func event(t *testing.T, id, typ, apiVersion string, object map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": apiVersion, "created": time.Now().Unix(),
		"livemode": false, "data": map[string]any{"object": object},
	})
	require.NoError(t, err)
	return b
}

// sign signs payload as Stripe would, with secret at time at.
func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// intentJSON is a PaymentIntent fixture for fakeStripe.
func intentJSON(t *testing.T, fields map[string]any) string {
	t.Helper()
	pi := map[string]any{"id": "pi_123", "object": "payment_intent", "amount": 5000, "currency": "eur",
		"client_secret": "pi_123_secret_abc", "status": string(stripe.PaymentIntentStatusRequiresPaymentMethod)}
	for k, v := range fields {
		pi[k] = v
	}
	b, err := json.Marshal(pi)
	require.NoError(t, err)
	return string(b)
}
