package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/store"
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
	DebugAddr         string
	MigrateDirection  string
	AuditSource       string
	Reports           []string // rehearse merge: the shards' report files
	AuditJoinID       string

	PaymentsProvider     string
	StripeSecretKey      string
	StripeWebhookSecret  string
	StripePublishableKey string
	StripeAPIBase        string
	DemoOpensAt          string

	BodyTimeout    time.Duration
	RequestTimeout time.Duration
	MaxConns       int
	MaxLive        int
	LivePerAddress int
	LivePerFan     int
	TrustedProxies []netip.Prefix
	RateSignIn     ratelimit.Rate
	RateSignUp     ratelimit.Rate
	RateJoin       ratelimit.Rate

	Rehearsal rehearse.Config
	JSON      bool

	redisOptions *redis.UniversalOptions
}

// minSecretLen keeps signed tokens out of brute-force reach.
const minSecretLen = 32

// command is one subcommand; payments reconcile is two words.
type command struct {
	name, args, summary string
}

var commands = []command{
	{"serve", "", "migrate the database and serve the API"},
	{"migrate", "[up|down|version]", "apply or inspect the database schema"},
	{"demo", "", "create the demo organizer and concert (safe to repeat)"},
	{"healthcheck", "", "exit 0 when the local server answers /healthz"},
	{"payments reconcile", "", "settle payments that succeeded without a booking or a refund"},
	{"verify-shuffle", "<audit URL|file|->", "recompute a lobby's shuffled order from its audit"},
	{"rehearse merge", "<report.json>...", "one report of a sharded rehearsal's JSON reports (-shard)"},
	{"rehearse", "", "simulate a crowd of fans against a deployment and check the invariants"},
}

// usage is the top-level help.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: boxoffice <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-34s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintf(&b, "  %-34s %s\n\n", "help [command]", "this text, or a command's flags")
	b.WriteString("Every setting comes from the environment and may be overridden by a flag\n")
	b.WriteString("after the command; run \"boxoffice <command> -h\" for the list.")
	return b.String()
}

// setting is one configuration value: an environment variable (none for
// flag-only settings), the flag that overrides it, and its built-in default.
// README's "Configuration" and "Limits" tables list these; a test holds them
// to it.
type setting struct {
	env, flag string
	def       string // the built-in default, as it would be typed
	shown     string // the README's default column, when not `def`
	usage     string
	limit     bool // listed under "Limits" rather than "Configuration"
	boolean   bool // a flag that may be given alone (-json)
	cmds      []string
	// bare are commands for which the setting has no default: unset, it is not used.
	bare []string
	set  func(c *config, name, v string) error
}

var (
	everyDBCommand = []string{"serve", "migrate", "demo", "payments reconcile"}
	redisCommands  = []string{"serve", "payments reconcile"}
	serveOnly      = []string{"serve"}
	rehearseOnly   = []string{"rehearse"}
)

