package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// decode reads the request body as exactly one JSON object into v. Malformed JSON
// and unknown fields are 400; a value of the wrong type is 422, naming the field.
func decode(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return readError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newError(http.StatusBadRequest, "malformed_json", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return newError(http.StatusBadRequest, "malformed_json", "the request body holds more than one JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
		timeErr *time.ParseError
	)
	switch {
	case errors.As(err, &syntax):
		return newError(http.StatusBadRequest, "malformed_json", fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newError(http.StatusBadRequest, "malformed_json", "malformed JSON: the body ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &apiError{Status: http.StatusBadRequest, Code: "unknown_field",
			Message: "unknown field " + field, Details: map[string]any{"field": strings.Trim(field, `"`)}}
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return newError(http.StatusBadRequest, "malformed_json", "the request body must be a JSON object")
		}
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid",
			Message: fmt.Sprintf("%s must be a %s, not a JSON %s", field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value),
			Details: map[string]any{"field": field}}
	case errors.As(err, &timeErr):
		return newError(http.StatusUnprocessableEntity, "invalid", "times must be RFC 3339, such as 2026-12-01T10:00:00Z")
	}
	// Other decoding failures (a number out of range, bad UTF-16 escapes) are bad values.
	return newError(http.StatusUnprocessableEntity, "invalid", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	}
	return goKind
}

// readError answers a body that could not be read: too large (echo's BodyLimit),
// too slow (Limits.BodyTimeout) or cut off.
func readError(err error) error {
	var (
		he *echo.HTTPError
		ne net.Error
	)
	switch {
	case errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge:
		return newError(http.StatusRequestEntityTooLarge, "too_large", "the request body is larger than 1 MB")
	case errors.As(err, &ne) && ne.Timeout():
		return newError(http.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
	}
	return newError(http.StatusBadRequest, "bad_request", "could not read the request body")
}

// requireJSON refuses a body that is not declared as JSON (a missing
// Content-Type included) on every route but Stripe's webhook. A cross-site form
// can send text/plain without asking the browser's permission; JSON it cannot.
func (s *Server) requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength == 0 || r.Method == http.MethodGet || c.Path() == "/api/v1/webhooks/stripe" {
			return next(c)
		}
		if t, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || t != echo.MIMEApplicationJSON {
			return newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
				"send the body as JSON, with Content-Type: application/json")
		}
		return next(c)
	}
}
