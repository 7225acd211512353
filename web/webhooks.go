package web

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/store"
)

// WebhookVerifier checks and reads a payment provider's deliveries;
// *payments.Stripe satisfies it.
type WebhookVerifier interface {
	ParseWebhook(payload []byte, sigHeader string) (*payments.WebhookEvent, error)
}

// Settler acts on a provider's word about a payment; *booking.Service satisfies it.
type Settler interface {
	Settle(ctx context.Context, provider, ref, status string) error
}

// stripeWebhook takes Stripe's events. Only signed deliveries count (400 and no
// effect otherwise); each event id has an effect once, however often Stripe
// delivers it; a failure answers 5xx so that Stripe retries.
func (s *Server) stripeWebhook(c echo.Context) error {
	if s.webhooks == nil {
		return newError(http.StatusNotFound, "not_configured", "Stripe is not configured on this server (PAYMENTS_PROVIDER=stripe)")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return readError(err)
	}
	ev, err := s.webhooks.ParseWebhook(body, c.Request().Header.Get("Stripe-Signature"))
	if err != nil {
		return newError(http.StatusBadRequest, "bad_signature", "the webhook is unsigned, wrongly signed or too old")
	}
	if ev.Status == "" {
		return c.JSON(http.StatusOK, map[string]any{"received": true, "handled": false})
	}
	ctx := c.Request().Context()
	first, err := s.store.FirstDelivery(ctx, "stripe", ev.ID, ev.Type)
	if errors.Is(err, store.ErrBadText) {
		// Signed but unusable: answering an error would only make Stripe retry
		// it for days.
		return c.JSON(http.StatusOK, map[string]any{"received": true, "handled": false})
	}
	if err != nil {
		return err
	}
	if !first {
		return c.JSON(http.StatusOK, map[string]any{"received": true, "duplicate": true})
	}
	if err := s.settler.Settle(ctx, "stripe", ev.PaymentRef, ev.Status); err != nil {
		if ferr := s.store.ForgetDelivery(context.WithoutCancel(ctx), "stripe", ev.ID); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"received": true, "handled": true})
}