var settings = []setting{
	{env: "DATABASE_URL", flag: "database-url", def: "postgres://postgres@127.0.0.1:5432/boxoffice?sslmode=disable",
		usage: "PostgreSQL URL (rehearse: checks the invariants there, only when given)", cmds: append([]string{"rehearse"}, everyDBCommand...),
		bare: rehearseOnly, set: text(func(c *config) *string { return &c.DatabaseURL })},
	{env: "REDIS_URL", flag: "redis-url", def: "redis://127.0.0.1:6379/0",
		usage: "Redis URL; for a cluster redis://host1:6379?addr=host2:6379", cmds: redisCommands,
		set: text(func(c *config) *string { return &c.RedisURL })},
	{env: "BOXOFFICE_ADDR", flag: "addr", def: ":8080", usage: "listen address", cmds: []string{"serve", "healthcheck"},
		set: text(func(c *config) *string { return &c.Addr })},
	{env: "BOXOFFICE_SECRET", flag: "secret", shown: "none, required by `serve`", usage: "signing secret, at least 32 characters",
		cmds: serveOnly, set: text(func(c *config) *string { return &c.Secret })},
	{env: "BOXOFFICE_ORGANIZER_EMAIL", flag: "organizer-email", shown: "none", usage: "make this account an organizer at start",
		cmds: []string{"serve", "demo"}, set: text(func(c *config) *string { return &c.OrganizerEmail })},
	{env: "BOXOFFICE_ORGANIZER_PASSWORD", flag: "organizer-password", shown: "none", usage: "its password, 8 to 72 bytes",
		cmds: []string{"serve", "demo"}, set: text(func(c *config) *string { return &c.OrganizerPassword })},
	{env: "BOXOFFICE_SECURE_COOKIES", flag: "secure-cookies", def: "false", usage: "mark the sign-in cookie Secure, for HTTPS",
		cmds: serveOnly, set: func(c *config, name, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s is malformed: want true or false, got %q", name, v)
			}
			c.SecureCookies = b
			return nil
		}},
	{env: "BOXOFFICE_SHUTDOWN_GRACE", flag: "shutdown-grace", def: "20s", usage: "time to drain requests on SIGTERM",
		cmds: serveOnly, set: duration(func(c *config) *time.Duration { return &c.ShutdownGrace })},
	{env: "BOXOFFICE_DEBUG_ADDR", flag: "debug-addr", shown: "none (off)",
		usage: "address for Go's profiler (/debug/pprof/), e.g. 127.0.0.1:6060; keep it private",
		cmds:  serveOnly, set: text(func(c *config) *string { return &c.DebugAddr })},
	{env: "PAYMENTS_PROVIDER", flag: "payments-provider", def: "test", usage: "test or stripe", cmds: redisCommands,
		set: text(func(c *config) *string { return &c.PaymentsProvider })},
	{env: "STRIPE_SECRET_KEY", flag: "stripe-secret-key", shown: "none", usage: "Stripe secret key", cmds: redisCommands,
		set: text(func(c *config) *string { return &c.StripeSecretKey })},
	{env: "STRIPE_WEBHOOK_SECRET", flag: "stripe-webhook-secret", shown: "none", usage: "Stripe webhook signing secret",
		cmds: redisCommands, set: text(func(c *config) *string { return &c.StripeWebhookSecret })},
	{env: "STRIPE_PUBLISHABLE_KEY", flag: "stripe-publishable-key", shown: "none", usage: "Stripe publishable key, for the payment page",
		cmds: redisCommands, set: text(func(c *config) *string { return &c.StripePublishableKey })},
	{env: "STRIPE_API_BASE", flag: "stripe-api-base", shown: "Stripe's API", usage: "Stripe API URL, e.g. a stripe-mock for tests",
		cmds: redisCommands, set: text(func(c *config) *string { return &c.StripeAPIBase })},
	{flag: "opens-at", shown: "two minutes after the first `demo`", usage: "when the demo sale opens, RFC 3339",
		cmds: []string{"demo"}, set: text(func(c *config) *string { return &c.DemoOpensAt })},
	{flag: "join-id", shown: "none", usage: "print only this join id's place", cmds: []string{"verify-shuffle"},
		set: text(func(c *config) *string { return &c.AuditJoinID })},
	{flag: "url", shown: "none, required", usage: "the deployment's base URL, e.g. http://localhost:8080",
		cmds: rehearseOnly, set: text(func(c *config) *string { return &c.Rehearsal.URL })},
	{flag: "event", shown: "none, required", usage: "the event to rehearse", cmds: rehearseOnly,
		set: text(func(c *config) *string { return &c.Rehearsal.EventID })},
	{flag: "fans", shown: "none, required", usage: "how many fans (0: only check the invariants)", cmds: rehearseOnly,
		set: func(c *config, name, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return fmt.Errorf("%s is required: how many fans, 0 or more (0 only checks the invariants), got %q", name, v)
			}
			c.Rehearsal.Fans = n
			return nil
		}},
	{flag: "duration", def: "10m", usage: "the longest the sale may take, from the first join", cmds: rehearseOnly,
		set: duration(func(c *config) *time.Duration { return &c.Rehearsal.Duration })},
	{flag: "concurrency", def: "64", usage: "HTTP requests in flight at once, all fans together", cmds: rehearseOnly,
		set: count(func(c *config) *int { return &c.Rehearsal.Concurrency })},
	{flag: "prefix", def: "rehearse", usage: "fans' accounts are <prefix>-<n>@rehearse.example; a later run signs in to them",
		cmds: rehearseOnly, set: text(func(c *config) *string { return &c.Rehearsal.Prefix })},
	{flag: "password", def: "rehearse-password", usage: "every fan's password", cmds: rehearseOnly,
		set: text(func(c *config) *string { return &c.Rehearsal.Password })},
	{flag: "signup-rate", def: "off", usage: "pace of sign-ups, e.g. 10/1m as the deployment allows one address (off: only its Retry-After)",
		cmds: rehearseOnly, set: func(c *config, name, v string) error {
			var r ratelimit.Rate
			if err := rate(func(*config) *ratelimit.Rate { return &r })(c, name, v); err != nil {
				return err
			}
			if r.Count > 0 {
				c.Rehearsal.SignupBurst, c.Rehearsal.SignupEvery = r.Count, r.Per/time.Duration(r.Count)
			}
			return nil
		}},
	{flag: "source", shown: "none", usage: "local addresses the fans connect from, spread over them: a CIDR such as 127.1.0.0/24, or addresses a,b (none: the system picks)",
		cmds: rehearseOnly, set: func(c *config, name, v string) error {
			addrs, err := parseSources(v)
			if err != nil {
				return fmt.Errorf("%s is malformed (%v): want a CIDR such as 127.1.0.0/24 or addresses such as 127.0.0.2,127.0.0.3, got %q", name, err, v)
			}
			c.Rehearsal.Sources = addrs
			return nil
		}},
	{flag: "seed", def: "0", usage: "the fans' choices (0: a new seed, printed in the report)", cmds: rehearseOnly,
		set: func(c *config, name, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%s is malformed: want a whole number, got %q", name, v)
			}
			c.Rehearsal.Seed = n
			return nil
		}},
	{flag: "shard", def: "0/1", usage: "run only the fans k with k % n == i, as i/n (a crowd too big for one process; needs -seed; see rehearse merge)",
		cmds: rehearseOnly, set: func(c *config, name, v string) error {
			sh, err := rehearse.ParseShard(v)
			c.Rehearsal.Shard = sh
			return err
		}},
	{flag: "cancel", def: "0.1", usage: "share of fans who cancel: half release their hold, half cancel their booking",
		cmds: rehearseOnly, set: share(func(c *config) *float64 { return &c.Rehearsal.Cancel })},
	{flag: "abandon", def: "0.05", usage: "share of fans who walk away holding tickets", cmds: rehearseOnly,
		set: share(func(c *config) *float64 { return &c.Rehearsal.Abandon })},
	{flag: "double-click", def: "0.1", usage: "share of fans who send each write twice at once", cmds: rehearseOnly,
		set: share(func(c *config) *float64 { return &c.Rehearsal.DoubleClick })},
	{flag: "settle-wait", def: "30s", usage: "how long the check waits for the server to settle payments", cmds: rehearseOnly,
		set: duration(func(c *config) *time.Duration { return &c.Rehearsal.SettleWait })},
	{flag: "json", def: "false", usage: "print the report as one JSON document", boolean: true, cmds: []string{"rehearse", "rehearse merge"},
		set: func(c *config, name, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%s is malformed: want true or false, got %q", name, v)
			}
			c.JSON = b
			return nil
		}},

	{env: "BOXOFFICE_BODY_TIMEOUT", flag: "body-timeout", def: "10s", usage: "time a request body has to arrive",
		limit: true, cmds: serveOnly, set: duration(func(c *config) *time.Duration { return &c.BodyTimeout })},
	{env: "BOXOFFICE_REQUEST_TIMEOUT", flag: "request-timeout", def: "15s", usage: "deadline of every request but the live WebSocket",
		limit: true, cmds: serveOnly, set: duration(func(c *config) *time.Duration { return &c.RequestTimeout })},
	{env: "BOXOFFICE_MAX_CONNS", flag: "max-conns", def: "auto", shown: "`auto`: the open-file limit less a tenth (at least 300), at most 100000",
		usage: "open connections per replica (auto: from the open-file limit)",
		limit: true, cmds: serveOnly, set: count(func(c *config) *int { return &c.MaxConns })},
	{env: "BOXOFFICE_MAX_LIVE", flag: "max-live", def: "auto", shown: "`auto`: 90 % of `BOXOFFICE_MAX_CONNS`",
		usage: "live WebSocket connections per replica (auto: 90% of max-conns)",
		limit: true, cmds: serveOnly, set: count(func(c *config) *int { return &c.MaxLive })},
	{env: "BOXOFFICE_LIVE_PER_ADDRESS", flag: "live-per-address", def: "200", usage: "anonymous live connections per client address, per replica",
		limit: true, cmds: serveOnly, set: count(func(c *config) *int { return &c.LivePerAddress })},
	{env: "BOXOFFICE_LIVE_PER_FAN", flag: "live-per-fan", def: "5", usage: "live connections per signed-in fan, per replica",
		limit: true, cmds: serveOnly, set: count(func(c *config) *int { return &c.LivePerFan })},
	{env: "BOXOFFICE_TRUSTED_PROXIES", flag: "trusted-proxies", def: "loopback,private",
		usage: "proxies whose X-Forwarded-For names the client: CIDRs, loopback, private, or none",
		limit: true, cmds: serveOnly, set: func(c *config, name, v string) error {
			p, err := parseProxies(v)
			if err != nil {
				return fmt.Errorf("%s is malformed (%v): want CIDRs such as 10.0.0.0/8, loopback, private or none, got %q", name, err, v)
			}
			c.TrustedProxies = p
			return nil
		}},
	{env: "BOXOFFICE_RATE_SIGNIN", flag: "rate-signin", def: "300/1m", usage: "sign-ins per client address, all replicas together",
		limit: true, cmds: serveOnly, set: rate(func(c *config) *ratelimit.Rate { return &c.RateSignIn })},
	{env: "BOXOFFICE_RATE_SIGNUP", flag: "rate-signup", def: "10/1m", usage: "sign-ups per client address, all replicas together",
		limit: true, cmds: serveOnly, set: rate(func(c *config) *ratelimit.Rate { return &c.RateSignUp })},
	{env: "BOXOFFICE_RATE_JOIN", flag: "rate-join", def: "300/1m", usage: "line joins per client address, all replicas together",
		limit: true, cmds: serveOnly, set: rate(func(c *config) *ratelimit.Rate { return &c.RateJoin })},
}

