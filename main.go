// Command boxoffice serves high-demand ticket on-sales: a fair waiting room,
// atomic seat holds, payments and bookings. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/app"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/web"
)

// errUsage marks a mistake on the command line and errHelp a request for help;
// either has been answered already.
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	err := run(ctx, log, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, errHelp) {
		return
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "boxoffice: "+oneLine(err))
		}
		os.Exit(1)
	}
}

// oneLine is an error as one line: some drivers' errors span several (pgx lists
// each address it tried on its own line).
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, args, err := parseCommand(args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(cmd, args, getenv, stdout, stderr)
	if err != nil {
		return err
	}
	if slices.Contains(redisCommands, cmd.name) {
		// go-redis logs through one process-wide logger (pool dial failures,
		// pub/sub reconnects): as throttled warnings in our log, not text on stderr.
		redis.SetLogger(redisLog{slog.New(web.Throttle(log.Handler(), 10*time.Second))})
	}
	switch cmd.name {
	case "serve":
		return serve(ctx, log, cfg)
	case "migrate":
		return migrateCmd(ctx, cfg, stdout)
	case "demo":
		return demo(ctx, cfg, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "verify-shuffle":
		return verifyShuffle(ctx, cfg, stdout)
	case "payments reconcile":
		return reconcile(ctx, log, cfg, stdout)
	case "rehearse":
		return rehearseCmd(ctx, cfg, stdout, stderr)
	case "rehearse merge":
		return rehearseMerge(cfg.Reports, cfg.JSON, stdout)
	}
	panic("unreachable: parseCommand accepts only known commands")
}

// redisLog hands go-redis's messages to slog.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.WarnContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}

func serve(ctx context.Context, log *slog.Logger, cfg *config) error {
	// Listen before anything else, so that a busy port fails at once, and before
	// "serving" is logged.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("BOXOFFICE_ADDR %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	if cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			return fmt.Errorf("BOXOFFICE_DEBUG_ADDR %s: %w", cfg.DebugAddr, err)
		}
		defer dln.Close()
		go serveDebug(dln)
		log.Info("profiler", "addr", dln.Addr().String())
	}
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	version, _, err := store.Migrate(pool, "up")
	if err != nil {
		return err
	}
	log.Info("database migrated", "version", version)
	db := store.New(pool)
	if cfg.OrganizerEmail != "" {
		u, changed, err := db.EnsureOrganizer(ctx, store.Registration{Name: "Organizer", Email: cfg.OrganizerEmail, Password: cfg.OrganizerPassword})
		if err != nil {
			return fmt.Errorf("organizer account (BOXOFFICE_ORGANIZER_EMAIL): %w", err)
		}
		log.Info("organizer account ready", "email", u.Email, "changed", changed)
	}
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	provider, stripe, err := paymentProvider(cfg, db)
	if err != nil {
		return err
	}
	a := app.New(db, rdb, app.Config{Secret: cfg.Secret, SecureCookies: cfg.SecureCookies, Limits: webLimits(cfg),
		Provider: provider, Stripe: stripe, Log: log})
	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoops()
	loopsDone := make(chan struct{})
	go func() { defer close(loopsDone); a.Run(loops) }()

	srv := a.API.HTTPServer(context.WithoutCancel(ctx))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(a.API.Listener(ln)) }()
	log.Info("serving", "addr", ln.Addr().String(), "max_conns", cfg.MaxConns, "max_live", cfg.MaxLive)
	select {
	case err = <-errc:
		err = fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		// SIGTERM: stop accepting and let in-flight requests finish.
		log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		if serr := srv.Shutdown(shutdownCtx); serr != nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	// Then the loops end, live clients are told to reconnect elsewhere, and
	// only then do the pools close: no loop ever queries a closed pool.
	stopLoops()
	<-loopsDone
	log.Info("background loops ended")
	if cerr := a.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close live clients: %w", cerr)
	}
	_ = rdb.Close()
	pool.Close()
	log.Info("stopped")
	return err
}

// serveDebug serves Go's profiler on a listener of its own, apart from the
// API's: nothing routed to the API (nginx passes only BOXOFFICE_ADDR) can
// reach it, and a profile running for 30 s is not cut by the API's deadlines.
func serveDebug(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln) // ends when serve closes ln
}

// pgConnectTimeout bounds each new PostgreSQL connection unless DATABASE_URL
// sets connect_timeout; queries are bounded by the request deadline.
const pgConnectTimeout = 5 * time.Second

func openDB(ctx context.Context, cfg *config) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := store.Open(ctx, withConnectTimeout(cfg.DatabaseURL), true)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", redact(cfg.DatabaseURL), err)
	}
	return pool, nil
}

func withConnectTimeout(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Query().Has("connect_timeout") {
		return raw
	}
	q := u.Query()
	q.Set("connect_timeout", strconv.Itoa(int(pgConnectTimeout.Seconds())))
	u.RawQuery = q.Encode()
	return u.String()
}

// Redis answers in well under a millisecond. These bound what a sick one costs:
// a command that gets no answer fails after redisTimeout, and is tried once
// more on a fresh connection; a request's deadline cuts either short.
const (
	redisTimeout     = 500 * time.Millisecond
	redisDialTimeout = time.Second
)

