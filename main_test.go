package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
)

func runWith(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), args,
		func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

// A missing or malformed setting fails at start with one line naming it.
func TestConfigErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "no secret", env: map[string]string{}, want: "BOXOFFICE_SECRET is not set"},
		{name: "short secret", env: map[string]string{"BOXOFFICE_SECRET": "short"}, want: "BOXOFFICE_SECRET is too short"},
		{name: "bad database", env: map[string]string{"BOXOFFICE_SECRET": secret, "DATABASE_URL": "mysql://x"}, want: "DATABASE_URL is malformed"},
		{name: "bad redis", env: map[string]string{"BOXOFFICE_SECRET": secret, "REDIS_URL": "http://x"}, want: "REDIS_URL is malformed"},
		{name: "bad addr", env: map[string]string{"BOXOFFICE_SECRET": secret, "BOXOFFICE_ADDR": "8080"}, want: "BOXOFFICE_ADDR is malformed"},
		{name: "half organizer", env: map[string]string{"BOXOFFICE_SECRET": secret, "BOXOFFICE_ORGANIZER_EMAIL": "a@b.example"}, want: "BOXOFFICE_ORGANIZER_EMAIL and BOXOFFICE_ORGANIZER_PASSWORD"},
		{name: "bad bool", env: map[string]string{"BOXOFFICE_SECRET": secret, "BOXOFFICE_SECURE_COOKIES": "yes please"}, want: "BOXOFFICE_SECURE_COOKIES is malformed"},
		{name: "unknown provider", env: map[string]string{"BOXOFFICE_SECRET": secret, "PAYMENTS_PROVIDER": "paypal"}, want: "PAYMENTS_PROVIDER is \"paypal\""},
		{name: "stripe without keys", env: map[string]string{"BOXOFFICE_SECRET": secret, "PAYMENTS_PROVIDER": "stripe"}, want: "needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runWith(t, tt.env, "serve")
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n")
		})
	}
	_, err := runWith(t, nil, "frobnicate")
	require.ErrorIs(t, err, errUsage)
	_, err = runWith(t, nil, "migrate", "sideways")
	require.ErrorContains(t, err, "unknown direction")
}

// verify-shuffle recomputes the order from a published audit and refuses a seed
// that does not match its commitment.
func TestVerifyShuffle(t *testing.T) {
	t.Parallel()
	seed := strings.Repeat("ab", 32)
	raw, _ := hex.DecodeString(seed)
	sum := sha256.Sum256(raw)
	a := queue.Audit{Commitment: hex.EncodeToString(sum[:]), Seed: seed, Lobby: []string{"j_a", "j_b", "j_c", "j_d"}}
	order, err := queue.Order(seed, a.Lobby)
	require.NoError(t, err)

	file := filepath.Join(t.TempDir(), "audit.json")
	data, _ := json.Marshal(a)
	require.NoError(t, os.WriteFile(file, data, 0o600))
	out, err := runWith(t, nil, "verify-shuffle", "-join-id", order[2], file)
	require.NoError(t, err)
	require.Contains(t, out, order[2]+" is place 3")

	a.Seed = strings.Repeat("cd", 32)
	data, _ = json.Marshal(a)
	require.NoError(t, os.WriteFile(file, data, 0o600))
	_, err = runWith(t, nil, "verify-shuffle", file)
	require.ErrorContains(t, err, "does not match the commitment")
}