func text(field func(*config) *string) func(*config, string, string) error {
	return func(c *config, _, v string) error { *field(c) = v; return nil }
}

func duration(field func(*config) *time.Duration) func(*config, string, string) error {
	return func(c *config, name, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("%s is malformed: want a positive duration such as 20s, got %q", name, v)
		}
		*field(c) = d
		return nil
	}
}

// count reads a positive number, or "auto" as 0 for validate to work out.
func count(field func(*config) *int) func(*config, string, string) error {
	return func(c *config, name, v string) error {
		v = strings.TrimSpace(v)
		if v == "auto" {
			*field(c) = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%s is malformed: want a positive number, got %q", name, v)
		}
		*field(c) = n
		return nil
	}
}

// share reads a share from 0 to 1.
func share(field func(*config) *float64) func(*config, string, string) error {
	return func(c *config, name, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("%s is malformed: want a share from 0 to 1, such as 0.1, got %q", name, v)
		}
		*field(c) = f
		return nil
	}
}

func rate(field func(*config) *ratelimit.Rate) func(*config, string, string) error {
	return func(c *config, name, v string) error {
		r, err := ratelimit.ParseRate(v)
		if err != nil {
			return fmt.Errorf("%s is malformed: %v, got %q", name, err, v)
		}
		*field(c) = r
		return nil
	}
}

