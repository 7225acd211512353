package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
)

// DefaultStripeMaxRetries is how often a request is retried when
// StripeConfig.MaxRetries is 0.
const DefaultStripeMaxRetries = 2

var (
	// ErrProviderBusy is a provider that is rate limiting us, failing or
	// unreachable: retry later.
	ErrProviderBusy = errors.New("the payment provider is busy or unreachable; retry later")
	// ErrProviderRejected is a request the provider refused as invalid: a bug
	// or a configuration problem (a wrong key), never the fan's fault.
	ErrProviderRejected = errors.New("the payment provider rejected the request")
	// ErrBadSignature is a webhook that is unsigned, wrongly signed or too old.
	ErrBadSignature = errors.New("the webhook signature is missing, wrong or too old")
	// ErrBadWebhook is a correctly signed webhook whose event cannot be read.
	ErrBadWebhook = errors.New("the webhook event cannot be read")
)

// StripeConfig configures the Stripe provider.
type StripeConfig struct {
	SecretKey      string // sk_… or a restricted rk_… key
	WebhookSecret  string // whsec_…, the signing secret of our webhook endpoint
	PublishableKey string // pk_…, for the payment page; optional
	APIBase        string // "" is Stripe's real API; tests point it at stripe-mock
	// MaxRetries is how often stripe-go retries a request Stripe says is safe
	// to retry (network errors, 409, Stripe-Should-Retry), with backoff and the
	// same idempotency key. 0 is DefaultStripeMaxRetries; negative is none.
	MaxRetries int
}

func (c StripeConfig) validate() error {
	var errs []error
	switch {
	case c.SecretKey == "":
		errs = append(errs, errors.New("secret key is required"))
	case !strings.HasPrefix(c.SecretKey, "sk_") && !strings.HasPrefix(c.SecretKey, "rk_"):
		errs = append(errs, errors.New("secret key must start with sk_ or rk_ (a pk_ key is the publishable one)"))
	}
	switch {
	case c.WebhookSecret == "":
		errs = append(errs, errors.New("webhook secret is required"))
	case !strings.HasPrefix(c.WebhookSecret, "whsec_"):
		errs = append(errs, errors.New("webhook secret must start with whsec_"))
	}
	if c.PublishableKey != "" {
		if !strings.HasPrefix(c.PublishableKey, "pk_") {
			errs = append(errs, errors.New("publishable key must start with pk_"))
		} else if sm, pm := keyMode(c.SecretKey), keyMode(c.PublishableKey); sm != "" && pm != "" && sm != pm {
			errs = append(errs, fmt.Errorf("secret key is %s mode but publishable key is %s mode", sm, pm))
		}
	}
	if c.APIBase != "" {
		if u, err := url.Parse(c.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("API base %q is not an http(s) URL", c.APIBase))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stripe config: %w", err)
	}
	return nil
}

// keyMode is "test" or "live" for keys like sk_test_… and pk_live_….
func keyMode(key string) string {
	_, rest, _ := strings.Cut(key, "_")
	mode, _, _ := strings.Cut(rest, "_")
	if mode == "test" || mode == "live" {
		return mode
	}
	return ""
}

// Stripe takes card payments with Stripe PaymentIntents: we create the intent,
// the fan confirms it in the browser with Stripe's Payment Element, and Stripe
// reports the outcome by signed webhook (and to Status when asked).
type Stripe struct {
	api            *client.API
	webhookSecret  string
	publishableKey string
}

var _ Provider = (*Stripe)(nil)

// NewStripe validates cfg and builds a client of its own (no stripe-go
// globals, so several can live in one process).
func NewStripe(cfg StripeConfig) (*Stripe, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultStripeMaxRetries
	case retries < 0:
		retries = 0
	}
	backend := func(typ stripe.SupportedBackend) stripe.Backend {
		bc := &stripe.BackendConfig{
			// Per attempt: refunds run on contexts without a deadline.
			HTTPClient:        &http.Client{Timeout: 30 * time.Second},
			LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull}, // we return errors; callers log
			MaxNetworkRetries: stripe.Int64(int64(retries)),
		}
		if cfg.APIBase != "" {
			bc.URL = stripe.String(cfg.APIBase)
		}
		return stripe.GetBackendWithConfig(typ, bc)
	}
	api := client.New(cfg.SecretKey, &stripe.Backends{
		API: backend(stripe.APIBackend), Connect: backend(stripe.ConnectBackend), Uploads: backend(stripe.UploadsBackend),
	})
	return &Stripe{api: api, webhookSecret: cfg.WebhookSecret, publishableKey: cfg.PublishableKey}, nil
}

// Name is the provider's name in payments.
func (s *Stripe) Name() string { return "stripe" }

// PublishableKey is the key the payment page gives Stripe.js.
func (s *Stripe) PublishableKey() string { return s.publishableKey }

