package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
)

// apiError is an error with its HTTP answer decided where it is raised.
type apiError struct {
	Status  int            `json:"-"`
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func newError(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

var (
	errUnauthorized = newError(http.StatusUnauthorized, "unauthorized", "sign in first: send Authorization: Bearer <token>")
	errForbidden    = newError(http.StatusForbidden, "forbidden", "only organizers may do this")
)

func notFound(what string) *apiError {
	return newError(http.StatusNotFound, "not_found", what+" not found")
}

// eventError is an error about the event a request names, so that its answer
// can name the event: a handler wraps what it was told with the event (ev once
// it has been read, else its id) and the table below answers.
type eventError struct {
	id  string
	ev  *store.Event
	err error
}

func (e *eventError) Error() string { return e.err.Error() }
func (e *eventError) Unwrap() error { return e.err }

// aboutEventID wraps err, if any, with the id of the event the request names.
func aboutEventID(id string, err error) error {
	if err == nil {
		return nil
	}
	return &eventError{id: id, err: err}
}

// aboutEvent wraps err, if any, with the event the request is about.
func aboutEvent(ev *store.Event, err error) error {
	if err == nil {
		return nil
	}
	return &eventError{id: ev.ID, ev: ev, err: err}
}

// answer is the answer naming the event, or nil when the error says nothing
// about the event and the table answers it as it would unwrapped.
func (e *eventError) answer() *apiError {
	var dup *store.DuplicateError
	switch {
	case e.ev == nil && errors.Is(e.err, store.ErrNotFound):
		return notFound("event " + e.id)
	case errors.As(e.err, &dup) && dup.Field == "id":
		return &apiError{Status: http.StatusConflict, Code: "event_exists",
			Message: "an event with id " + e.id + " exists", Details: map[string]any{"field": "id"}}
	case errors.Is(e.err, queue.ErrNotInLine):
		return newError(http.StatusNotFound, "not_in_line", "you are not in the line for "+e.id+"; join it with POST /api/v1/events/"+e.id+"/queue")
	case errors.Is(e.err, queue.ErrPlaceLost):
		return newError(http.StatusGone, "place_lost", "you left the line, were away too long or your shopping time ended; join again for a new place at the back")
	case e.ev != nil && errors.Is(e.err, queue.ErrNotOnSale):
		return &apiError{Status: http.StatusConflict, Code: "line_closed",
			Message: "the line for " + e.id + " is not open: it opens at " + e.ev.LobbyOpensAt.Format(time.RFC3339) + " and closes when the show starts",
			Details: map[string]any{"lobby_opens_at": e.ev.LobbyOpensAt, "starts_at": e.ev.StartsAt}}
	}
	return nil
}

// toAPIError maps every error a handler may return to the envelope of API.md. This
// is the one place that knows HTTP statuses for domain errors.
func toAPIError(err error) (e *apiError, unexpected bool) {
	var (
		ae       *apiError
		about    *eventError
		ve       *store.ValidationError
		he       *echo.HTTPError
		taken    *inventory.SeatTakenError
		dup      *store.DuplicateError
		declined *booking.DeclinedError
	)
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.As(err, &about) && about.answer() != nil:
		return about.answer(), false
	case errors.As(err, &taken):
		return &apiError{Status: http.StatusConflict, Code: "seat_taken", Message: taken.Error(),
			Details: map[string]any{"seats": taken.Seats}}, false
	case errors.As(err, &ve):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: ve.Error(),
			Details: map[string]any{"field": ve.Field}}, false
	case errors.Is(err, inventory.ErrNotAdmitted), errors.Is(err, queue.ErrNoSession):
		return newError(http.StatusForbidden, "not_admitted", "you have no shopping session for this event: join the line and wait for your turn"), false
	case errors.Is(err, session.ErrInvalid):
		return newError(http.StatusForbidden, "invalid_session", "the session token is not valid for your current session"), false
	case errors.Is(err, session.ErrExpired):
		return newError(http.StatusGone, "session_expired", "your shopping session has ended"), false
	case errors.Is(err, inventory.ErrLimitReached):
		return newError(http.StatusConflict, "limit_reached", "you have reached this event's limit of tickets per fan"), false
	case errors.Is(err, inventory.ErrNotEnough):
		return newError(http.StatusConflict, "sold_out", "not enough tickets are available for that request"), false
	case errors.Is(err, inventory.ErrUnknownSeat):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "unknown_seat", Message: err.Error(), Details: map[string]any{"field": "seats"}}, false
	case errors.Is(err, inventory.ErrUnknownZone), errors.Is(err, inventory.ErrWrongKind), errors.Is(err, inventory.ErrNoTickets):
		return newError(http.StatusUnprocessableEntity, "invalid", err.Error()), false
	case errors.Is(err, inventory.ErrNotLoaded):
		return newError(http.StatusServiceUnavailable, "unavailable", "inventory is being rebuilt; retry shortly"), false
	case errors.Is(err, booking.ErrNotYours):
		return notFound("resource"), false
	case errors.Is(err, booking.ErrHoldGone):
		return newError(http.StatusGone, "reservation_expired", err.Error()), false
	case errors.Is(err, booking.ErrRefunded):
		return newError(http.StatusGone, "reservation_expired", err.Error()), false
	case errors.Is(err, booking.ErrNotPaid):
		return newError(http.StatusPaymentRequired, "payment_required", "the payment has not succeeded"), false
	case errors.Is(err, booking.ErrPaymentMismatch):
		return newError(http.StatusConflict, "payment_mismatch", err.Error()), false
	case errors.Is(err, booking.ErrPaymentInProgress):
		return newError(http.StatusConflict, "payment_in_progress", err.Error()), false
	case errors.Is(err, store.ErrBookingCancelled):
		return newError(http.StatusConflict, "already_cancelled", store.ErrBookingCancelled.Error()), false
	case errors.Is(err, store.ErrCheckedIn):
		return newError(http.StatusConflict, "checked_in", "a ticket of this booking was checked in at the door: it can no longer be cancelled"), false
	case errors.Is(err, payments.ErrUnknownCard):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: err.Error(), Details: map[string]any{"field": "card_number"}}, false
	case errors.Is(err, payments.ErrNotConfirmable):
		return newError(http.StatusConflict, "not_confirmable", err.Error()), false
	case errors.As(err, &declined):
		return &apiError{Status: http.StatusPaymentRequired, Code: "card_declined",
			Message: "the card was declined; try another card", Details: map[string]any{"payment_id": declined.PaymentID}}, false
	case errors.Is(err, payments.ErrDeclined):
		return newError(http.StatusPaymentRequired, "card_declined", "the card was declined; try another card"), false
	case errors.Is(err, payments.ErrProviderBusy):
		return newError(http.StatusServiceUnavailable, "provider_unavailable", "the payment provider is busy or unreachable; retry shortly"), true
	case errors.Is(err, payments.ErrProviderRejected):
		return newError(http.StatusBadGateway, "provider_rejected", "the payment provider refused the request; it has been logged"), true
	case errors.Is(err, store.ErrBadText):
		return newError(http.StatusBadRequest, "bad_text", "an id or text in the request contains a NUL byte or is not valid UTF-8"), false
	case errors.Is(err, store.ErrNotFound):
		return notFound("resource"), false
	case errors.Is(err, store.ErrBadCredentials):
		return newError(http.StatusUnauthorized, "bad_credentials", err.Error()), false
	case errors.Is(err, store.ErrKeyReused):
		return newError(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was already used with a different request"), false
	case errors.Is(err, store.ErrKeyInFlight):
		return newError(http.StatusConflict, "idempotency_key_in_flight", "a request with this Idempotency-Key is still running; retry shortly"), false
	case errors.As(err, &dup) && dup.Field == "email":
		return &apiError{Status: http.StatusConflict, Code: "email_taken",
			Message: "an account with this email exists; sign in instead", Details: map[string]any{"field": "email"}}, false
	case errors.Is(err, store.ErrDuplicate):
		return newError(http.StatusConflict, "conflict", "it already exists"), false
	case errors.As(err, &he):
		return fromEcho(he), false
	case unavailable(err):
		return newError(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry shortly"), true
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return newError(499, "canceled", "request canceled"), false
	}
	return newError(http.StatusInternalServerError, "internal", "internal error"), true
}