// maxSources bounds -source: each address has its own connections.
const maxSources = 4096

// parseSources reads -source: a CIDR (every address in it but an IPv4
// network's first and last) or comma-separated addresses.
func parseSources(v string) ([]netip.Addr, error) {
	var out []netip.Addr
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		p = p.Masked()
		a, last := p.Addr(), netip.Addr{}
		if a.Is4() && p.Bits() < 31 {
			a = a.Next()
		}
		for ; a.IsValid() && p.Contains(a); a = a.Next() {
			if a.Is4() && p.Bits() < 31 && !p.Contains(a.Next()) {
				break // the broadcast address
			}
			if len(out) == maxSources {
				return nil, fmt.Errorf("more than %d addresses", maxSources)
			}
			out = append(out, a)
			last = a
		}
		if !last.IsValid() {
			return nil, errors.New("no usable address")
		}
	}
	return out, nil
}

// parseProxies reads a comma-separated list of CIDRs and addresses, where
// "loopback" and "private" stand for those ranges and "none" for nothing.
func parseProxies(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(v, ",") {
		switch part = strings.TrimSpace(part); part {
		case "none":
		case "loopback":
			out = append(out, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		case "private":
			for _, p := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"} {
				out = append(out, netip.MustParsePrefix(p))
			}
		default:
			p, err := netip.ParsePrefix(part)
			if err != nil {
				a, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return nil, fmt.Errorf("%q is not a CIDR or an address", part)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// signInBackoff locks an account after ten failed sign-ins in a row: one second
// after the tenth, doubling with each further failure up to 15 minutes. A day
// without a failure, or a success, forgets them. Not a setting: README's Limits
// table states it.
var signInBackoff = ratelimit.Backoff{Free: 10, First: time.Second, Longest: 15 * time.Minute, Forget: 24 * time.Hour}

// autoConns is BOXOFFICE_MAX_CONNS=auto: the open-file limit less a reserve (a
// tenth, at least 300) for the database and Redis pools, the overflow
// connections (web.Listener) and files, and at most 100,000, past which memory
// rather than descriptors runs out first.
func autoConns(files int) int {
	return max(min(files-max(300, files/10), 100_000), 1)
}

// openFileLimit is the process's limit on open files (Go raises the soft limit
// to the hard one at start).
func openFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<31 {
		return 1 << 20
	}
	return int(l.Cur)
}

// commandSettings are the settings a command reads.
func commandSettings(cmd string) []setting {
	var out []setting
	for _, s := range settings {
		if slices.Contains(s.cmds, cmd) {
			out = append(out, s)
		}
	}
	return out
}

// commandHelp is a command's usage and flags.
func commandHelp(c command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n", strings.TrimSpace("boxoffice "+c.name+" [flags] "+c.args), c.summary)
	if ss := commandSettings(c.name); len(ss) > 0 {
		b.WriteString("\nflags (each also read from the environment variable named):\n")
		for _, s := range ss {
			from := s.env
			if from == "" {
				from = "flag only"
			}
			def := s.def
			if s.shown != "" {
				def = strings.ReplaceAll(s.shown, "`", "")
			}
			if slices.Contains(s.bare, c.name) {
				def = "none"
			}
			fmt.Fprintf(&b, "  -%s\n    \t%s (%s; default %s)\n", s.flag, s.usage, from, def)
		}
	}
	b.WriteString("\n-h prints this.")
	return b.String()
}

// parseCommand splits the command from its arguments. It answers help itself
// and errors on the command line with one line on stderr.
func parseCommand(args []string, stdout, stderr io.Writer) (command, []string, error) {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage())
		return command{}, nil, errUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := findCommand(args[1:]); ok {
				fmt.Fprintln(stdout, commandHelp(c))
				return command{}, nil, errHelp
			}
		}
		fmt.Fprintln(stdout, usage())
		return command{}, nil, errHelp
	}
	c, ok := findCommand(args)
	if !ok {
		fmt.Fprintf(stderr, "boxoffice: unknown command %q; run boxoffice help\n", strings.Join(args[:min(2, len(args))], " "))
		return command{}, nil, errUsage
	}
	return c, args[len(strings.Fields(c.name)):], nil
}

