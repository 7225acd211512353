package session_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/session"
)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	g := session.NewSigner("a-secret-of-at-least-thirty-two-chars", func() time.Time { return now })
	s := &session.Session{ID: "s1", EventID: "ev", UserID: "u1", ExpiresAt: now.Add(10 * time.Minute)}
	g.Sign(s)

	got, err := g.Verify(s.Token, "ev", "u1")
	require.NoError(t, err)
	require.Equal(t, "s1", got.ID)
	require.True(t, got.ExpiresAt.Equal(s.ExpiresAt))
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	g := session.NewSigner("a-secret-of-at-least-thirty-two-chars", func() time.Time { return now })
	other := session.NewSigner("another-secret-of-thirty-two-chars!!", func() time.Time { return now })
	s := &session.Session{ID: "s1", EventID: "ev", UserID: "u1", ExpiresAt: now.Add(time.Minute)}
	g.Sign(s)
	forged := &session.Session{ID: "s1", EventID: "ev", UserID: "u1", ExpiresAt: now.Add(time.Minute)}
	other.Sign(forged)
	expired := &session.Session{ID: "s2", EventID: "ev", UserID: "u1", ExpiresAt: now.Add(-time.Second)}
	g.Sign(expired)
	// Altering one character of the payload (a later expiry, another user) breaks the MAC.
	altered := []byte(s.Token)
	altered[3] ^= 1

	tests := []struct {
		name    string
		token   string
		event   string
		user    string
		wantErr error
	}{
		{name: "other secret", token: forged.Token, event: "ev", user: "u1", wantErr: session.ErrInvalid},
		{name: "altered", token: string(altered), event: "ev", user: "u1", wantErr: session.ErrInvalid},
		{name: "other user", token: s.Token, event: "ev", user: "u2", wantErr: session.ErrInvalid},
		{name: "other event", token: s.Token, event: "ev2", user: "u1", wantErr: session.ErrInvalid},
		{name: "garbage", token: "not.a-token", event: "ev", user: "u1", wantErr: session.ErrInvalid},
		{name: "empty", token: "", event: "ev", user: "u1", wantErr: session.ErrInvalid},
		{name: "expired", token: expired.Token, event: "ev", user: "u1", wantErr: session.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Verify(tt.token, tt.event, tt.user)
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}