// Create makes a PaymentIntent. Its idempotency key is our payment id, made once
// per POST /payments, and stripe-go's retries resend that key, so a retried
// request never makes a second intent. A fan whose card was declined may pay
// the same intent with another card, or start a new payment: a new id.
func (s *Stripe) Create(ctx context.Context, c Charge) (*Intent, error) {
	if len(c.HoldIDs) == 0 || c.PaymentID == "" {
		return nil, errors.New("stripe create payment intent: a charge needs holds and a payment id")
	}
	params := &stripe.PaymentIntentParams{
		Amount:                  stripe.Int64(c.AmountCents),
		Currency:                stripe.String(strings.ToLower(c.Currency)),
		AutomaticPaymentMethods: &stripe.PaymentIntentAutomaticPaymentMethodsParams{Enabled: stripe.Bool(true)},
		Metadata: map[string]string{"payment_id": c.PaymentID, "event_id": c.EventID,
			"reservation_ids": strings.Join(c.HoldIDs, ","), "user_id": c.UserID},
	}
	params.Context = ctx
	params.SetIdempotencyKey("boxoffice-pi-" + c.PaymentID)
	pi, err := s.api.PaymentIntents.New(params)
	if err != nil {
		return nil, stripeError("create payment intent", err)
	}
	return &Intent{Ref: pi.ID, ClientSecret: pi.ClientSecret, Status: intentStatus(pi)}, nil
}

// ClientSecret retrieves the intent's client secret: Boxoffice does not keep it.
func (s *Stripe) ClientSecret(ctx context.Context, ref string) (string, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := s.api.PaymentIntents.Get(ref, params)
	if err != nil {
		return "", stripeError("get payment intent "+ref, err)
	}
	return pi.ClientSecret, nil
}

// Status retrieves the PaymentIntent and its latest charge, to see refunds.
func (s *Stripe) Status(ctx context.Context, ref string) (string, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	params.AddExpand("latest_charge")
	pi, err := s.api.PaymentIntents.Get(ref, params)
	if err != nil {
		return "", stripeError("get payment intent "+ref, err)
	}
	return intentStatus(pi), nil
}

// Confirm is not ours to do: the fan confirms the card with Stripe in the browser.
func (s *Stripe) Confirm(context.Context, string, string) (string, error) {
	return "", ErrNotConfirmable
}

// Refund refunds the PaymentIntent in full, with the attempt's idempotency key
// (stripe-go's own retries resend it). Stripe answers a refund of a refunded
// charge with charge_already_refunded, which is success too.
func (s *Stripe) Refund(ctx context.Context, ref, key string) error {
	params := &stripe.RefundParams{PaymentIntent: stripe.String(ref)}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	_, err := s.api.Refunds.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeChargeAlreadyRefunded {
		return nil
	}
	if err != nil {
		return stripeError("refund payment intent "+ref, err)
	}
	return nil
}

