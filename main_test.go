package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// TestMain runs the command itself when BOXOFFICE_TEST_MAIN is set, so tests can
// watch a real process's exit code, stdout and stderr; otherwise the tests, on
// a database of their own.
func TestMain(m *testing.M) {
	if os.Getenv("BOXOFFICE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	storetest.Main(m)
}

func runWith(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	stdout, stderr, err := runStreams(t, env, args...)
	return stdout + stderr, err
}

func runStreams(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), args,
		func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
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

// help, -h and --help print the usage on stdout (main exits 0 on errHelp); so
// does -h after any command, with that command's flags.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"-help"}, {"--help"}} {
		stdout, stderr, err := runStreams(t, nil, args...)
		require.ErrorIs(t, err, errHelp, "%v", args)
		require.Contains(t, stdout, "usage: boxoffice <command>", "%v", args)
		require.Contains(t, stdout, "payments reconcile")
		require.Empty(t, stderr)
	}
	for _, c := range commands {
		for _, args := range [][]string{append(strings.Fields(c.name), "-h"), append(strings.Fields(c.name), "--help"), append([]string{"help"}, strings.Fields(c.name)...)} {
			stdout, _, err := runStreams(t, nil, args...)
			require.ErrorIs(t, err, errHelp, "%v", args)
			require.Contains(t, stdout, "usage: boxoffice "+c.name, "%v", args)
			for _, s := range commandSettings(c.name) {
				require.Contains(t, stdout, "-"+s.flag+"\n", "%v lists -%s", args, s.flag)
			}
		}
	}
	stdout, _, _ := runStreams(t, map[string]string{"BOXOFFICE_SECRET": "hunter2-hunter2-hunter2-hunter2-", "STRIPE_SECRET_KEY": "sk_hunter2"}, "serve", "-h")
	require.NotContains(t, stdout, "hunter2", "help shows built-in defaults, never the environment's values")
}

// Flags go anywhere after the command's name, also after its arguments and
// after "payments reconcile".
func TestFlagsFollowTheCommand(t *testing.T) {
	t.Parallel()
	_, err := runWith(t, nil, "payments", "reconcile", "-database-url", "mysql://x")
	require.ErrorContains(t, err, "DATABASE_URL is malformed", "the flag was read")
	_, err = runWith(t, nil, "migrate", "version", "-database-url", "mysql://x")
	require.ErrorContains(t, err, "DATABASE_URL is malformed")
	_, err = runWith(t, nil, "migrate", "-database-url", "mysql://x", "version")
	require.ErrorContains(t, err, "DATABASE_URL is malformed")

	_, stderr, err := runStreams(t, nil, "payments", "reconcile", "-nope")
	require.ErrorIs(t, err, errUsage)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
	require.Contains(t, stderr, "-nope")
	_, err = runWith(t, nil, "payments")
	require.ErrorIs(t, err, errUsage)
	_, err = runWith(t, nil, "payments", "refund")
	require.ErrorIs(t, err, errUsage)
	_, err = runWith(t, nil, "serve", "extra")
	require.ErrorContains(t, err, "unexpected argument")
}