// openRedis connects to REDIS_URL: one node, or a cluster when the URL names
// several nodes (redis://host1:6379?addr=host2:6379&addr=host3:6379).
func openRedis(ctx context.Context, cfg *config) (redis.UniversalClient, error) {
	o := *cfg.redisOptions
	o.DialTimeout, o.DialerRetries = redisDialTimeout, 1
	o.ReadTimeout, o.WriteTimeout = redisTimeout, redisTimeout
	o.PoolTimeout, o.MaxRetries = redisDialTimeout, 1
	o.ContextTimeoutEnabled = true
	rdb := redis.NewUniversalClient(&o)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("REDIS_URL %s: connect redis: %w", redact(cfg.RedisURL), err)
	}
	return rdb, nil
}

// webLimits are the API's limits as configured; the app keeps their rate
// limits in Redis.
func webLimits(cfg *config) web.Limits {
	return web.Limits{
		BodyTimeout: cfg.BodyTimeout, RequestTimeout: cfg.RequestTimeout,
		MaxConns: cfg.MaxConns, MaxLive: cfg.MaxLive, LivePerAddress: cfg.LivePerAddress, LivePerFan: cfg.LivePerFan,
		TrustedProxies: cfg.TrustedProxies,
		SignIn:         cfg.RateSignIn, SignUp: cfg.RateSignUp, Join: cfg.RateJoin, SignInBackoff: signInBackoff,
	}
}

func migrateCmd(ctx context.Context, cfg *config, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	version, dirty, err := store.Migrate(pool, cfg.MigrateDirection)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d (dirty: %t)\n", version, dirty)
	return nil
}

func healthcheck(ctx context.Context, cfg *config) error {
	_, port, _ := net.SplitHostPort(cfg.Addr)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}

// paymentProvider is the configured provider; with Stripe, also the Stripe
// client for webhooks.
func paymentProvider(cfg *config, db *store.DB) (payments.Provider, *payments.Stripe, error) {
	if cfg.PaymentsProvider != "stripe" {
		return payments.NewTestProvider(db), nil, nil
	}
	s, err := payments.NewStripe(payments.StripeConfig{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret,
		PublishableKey: cfg.StripePublishableKey, APIBase: cfg.StripeAPIBase})
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}

// reconcile settles at once every payment the settler has yet to finish: refunds
// owed, successes that bought nothing, pending payments (the same list every
// replica's settler works through on its own).
func reconcile(ctx context.Context, log *slog.Logger, cfg *config, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	rdb, err := openRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	db := store.New(pool)
	provider, _, err := paymentProvider(cfg, db)
	if err != nil {
		return err
	}
	a := app.New(db, rdb, app.Config{Secret: cfg.Secret, Provider: provider, Log: log})
	defer a.Close()
	sales := a.Sales
	done, err := sales.Reconcile(ctx)
	for _, d := range done {
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", d.PaymentID, d.ProviderRef, d.Outcome)
	}
	if err != nil {
		return fmt.Errorf("payments reconcile: %w", err)
	}
	fmt.Fprintf(stdout, "%d %s payments looked at\n", len(done), provider.Name())
	return nil
}

// rehearseCmd runs a rehearsal: progress on stderr, the report on stdout (one
// JSON document with -json), and an error naming every check that broke.
func rehearseCmd(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	rc := cfg.Rehearsal
	rc.Progress = stderr
	if f, ok := stderr.(*os.File); ok {
		st, err := f.Stat()
		rc.Terminal = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	if cfg.DatabaseURL != "" {
		// Not openDB: the check reads a database, it never creates one.
		pool, err := pgxpool.New(ctx, withConnectTimeout(cfg.DatabaseURL))
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			return fmt.Errorf("DATABASE_URL %s: %w", redact(cfg.DatabaseURL), err)
		}
		defer pool.Close()
		rc.DB = pool
	}
	rep, err := rehearse.Run(ctx, rc)
	if err != nil {
		return err
	}
	if err := writeReport(rep, cfg.JSON, stdout); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("rehearse: interrupted")
	}
	return nil
}

// writeReport prints a rehearsal's report, and names every check that broke.
func writeReport(rep *rehearse.Report, asJSON bool, stdout io.Writer) error {
	var err error
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = rep.WriteText(stdout)
	}
	switch {
	case err != nil:
		return err
	case !rep.OK:
		return fmt.Errorf("rehearse: broken: %s", strings.Join(rep.Broken(), ", "))
	}
	return nil
}

// rehearseMerge prints one report of shards' JSON reports (-json), and of
// check-only reports (-fans 0) run after them (rehearse.Merge).
func rehearseMerge(files []string, asJSON bool, stdout io.Writer) error {
	var reps []*rehearse.Report
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("rehearse merge: %w", err)
		}
		var rep rehearse.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			return fmt.Errorf("rehearse merge: %s: %w", name, err)
		}
		reps = append(reps, &rep)
	}
	rep, err := rehearse.Merge(reps...)
	if err != nil {
		return fmt.Errorf("rehearse merge: %w", err)
	}
	return writeReport(rep, asJSON, stdout)
}
