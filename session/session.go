// Package session is the shopping window a fan gets when admitted from the line:
// its start (the claim of an admission), the signed token that proves it, the
// presence of connected fans, and its end (timed out, booked, left) with what
// the end does. See Service.
package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrInvalid is a token that was forged, altered or made with another secret.
	ErrInvalid = errors.New("session token is not valid")
	// ErrExpired is a genuine token whose window has closed.
	ErrExpired = errors.New("session has expired")
)

// Session is one admitted fan's time to buy.
type Session struct {
	ID        string
	EventID   string
	UserID    string
	ExpiresAt time.Time
	// Token proves the session to any replica without a lookup.
	Token string
}

// Signer makes and checks session tokens with the deployment's secret. Every
// replica must share the secret.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner keys tokens with secret (BOXOFFICE_SECRET).
func NewSigner(secret string, now func() time.Time) *Signer {
	// Derive a key for this purpose only, so the secret can sign other things too.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("boxoffice session v1"))
	return &Signer{key: m.Sum(nil), now: now}
}

// Sign fills in s.Token.
func (g *Signer) Sign(s *Session) {
	payload := strings.Join([]string{s.EventID, s.UserID, s.ID, strconv.FormatInt(s.ExpiresAt.UnixMilli(), 10)}, "\n")
	s.Token = base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + g.mac(payload)
}

// Verify returns the session a token proves, for this event and user only.
func (g *Signer) Verify(token, eventID, userID string) (*Session, error) {
	enc, sig, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(sig), []byte(g.mac(string(raw)))) {
		return nil, ErrInvalid
	}
	parts := strings.Split(string(raw), "\n")
	if len(parts) != 4 || parts[0] != eventID || parts[1] != userID {
		return nil, ErrInvalid
	}
	ms, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return nil, ErrInvalid
	}
	s := &Session{ID: parts[2], EventID: parts[0], UserID: parts[1], ExpiresAt: time.UnixMilli(ms).UTC(), Token: token}
	if !g.now().Before(s.ExpiresAt) {
		return nil, ErrExpired
	}
	return s, nil
}

func (g *Signer) mac(payload string) string {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// String is for logs: never the token.
func (s *Session) String() string {
	return fmt.Sprintf("session %s of %s at %s", s.ID, s.UserID, s.EventID)
}