// Cancel cancels the PaymentIntent, so the fan can no longer pay it. One that
// succeeded meanwhile cannot be canceled: its status says so.
func (s *Stripe) Cancel(ctx context.Context, ref string) (string, error) {
	params := &stripe.PaymentIntentCancelParams{}
	params.Context = ctx
	pi, err := s.api.PaymentIntents.Cancel(ref, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState {
		return s.Status(ctx, ref)
	}
	if err != nil {
		return "", stripeError("cancel payment intent "+ref, err)
	}
	return intentStatus(pi), nil
}

// intentStatus maps a PaymentIntent to our statuses. Stripe leaves a failed
// attempt in requires_payment_method with last_payment_error set; the fan may
// still pay it with another card, and then it becomes succeeded.
func intentStatus(pi *stripe.PaymentIntent) string {
	if ch := pi.LatestCharge; ch != nil && fullyRefunded(ch.Refunded, ch.Amount, ch.AmountRefunded) {
		return StatusRefunded
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded:
		return StatusSucceeded
	case stripe.PaymentIntentStatusCanceled:
		return StatusFailed
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		if pi.LastPaymentError != nil {
			return StatusFailed
		}
	}
	return StatusPending // processing, requires_confirmation, requires_action, requires_capture
}

// fullyRefunded is a charge refunded in full; a partial refund leaves it paid.
func fullyRefunded(refunded bool, amount, amountRefunded int64) bool {
	return refunded || (amount > 0 && amountRefunded >= amount)
}

// providerError keeps the sentinel the API maps and Stripe's own error, for
// errors.Is and errors.As, with a message free of Stripe's raw JSON.
type providerError struct {
	op   string
	kind error // nil when no sentinel fits (a cancelled context)
	err  error
}

func stripeError(op string, err error) error {
	return &providerError{op: op, kind: errorKind(err), err: err}
}

func (e *providerError) Error() string {
	msg := "stripe " + e.op + ": "
	if e.kind != nil {
		msg += e.kind.Error() + ": "
	}
	var se *stripe.Error
	if !errors.As(e.err, &se) {
		return msg + e.err.Error()
	}
	msg += fmt.Sprintf("%s (HTTP %d, type %s", se.Msg, se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		msg += ", code " + string(se.Code)
	}
	if se.RequestID != "" {
		msg += ", request " + se.RequestID
	}
	return msg + ")"
}

func (e *providerError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// errorKind sorts an error from stripe-go into the sentinel the API maps.
func errorKind(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		if errors.Is(err, context.Canceled) {
			return nil // our caller gave up; nothing about Stripe
		}
		return ErrProviderBusy // network errors and timeouts
	}
	switch {
	case se.Type == stripe.ErrorTypeCard || se.Code == stripe.ErrorCodeCardDeclined:
		return ErrDeclined
	case se.HTTPStatusCode == http.StatusTooManyRequests, se.Code == stripe.ErrorCodeRateLimit,
		se.Code == stripe.ErrorCodeLockTimeout:
		return ErrProviderBusy
	case se.HTTPStatusCode == http.StatusConflict, se.Code == stripe.ErrorCodeIdempotencyKeyInUse:
		return ErrProviderBusy // a concurrent request with the same key: retry later
	case se.Type == stripe.ErrorTypeAPI, se.HTTPStatusCode >= http.StatusInternalServerError:
		return ErrProviderBusy
	default: // invalid_request_error (400, 401, 403, 404), idempotency_error
		return ErrProviderRejected
	}
}

// WebhookEvent is what a Stripe webhook says about one of our payments.
type WebhookEvent struct {
	ID, Type   string // de-duplicate on ID: Stripe delivers at least once
	PaymentRef string // the PaymentIntent id (our ProviderRef)
	PaymentID  string // metadata payment_id, if present
	Status     string // succeeded, failed or refunded; "" for events we ignore
}

// webhookObject is the part of a PaymentIntent or Charge a webhook needs. We
// read these long-stable fields rather than stripe-go's structs, so an event
// in another API version whose other fields changed shape still decodes.
type webhookObject struct {
	ID             string            `json:"id"`
	Metadata       map[string]string `json:"metadata"`
	PaymentIntent  json.RawMessage   `json:"payment_intent"` // charge: an id, or an object if expanded
	Amount         int64             `json:"amount"`
	AmountRefunded int64             `json:"amount_refunded"`
	Refunded       bool              `json:"refunded"`
}

// ParseWebhook verifies a webhook's signature over the raw request body and
// reads the event. Verification uses the default tolerance of 300 s (older is
// ErrBadSignature: a replay); a future timestamp passes, so callers
// de-duplicate on the event ID. The event's API version is the endpoint's,
// set in Stripe's dashboard, and may differ from stripe-go's pinned
// 2023-10-16; we accept any, since we read only fields every version has.
func (s *Stripe) ParseWebhook(payload []byte, sigHeader string) (*WebhookEvent, error) {
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, s.webhookSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return nil, fmt.Errorf("stripe webhook: %w: %w", ErrBadSignature, err)
		}
		return nil, fmt.Errorf("stripe webhook: %w: %w", ErrBadWebhook, err)
	}
	e := &WebhookEvent{ID: ev.ID, Type: string(ev.Type)}
	switch ev.Type {
	case stripe.EventTypePaymentIntentSucceeded, stripe.EventTypePaymentIntentPaymentFailed, stripe.EventTypeChargeRefunded:
	default:
		return e, nil
	}
	var obj webhookObject
	if ev.Data == nil || json.Unmarshal(ev.Data.Raw, &obj) != nil {
		return nil, fmt.Errorf("stripe webhook %s: %w: no %s object", ev.ID, ErrBadWebhook, ev.Type)
	}
	e.PaymentID = obj.Metadata["payment_id"]
	switch ev.Type {
	case stripe.EventTypePaymentIntentSucceeded:
		e.PaymentRef, e.Status = obj.ID, StatusSucceeded
	case stripe.EventTypePaymentIntentPaymentFailed:
		e.PaymentRef, e.Status = obj.ID, StatusFailed
	case stripe.EventTypeChargeRefunded:
		// Stripe sends charge.refunded for partial refunds too; only a full
		// refund makes the payment refunded, as in Status.
		e.PaymentRef = expandableID(obj.PaymentIntent)
		if e.PaymentRef != "" && fullyRefunded(obj.Refunded, obj.Amount, obj.AmountRefunded) {
			e.Status = StatusRefunded
		}
	}
	return e, nil
}

// expandableID reads a field that is an id or, when expanded, an object.
func expandableID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &obj)
	return obj.ID
}
