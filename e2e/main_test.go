// Package e2e drives the web app in Debian's Chromium, with chromedp, against a
// real `boxoffice serve` on a throwaway PostgreSQL database and the test Redis.
// One server and one browser serve every test; each fan is a browser context
// of its own (its own cookies), so tests run side by side.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// env is the shared server and browser, made once by TestMain.
var env *harness

type harness struct {
	base        string          // the server's URL
	browser     context.Context // a chromedp context whose browser is running
	axe         string          // axe-core's source, injected into pages
	out         string          // test-output/ at the repository root
	orgEmail    string
	orgPassword string
	redisURL    string

	mu     sync.Mutex
	events []string // every event made, whose Redis keys are deleted at the end
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

// need reports a missing part the way every test package here does: what to
// run, never a skip that would hide a broken page.
func need(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
	return 1
}

func run(m *testing.M) int {
	dbBase, redisURL := os.Getenv("TEST_DATABASE_URL"), os.Getenv("TEST_REDIS_URL")
	if dbBase == "" || redisURL == "" {
		return need("TEST_DATABASE_URL and TEST_REDIS_URL are not set: run the tests with `make test`, which starts PostgreSQL and Redis and sets them")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return need("%s is missing: run `make test`, which installs Debian's chromium (scripts/services.sh --chromium)", chromium)
	}
	axe, err := readAxe()
	if err != nil {
		return need("%v: run `make test`, which fetches axe-core from the npm registry", err)
	}
	root, _ := filepath.Abs("..")
	out := filepath.Join(root, "test-output")
	if err := os.MkdirAll(filepath.Join(out, "screenshots"), 0o755); err != nil {
		return need("%v", err)
	}
	tmp, err := os.MkdirTemp("", "boxoffice-e2e-")
	if err != nil {
		return need("%v", err)
	}
	defer os.RemoveAll(tmp)

	dbURL, drop, err := createDatabase(dbBase)
	if err != nil {
		return need("%v", err)
	}
	defer drop()

	bin := filepath.Join(tmp, "boxoffice")
	if err := buildServer(root, bin); err != nil {
		return need("%v", err)
	}
	h := &harness{axe: axe, out: out, orgEmail: "organizer-" + randomHex(4) + "@example.com", orgPassword: randomHex(12), redisURL: redisURL}
	stop, err := h.startServer(bin, dbURL, redisURL, filepath.Join(out, "server.log"))
	if err != nil {
		return need("%v", err)
	}
	defer stop()
	defer h.cleanRedis()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // as root, Chromium refuses to start with its sandbox
		chromedp.UserDataDir(filepath.Join(tmp, "chromium")),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil {
		return need("start %s: %v", chromium, err)
	}
	h.browser = browser
	env = h
	code := m.Run()
	if code != 0 {
		printWarnings(filepath.Join(out, "server.log"))
	}
	return code
}

// printWarnings shows the server's last warnings and errors after a failed
// run: why a background loop did not do its work is there, and CI keeps only
// the test output.
func printWarnings(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var warned []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			warned = append(warned, line)
		}
	}
	fmt.Fprintf(os.Stderr, "the server's last warnings (of %d, all in %s):\n%s", len(warned), path,
		strings.Join(warned[max(0, len(warned)-100):], ""))
}

// readAxe finds axe.min.js: AXE_CORE_JS (which `make test` sets), or what the
// Makefile fetched under .cache/.
func readAxe() (string, error) {
	path := os.Getenv("AXE_CORE_JS")
	if path == "" {
		found, _ := filepath.Glob("../.cache/axe-core-*/axe.min.js")
		if len(found) == 0 {
			return "", errors.New("axe-core is missing (no AXE_CORE_JS, nothing in .cache/)")
		}
		path = found[len(found)-1]
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("axe-core: %w", err)
	}
	return string(b), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// createDatabase makes an empty database beside TEST_DATABASE_URL's; the
// server migrates it as it starts.
func createDatabase(base string) (string, func(), error) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connect TEST_DATABASE_URL: %w", err)
	}
	name := "boxoffice_e2e_" + randomHex(6)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("create test database: %w", err)
	}
	u, err := neturl.Parse(base)
	if err != nil {
		admin.Close(ctx)
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: drop test database:", err)
		}
		admin.Close(ctx)
	}
	return u.String(), drop, nil
}

// buildServer builds the binary under test, with the race detector when the
// tests have it (the packages are then already compiled that way).
func buildServer(root, bin string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not in PATH: %w", err)
	}
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, ".")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startServer runs `boxoffice serve` with the test provider and waits until it
// is ready; the returned func stops it as a deploy would (SIGTERM).
func (h *harness) startServer(bin, dbURL, redisURL, logPath string) (func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL, "REDIS_URL="+redisURL, "BOXOFFICE_ADDR="+addr,
		"BOXOFFICE_SECRET="+randomHex(32), "PAYMENTS_PROVIDER=test", "BOXOFFICE_SHUTDOWN_GRACE=2s",
		// Every fan of these tests signs up from one address.
		"BOXOFFICE_RATE_SIGNUP=10000/1m", "BOXOFFICE_RATE_SIGNIN=10000/1m", "BOXOFFICE_RATE_JOIN=10000/1m",
		"BOXOFFICE_ORGANIZER_EMAIL="+h.orgEmail, "BOXOFFICE_ORGANIZER_PASSWORD="+h.orgPassword)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start boxoffice serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
	}
	h.base = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(h.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, nil
			}
		}
		select {
		case err := <-exited:
			logFile.Close()
			return nil, fmt.Errorf("boxoffice serve exited (%v); see %s", err, logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("boxoffice serve not ready within a minute; see %s", logPath)
		}
	}
}

// cleanRedis deletes the keys of every event the tests made, once the server
// that writes them has stopped.
func (h *harness) cleanRedis() {
	opts, err := redis.ParseURL(h.redisURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	for _, id := range h.events {
		iter := rdb.Scan(ctx, 0, "ev:{"+id+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
	}
}

func (h *harness) remember(eventID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, eventID)
}

// url is a page or API address on the server.
func (h *harness) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return h.base + path
}