func findCommand(args []string) (command, bool) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, true
		}
	}
	return command{}, false
}

// loadConfig reads the command's settings: flags (anywhere after the command
// name) over the environment over the defaults.
func loadConfig(c command, args []string, getenv func(string) string, stdout, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("boxoffice "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	given := map[string]string{}
	ss := commandSettings(c.name)
	for _, s := range ss {
		if s.boolean {
			fs.BoolFunc(s.flag, s.usage, func(v string) error { given[s.flag] = v; return nil })
			continue
		}
		fs.Func(s.flag, s.usage, func(v string) error { given[s.flag] = v; return nil })
	}
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stdout, commandHelp(c))
				return nil, errHelp
			}
			fmt.Fprintf(stderr, "boxoffice %s: %v; run boxoffice %s -h\n", c.name, err, c.name)
			return nil, errUsage
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		positional, rest = append(positional, rest[0]), rest[1:]
	}

	cfg := &config{}
	for _, s := range ss {
		v, name := s.def, s.env
		if slices.Contains(s.bare, c.name) {
			v = ""
		}
		if s.env != "" && getenv(s.env) != "" {
			v = getenv(s.env)
		}
		if f, ok := given[s.flag]; ok {
			v, name = f, "-"+s.flag
		}
		if name == "" {
			name = "-" + s.flag
		}
		if err := s.set(cfg, name, v); err != nil {
			return nil, err
		}
	}
	if err := cfg.positional(c.name, positional); err != nil {
		return nil, err
	}
	return cfg, cfg.validate(c.name)
}