func fromEcho(he *echo.HTTPError) *apiError {
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok {
		msg = m
	}
	code := map[int]string{
		http.StatusNotFound:              "not_found",
		http.StatusMethodNotAllowed:      "method_not_allowed",
		http.StatusRequestEntityTooLarge: "too_large",
		http.StatusUnsupportedMediaType:  "unsupported_media_type",
		http.StatusBadRequest:            "bad_request",
		http.StatusUnauthorized:          "unauthorized",
		http.StatusForbidden:             "forbidden",
		http.StatusTooManyRequests:       "rate_limited",
	}[he.Code]
	if code == "" {
		code = "error"
	}
	return &apiError{Status: he.Code, Code: code, Message: msg}
}

// unavailable reports errors that mean PostgreSQL or Redis cannot be reached
// now: the store says so of PostgreSQL; Redis's are network errors, timeouts,
// and every connection of the replica's pool busy past its wait (a burst).
func unavailable(err error) bool {
	var ne net.Error
	return errors.Is(err, store.ErrUnavailable) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, redis.ErrPoolTimeout)
}

// handleError is echo's error handler: the envelope of API.md for every error.
// Only unexpected errors are logged; the client sees a generic message.
func (s *Server) handleError(err error, c echo.Context) {
	e, unexpected := toAPIError(err)
	if unexpected {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			"request_id", requestIDOf(c), "method", c.Request().Method, "route", c.Path(), "err", err)
	}
	if c.Response().Committed {
		return
	}
	if e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests {
		if c.Response().Header().Get("Retry-After") == "" {
			c.Response().Header().Set("Retry-After", strconv.Itoa(2))
		}
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	_ = c.JSON(e.Status, map[string]*apiError{"error": e})
}