// The process itself: help exits 0 with the usage on stdout; every start-up
// failure is one line on stderr naming the setting, exit status 1; nothing says
// "serving" before the port is held; go-redis speaks through the JSON log, never
// plain text on stderr.
func TestStartupFailuresAreOneLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { busy.Close() })
	base := map[string]string{
		"DATABASE_URL":     storetest.URL(t),
		"REDIS_URL":        os.Getenv("TEST_REDIS_URL"),
		"BOXOFFICE_SECRET": strings.Repeat("s", 40),
		"BOXOFFICE_ADDR":   "127.0.0.1:0",
	}
	with := func(k, v string) map[string]string {
		m := maps.Clone(base)
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "unreachable redis", env: with("REDIS_URL", "redis://"+closedAddr(t)+"/0"), want: "REDIS_URL"},
		{name: "unreachable postgres", env: with("DATABASE_URL", "postgres://postgres@"+closedAddr(t)+"/x?sslmode=disable"), want: "DATABASE_URL"},
		{name: "busy port", env: with("BOXOFFICE_ADDR", busy.Addr().String()), want: "BOXOFFICE_ADDR " + busy.Addr().String() + ": listen tcp"},
		{name: "bad port", env: with("BOXOFFICE_ADDR", ":99999"), want: "BOXOFFICE_ADDR is malformed"},
		{name: "short organizer password", env: with("BOXOFFICE_ORGANIZER_EMAIL", "org@example.com"), want: "BOXOFFICE_ORGANIZER_PASSWORD must be 8 to 72 bytes"},
	}
	tests[4].env["BOXOFFICE_ORGANIZER_PASSWORD"] = "short"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runProcess(t, tt.env, "serve")
			require.Equal(t, 1, code, "stderr: %s", stderr)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "exactly one line on stderr: %q", stderr)
			require.Contains(t, stderr, tt.want)
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
				if line == "" {
					continue
				}
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &rec), "stdout is the JSON log: %q", line)
				require.NotEqual(t, "serving", rec["msg"])
			}
			if tt.name == "unreachable redis" {
				require.Contains(t, stdout, `"level":"WARN","msg":"redis client"`, "go-redis's own message, through slog")
			}
		})
	}

	code, stdout, stderr := runProcess(t, nil, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "usage: boxoffice")
	require.Empty(t, stderr)
}

// runProcess runs the test binary as boxoffice (see TestMain) with only env.
func runProcess(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = []string{"BOXOFFICE_TEST_MAIN=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errOut.String()
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// BOXOFFICE_MAX_CONNS=auto keeps a reserve below the open-file limit, and a
// cap the limit cannot hold stops serve at start.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	require.Equal(t, 18000, autoConns(20000))
	require.Equal(t, 100_000, autoConns(1<<20))
	require.Equal(t, 724, autoConns(1024))

	c := &config{}
	require.NoError(t, c.validateConns(20000))
	require.Equal(t, 18000, c.MaxConns)
	require.Equal(t, 16200, c.MaxLive)
	c = &config{MaxConns: 19900}
	require.ErrorContains(t, c.validateConns(20000), "BOXOFFICE_MAX_CONNS is 19900, but the open-file limit is 20000")
	c = &config{MaxConns: 100, MaxLive: 200}
	require.ErrorContains(t, c.validateConns(20000), "BOXOFFICE_MAX_LIVE is 200")

	_, err := runWith(t, map[string]string{"BOXOFFICE_SECRET": strings.Repeat("s", 32), "BOXOFFICE_MAX_CONNS": "lots"}, "serve")
	require.ErrorContains(t, err, "BOXOFFICE_MAX_CONNS is malformed")
	_, err = runWith(t, map[string]string{"BOXOFFICE_SECRET": strings.Repeat("s", 32), "BOXOFFICE_RATE_SIGNIN": "300"}, "serve")
	require.ErrorContains(t, err, "BOXOFFICE_RATE_SIGNIN is malformed")
	_, err = runWith(t, map[string]string{"BOXOFFICE_SECRET": strings.Repeat("s", 32), "BOXOFFICE_TRUSTED_PROXIES": "nginx"}, "serve")
	require.ErrorContains(t, err, "BOXOFFICE_TRUSTED_PROXIES is malformed")
	_, err = runWith(t, map[string]string{"BOXOFFICE_SECRET": strings.Repeat("s", 32)}, "serve", "-body-timeout", "0s")
	require.ErrorContains(t, err, "-body-timeout is malformed", "a flag's mistake names the flag")
}

// README's Configuration and Limits tables list every setting with its flag
// and the default the code uses, and nothing else.
func TestREADMEListsTheSettings(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := string(raw)
	section := func(title string) string {
		start := strings.Index(readme, "\n## "+title+"\n")
		require.GreaterOrEqual(t, start, 0, "README has no %q section", title)
		rest := readme[start+len(title)+5:]
		if end := strings.Index(rest, "\n## "); end >= 0 {
			rest = rest[:end]
		}
		return rest
	}
	// rows are a section's table rows with a flag or "(fixed)", as their cells.
	rows := func(sec string) map[string][]string {
		out := map[string][]string{}
		for _, line := range strings.Split(sec, "\n") {
			if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Variable") {
				continue
			}
			cells := strings.Split(line, "|")
			if len(cells) < 6 {
				continue
			}
			cells = cells[1 : len(cells)-1]
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			key := strings.Trim(cells[1], "`")
			if cells[0] == "(fixed)" {
				key = cells[3]
			}
			if key != "" && (strings.HasPrefix(key, "-") || cells[0] == "(fixed)") {
				out[key] = cells
			}
		}
		return out
	}
	tables := map[bool]map[string][]string{false: rows(section("Configuration")), true: rows(section("Limits"))}
	listed := 0
	for _, s := range settings {
		row, ok := tables[s.limit]["-"+s.flag]
		require.True(t, ok, "README lists -%s (limit: %t)", s.flag, s.limit)
		env := "(flag only)"
		if s.env != "" {
			env = "`" + s.env + "`"
		}
		require.Equal(t, env, row[0], "-%s", s.flag)
		def := "`" + s.def + "`"
		if s.shown != "" {
			def = s.shown
		}
		require.Equal(t, def, row[2], "default of -%s", s.flag)
		listed++
	}
	fixed := 0
	for limit, table := range tables {
		for key, row := range table {
			if row[0] == "(fixed)" {
				fixed++
				continue
			}
			require.True(t, slices.ContainsFunc(settings, func(s setting) bool { return "-"+s.flag == key && s.limit == limit }),
				"README lists %s, which is no setting of its table", key)
		}
	}
	require.Equal(t, len(settings), listed)

	limits := tables[true]
	b := signInBackoff
	requireCells(t, limits["Failed sign-ins per account, all replicas together, whatever the address."][2],
		"`"+strconv.Itoa(b.Free)+"`", "`"+short(b.First)+"`", "`"+short(b.Longest)+"`", "`"+short(b.Forget)+"`")
	requireCells(t, limits["Each Redis command."][2], "`"+short(redisTimeout)+"`", "`"+short(redisDialTimeout)+"`")
	requireCells(t, limits["Each new PostgreSQL connection (unless `DATABASE_URL` sets `connect_timeout`)."][2], "`"+short(pgConnectTimeout)+"`")
	require.Equal(t, 3, fixed)
}