// positional takes the command's arguments that are not flags.
func (c *config) positional(cmd string, args []string) error {
	switch cmd {
	case "migrate":
		c.MigrateDirection = "up"
		if len(args) > 0 {
			c.MigrateDirection, args = args[0], args[1:]
		}
		if d := c.MigrateDirection; d != "up" && d != "down" && d != "version" {
			return fmt.Errorf("migrate: unknown direction %q (want up, down or version)", d)
		}
	case "verify-shuffle":
		if len(args) == 0 {
			return fmt.Errorf("verify-shuffle: give the audit's URL (…/queue/audit), a file, or - for stdin")
		}
		c.AuditSource, args = args[0], args[1:]
	case "rehearse merge":
		if len(args) == 0 {
			return fmt.Errorf("rehearse merge: give the shards' JSON reports (rehearse -shard i/n -json)")
		}
		c.Reports, args = args, nil
	}
	if len(args) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, args[0])
	}
	return nil
}

// validate fails on the first missing or malformed setting with one line naming it.
func (c *config) validate(cmd string) error {
	if slices.Contains(everyDBCommand, cmd) || cmd == "rehearse" && c.DatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(c.DatabaseURL); err != nil || !hasScheme(c.DatabaseURL, "postgres", "postgresql") {
			return fmt.Errorf("DATABASE_URL is malformed: want postgres://user@host:5432/dbname, got %q", redact(c.DatabaseURL))
		}
	}
	if c.Addr != "" {
		_, port, err := net.SplitHostPort(c.Addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			return fmt.Errorf("BOXOFFICE_ADDR is malformed: want host:port or :port with a port from 0 to 65535, got %q", c.Addr)
		}
	}
	if err := c.validateOrganizer(); err != nil {
		return err
	}
	if cmd == "rehearse" {
		return c.Rehearsal.Validate()
	}
	if !slices.Contains(redisCommands, cmd) {
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
	}
	return c.validateConns(openFileLimit())
}

// validateOrganizer checks the configured organizer as registration would,
// naming the setting at fault.
func (c *config) validateOrganizer() error {
	if c.OrganizerEmail == "" && c.OrganizerPassword == "" {
		return nil
	}
	if c.OrganizerEmail == "" || c.OrganizerPassword == "" {
		return errors.New("BOXOFFICE_ORGANIZER_EMAIL and BOXOFFICE_ORGANIZER_PASSWORD go together: set both or neither")
	}
	r := store.Registration{Name: "Organizer", Email: c.OrganizerEmail, Password: c.OrganizerPassword}
	var ve *store.ValidationError
	if err := r.Validate(); errors.As(err, &ve) {
		name := map[string]string{"email": "BOXOFFICE_ORGANIZER_EMAIL", "password": "BOXOFFICE_ORGANIZER_PASSWORD"}[ve.Field]
		return fmt.Errorf("%s %s", name, ve.Message)
	}
	return nil
}

// validateConns works out the auto connection caps and refuses caps the
// open-file limit cannot hold.
func (c *config) validateConns(files int) error {
	if c.MaxConns == 0 {
		c.MaxConns = autoConns(files)
	}
	if c.MaxLive == 0 {
		c.MaxLive = max(c.MaxConns*9/10, 1)
	}
	switch {
	case c.MaxConns > files-200:
		return fmt.Errorf("BOXOFFICE_MAX_CONNS is %d, but the open-file limit is %d: lower it, or raise the limit (ulimit -n)", c.MaxConns, files)
	case c.MaxLive > c.MaxConns:
		return fmt.Errorf("BOXOFFICE_MAX_LIVE is %d, more than BOXOFFICE_MAX_CONNS (%d)", c.MaxLive, c.MaxConns)
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
