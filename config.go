package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// config is every setting, from the environment with flags overriding it.
type config struct {
	DatabaseURL       string
	RedisURL          string
	Addr              string
	Secret            string
	OrganizerEmail    string
	OrganizerPassword string
	SecureCookies     bool
	ShutdownGrace     time.Duration
	MigrateDirection  string
	AuditSource       string
	AuditJoinID       string
	PaymentsAction    string

	PaymentsProvider     string
	StripeSecretKey      string
	StripeWebhookSecret  string
	StripePublishableKey string
	StripeAPIBase        string
	DemoOpensAt          string

	redisOptions *redis.UniversalOptions
}

// minSecretLen keeps signed tokens out of brute-force reach.
const minSecretLen = 32

func loadConfig(cmd string, args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	cfg := &config{}
	fs := flag.NewFlagSet("boxoffice "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DatabaseURL, "database-url", env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/boxoffice?sslmode=disable"), "PostgreSQL URL (DATABASE_URL)")
	switch cmd {
	case "serve", "healthcheck":
		fs.StringVar(&cfg.Addr, "addr", env("BOXOFFICE_ADDR", ":8080"), "listen address (BOXOFFICE_ADDR)")
	case "migrate":
	case "payments":
	case "verify-shuffle":
		fs.StringVar(&cfg.AuditJoinID, "join-id", "", "print only this join id's place")
	case "demo":
		fs.StringVar(&cfg.DemoOpensAt, "opens-at", "", "when the demo sale opens, RFC 3339 (default: two minutes after the first run)")
	default:
		fmt.Fprintf(stderr, "boxoffice: unknown command %q\n\n%s\n", cmd, usage)
		return nil, errUsage
	}
	if cmd == "serve" || cmd == "demo" {
		fs.StringVar(&cfg.OrganizerEmail, "organizer-email", getenv("BOXOFFICE_ORGANIZER_EMAIL"), "make this account an organizer at start (BOXOFFICE_ORGANIZER_EMAIL)")
		fs.StringVar(&cfg.OrganizerPassword, "organizer-password", getenv("BOXOFFICE_ORGANIZER_PASSWORD"), "its password (BOXOFFICE_ORGANIZER_PASSWORD)")
	}
	if cmd == "serve" || cmd == "payments" {
		fs.StringVar(&cfg.RedisURL, "redis-url", env("REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (REDIS_URL)")
		fs.StringVar(&cfg.PaymentsProvider, "payments-provider", env("PAYMENTS_PROVIDER", "test"), "test or stripe (PAYMENTS_PROVIDER)")
		fs.StringVar(&cfg.StripeSecretKey, "stripe-secret-key", getenv("STRIPE_SECRET_KEY"), "Stripe secret key (STRIPE_SECRET_KEY)")
		fs.StringVar(&cfg.StripeWebhookSecret, "stripe-webhook-secret", getenv("STRIPE_WEBHOOK_SECRET"), "Stripe webhook signing secret (STRIPE_WEBHOOK_SECRET)")
		fs.StringVar(&cfg.StripePublishableKey, "stripe-publishable-key", getenv("STRIPE_PUBLISHABLE_KEY"), "Stripe publishable key, for the payment page (STRIPE_PUBLISHABLE_KEY)")
		fs.StringVar(&cfg.StripeAPIBase, "stripe-api-base", getenv("STRIPE_API_BASE"), "Stripe API URL, e.g. a stripe-mock for tests (STRIPE_API_BASE)")
	}
	if cmd == "serve" {
		fs.StringVar(&cfg.Secret, "secret", getenv("BOXOFFICE_SECRET"), "signing secret, at least 32 characters (BOXOFFICE_SECRET)")
		secure, err := parseBool("BOXOFFICE_SECURE_COOKIES", env("BOXOFFICE_SECURE_COOKIES", "false"))
		if err != nil {
			return nil, err
		}
		fs.BoolVar(&cfg.SecureCookies, "secure-cookies", secure, "mark the sign-in cookie Secure, for HTTPS (BOXOFFICE_SECURE_COOKIES)")
		grace, err := parseDuration("BOXOFFICE_SHUTDOWN_GRACE", env("BOXOFFICE_SHUTDOWN_GRACE", "20s"))
		if err != nil {
			return nil, err
		}
		fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", grace, "time to drain requests on SIGTERM (BOXOFFICE_SHUTDOWN_GRACE)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, errUsage // the flag package has printed the problem
	}
	rest := fs.Args()
	if cmd == "migrate" {
		cfg.MigrateDirection = "up"
		if len(rest) > 0 {
			cfg.MigrateDirection, rest = rest[0], rest[1:]
		}
		if d := cfg.MigrateDirection; d != "up" && d != "down" && d != "version" {
			return nil, fmt.Errorf("migrate: unknown direction %q (want up, down or version)", d)
		}
	}
	if cmd == "payments" {
		if len(rest) != 1 || rest[0] != "reconcile" {
			return nil, fmt.Errorf("payments: the command is `boxoffice payments reconcile`")
		}
		cfg.PaymentsAction, rest = rest[0], nil
	}
	if cmd == "verify-shuffle" {
		if len(rest) != 1 {
			return nil, fmt.Errorf("verify-shuffle: give the audit's URL (…/queue/audit), a file, or - for stdin")
		}
		cfg.AuditSource, rest = rest[0], nil
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%s: unexpected argument %q", cmd, rest[0])
	}
	return cfg, cfg.validate(cmd)
}

// validate fails on the first missing or malformed setting with one line naming it.
func (c *config) validate(cmd string) error {
	if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil || !hasScheme(c.DatabaseURL, "postgres", "postgresql") {
		return fmt.Errorf("DATABASE_URL is malformed: want postgres://user@host:5432/dbname, got %q", redact(c.DatabaseURL))
	}
	if c.Addr != "" {
		if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
			return fmt.Errorf("BOXOFFICE_ADDR is malformed: want host:port or :port, got %q", c.Addr)
		}
	}
	if (c.OrganizerEmail == "") != (c.OrganizerPassword == "") {
		return errors.New("BOXOFFICE_ORGANIZER_EMAIL and BOXOFFICE_ORGANIZER_PASSWORD go together: set both or neither")
	}
	if cmd != "serve" && cmd != "payments" {
		return nil
	}
	opts, err := redisOptions(c.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL is malformed (%v): want redis://host:6379/0, got %q", err, redact(c.RedisURL))
	}
	c.redisOptions = opts
	switch c.PaymentsProvider {
	case "test":
	case "stripe":
		if c.StripeSecretKey == "" || c.StripeWebhookSecret == "" {
			return errors.New("PAYMENTS_PROVIDER=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
		}
		if c.StripeAPIBase != "" && !hasScheme(c.StripeAPIBase, "http", "https") {
			return fmt.Errorf("STRIPE_API_BASE is malformed: want http(s)://host:port, got %q", c.StripeAPIBase)
		}
	default:
		return fmt.Errorf("PAYMENTS_PROVIDER is %q: want test or stripe", c.PaymentsProvider)
	}
	if cmd != "serve" {
		return nil
	}
	switch {
	case c.Secret == "":
		return errors.New("BOXOFFICE_SECRET is not set: give at least 32 random characters, e.g. from `openssl rand -hex 32`")
	case len(c.Secret) < minSecretLen:
		return fmt.Errorf("BOXOFFICE_SECRET is too short: %d characters, want at least %d", len(c.Secret), minSecretLen)
	case c.ShutdownGrace <= 0:
		return errors.New("BOXOFFICE_SHUTDOWN_GRACE must be positive")
	}
	return nil
}

// redisOptions reads one node's URL, or a cluster's: several nodes given as
// repeated addr= parameters.
func redisOptions(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Query().Has("addr") {
		o, err := redis.ParseClusterURL(raw)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, IsClusterMode: true}, nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return &redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username,
		Password: o.Password, TLSConfig: o.TLSConfig, Protocol: o.Protocol}, nil
}

func hasScheme(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return true
		}
	}
	return false
}

// redact hides a password in a URL before it is printed.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	return u.Redacted()
}

func parseBool(name, v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%s is malformed: want true or false, got %q", name, v)
	}
	return b, nil
}

func parseDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s is malformed: want a duration such as 20s, got %q", name, v)
	}
	return d, nil
}