func requireCells(t *testing.T, cell string, want ...string) {
	t.Helper()
	for _, w := range want {
		require.Contains(t, cell, w)
	}
}

// short is a duration as README writes it: 15m, not 15m0s.
func short(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, zero) {
			s = s[:len(s)-2]
		}
	}
	return s
}

// A new PostgreSQL connection waits at most pgConnectTimeout, unless
// DATABASE_URL says otherwise.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u@h:5432/db?connect_timeout=5&sslmode=disable", withConnectTimeout("postgres://u@h:5432/db?sslmode=disable"))
	require.Equal(t, "postgres://u@h/db?connect_timeout=30", withConnectTimeout("postgres://u@h/db?connect_timeout=30"))
}

// -source takes a CIDR (without an IPv4 network's first and last address) or
// addresses, and names itself when it cannot.
func TestParseSources(t *testing.T) {
	t.Parallel()
	str := func(v string) []string {
		addrs, err := parseSources(v)
		require.NoError(t, err, v)
		out := []string{}
		for _, a := range addrs {
			out = append(out, a.String())
		}
		return out
	}
	require.Empty(t, str(""))
	require.Equal(t, []string{"127.1.0.1", "127.1.0.2"}, str("127.1.0.0/30"))
	require.Len(t, str("127.1.0.0/24"), 254)
	require.Equal(t, []string{"127.0.0.2", "127.0.0.3"}, str("127.0.0.2, 127.0.0.3"))
	require.Equal(t, []string{"127.0.0.9"}, str("127.0.0.9/32"))
	for _, bad := range []string{"127.0.0.300", "127.0.0.0/33", "10.0.0.0/8", "localhost"} {
		_, err := runWith(t, nil, "rehearse", "-url", "http://x", "-event", "e", "-fans", "1", "-source", bad)
		require.ErrorContains(t, err, "-source is malformed", bad)
	}
}
