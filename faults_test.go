package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/rehearse"
	"github.com/boxofficehq/boxoffice/rehearse/rehearsetest"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/store/storetest"
)

// The faults a deployment meets on the day, each during a sale by a crowd of
// fans (rehearse, through the public API and live feed) against a real
// `boxoffice serve`, and each ending with the invariant check
// (rehearse.CheckInvariants): no ticket booked twice, every zone adds up,
// every succeeded payment booked or refunded, no fan over the limit, and no
// answer a 500.

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// privateRedis is a redis-server of the test's own, keeping nothing on disk:
// restarting it loses every key, as a Redis without persistence does when
// its host dies.
type privateRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed: the private Redis these faults restart needs it")
	}
	r := &privateRedis{t: t, port: freePort(t)}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	require.NoError(r.t, r.cmd.Start())
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	require.Eventually(r.t, func() bool { return c.Ping(context.Background()).Err() == nil },
		10*time.Second, 20*time.Millisecond, "private redis-server answers")
}

// kill ends it at once (SIGKILL), as a host that dies.
func (r *privateRedis) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// privatePostgres is a PostgreSQL cluster of the test's own in a temporary
// directory, which the test may crash and start again.
type privatePostgres struct {
	t          *testing.T
	bin, dir   string
	port       int
	asPostgres bool // root runs it as the postgres user: PostgreSQL refuses root
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bin := ""
	if p, err := exec.LookPath("initdb"); err == nil {
		bin = filepath.Dir(p)
	} else if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(m) > 0 {
		bin = filepath.Dir(m[len(m)-1])
	}
	if bin == "" {
		t.Skip("initdb is not installed: the PostgreSQL restart needs a private cluster")
	}
	p := &privatePostgres{t: t, bin: bin, port: freePort(t), asPostgres: os.Geteuid() == 0}
	// Not t.TempDir(): when root hands the directory to the postgres user,
	// that user must reach it, and the test's cleanup must still remove it.
	dir, err := os.MkdirTemp("", "boxoffice-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	if p.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user: PostgreSQL refuses to run as root")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(dir, uid, gid))
	}
	p.dir = dir
	p.run("initdb", "-D", p.data(), "--auth=trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	p.start()
	t.Cleanup(func() { p.stop("immediate") })
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) run(tool string, args ...string) {
	p.t.Helper()
	name, all := filepath.Join(p.bin, tool), args
	if p.asPostgres {
		name, all = "runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)
	}
	out, err := exec.Command(name, all...).CombinedOutput()
	require.NoError(p.t, err, "%s: %s", tool, out)
}

func (p *privatePostgres) start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "30", "start", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", p.port, p.dir))
}

// stop stops it: "immediate" is a crash (no checkpoint, clients cut off).
func (p *privatePostgres) stop(mode string) {
	name, args := filepath.Join(p.bin, "pg_ctl"), []string{"-D", p.data(), "-m", mode, "-w", "stop"}
	if p.asPostgres {
		name, args = "runuser", append([]string{"-u", "postgres", "--", name}, args...)
	}
	_ = exec.Command(name, args...).Run()
}

// faultSale is a sale to run a fault in: an event on sale now with fewer
// tickets than the crowd wants (so it sells out and the rehearsal ends by
// itself), short sessions and a small cap on shoppers (so a line forms), and
// the crowd's accounts made beforehand with a cheap password hash (serve's
// own costs seconds under the race detector).
type faultSale struct {
	db      *store.DB
	eventID string
	prefix  string
	fans    int
}

func newFaultSale(t *testing.T, db *store.DB, fans int) *faultSale {
	t.Helper()
	ctx := context.Background()
	db.BcryptCost = 4
	ev := storetest.Event(t, db, storetest.Organizer(t, db).ID, 20, store.Row{Row: "A", Seats: 10})
	hold, shoppers, grace := 8, 15, 2
	_, err := db.UpdateEvent(ctx, ev.ID, store.Settings{HoldSeconds: &hold, MaxActiveShoppers: &shoppers, PaymentGraceSeconds: &grace})
	require.NoError(t, err)
	s := &faultSale{db: db, eventID: ev.ID, prefix: strings.ToLower(store.NewID("fault")), fans: fans}
	for n := 1; n <= fans; n++ {
		_, err := db.CreateUser(ctx, store.Registration{Name: "Fan", Email: fmt.Sprintf("%s-%d@rehearse.example", s.prefix, n),
			Password: "rehearse-password"}, store.RoleFan)
		require.NoError(t, err)
	}
	return s
}

// booked is how many tickets are booked now, or -1 when PostgreSQL cannot say.
func (s *faultSale) booked() int { return rehearsetest.Booked(s.db.Pool(), s.eventID) }

// run lets the crowd loose on serve and calls fault once the first tickets
// are booked (rehearsetest.Crowd); serve's errors are logged if the test fails.
func (s *faultSale) run(t *testing.T, srv *served, check rehearse.Querier, fault func()) (*rehearse.Report, int) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, rec := range srv.log.records() {
			if rec["level"] == "ERROR" {
				t.Logf("serve logged: %v", rec)
			}
		}
	})
	return rehearsetest.Crowd(t, rehearse.Config{URL: srv.base, EventID: s.eventID, Fans: s.fans, Duration: 40 * time.Second,
		Concurrency: 32, Prefix: s.prefix, Password: "rehearse-password", Seed: 11, Cancel: 0.2, Abandon: 0.1,
		DoubleClick: 0.2, DB: check, SettleWait: 20 * time.Second}, fault)
}

// requireRedisAgrees checks that Redis's inventory of the event is
// PostgreSQL's, ticket for ticket.
func requireRedisAgrees(t *testing.T, db *store.DB, rdb redis.UniversalClient, eventID string) {
	t.Helper()
	ctx := context.Background()
	inv := inventory.New(rdb, time.Now, queue.ActiveKey)
	require.Eventually(t, func() bool {
		snap, err := db.InventorySnapshot(ctx, eventID)
		require.NoError(t, err)
		diffs, err := inv.Drift(ctx, snap)
		return err == nil && len(diffs) == 0
	}, 10*time.Second, 100*time.Millisecond, "Redis's inventory is PostgreSQL's")
}

// Redis dies mid-sale and comes back empty: the line and the sessions are
// gone, the inventory is rebuilt from PostgreSQL at the first reserve that
// finds it missing, fans whose sessions ended line up again, and the sale
// sells out with every invariant intact and Redis agreeing with PostgreSQL.
func TestFaultRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	rds := startPrivateRedis(t)
	s := startServe(t, map[string]string{"REDIS_URL": rds.url()})
	sale := newFaultSale(t, storetest.DB(t), 40)

	rep, before := sale.run(t, s, storetest.Pool(t), func() {
		rds.kill()
		time.Sleep(300 * time.Millisecond)
		rds.start()
	})
	t.Logf("%d tickets booked when Redis restarted empty", before)
	require.Less(t, before, 30, "Redis restarted mid-sale, before the sell-out")
	require.True(t, rep.Sale.SoldOut, "the sale went on after Redis came back, and sold out")
	require.EqualValues(t, 30, sale.booked(), "every ticket booked once")

	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(rds.url(), "redis://"), "/0")})
	defer rdb.Close()
	requireRedisAgrees(t, sale.db, rdb, sale.eventID)
}

// PostgreSQL crashes mid-sale and comes back a few seconds later: meanwhile
// what needs it answers 503 with Retry-After (never 500), /readyz says so,
// and the same serve process, never restarted, finishes the sale.
func TestFaultPostgresRestarted(t *testing.T) {
	t.Parallel()
	pg := startPrivatePostgres(t)
	s := startServe(t, map[string]string{"DATABASE_URL": pg.url()})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.url())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	sale := newFaultSale(t, store.New(pool), 40)
	storetest.CleanRedis(t, storetest.Redis(t), sale.eventID)

	var down struct {
		status      int
		retryAfter  string
		readyStatus int
	}
	rep, before := sale.run(t, s, pool, func() {
		pg.stop("immediate")
		client := &http.Client{Timeout: 10 * time.Second}
		// A sign-up needs PostgreSQL whatever any cache holds.
		resp, err := client.Post(s.base+"/api/v1/users", "application/json",
			strings.NewReader(`{"name":"Late","email":"`+store.NewID("late")+`@example.com","password":"late-password"}`))
		require.NoError(t, err)
		resp.Body.Close()
		down.status, down.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		resp, err = client.Get(s.base + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		down.readyStatus = resp.StatusCode
		time.Sleep(2 * time.Second)
		pg.start()
	})
	t.Logf("%d tickets booked when PostgreSQL crashed", before)
	require.Less(t, before, 30, "PostgreSQL crashed mid-sale, before the sell-out")
	require.Equal(t, http.StatusServiceUnavailable, down.status, "a sign-up while PostgreSQL is down")
	require.NotEmpty(t, down.retryAfter, "503 without Retry-After")
	require.Equal(t, http.StatusServiceUnavailable, down.readyStatus, "/readyz says PostgreSQL is down")
	unavailable := 0
	for _, e := range rep.Errors {
		require.NotEqual(t, http.StatusInternalServerError, e.Status, "%+v", e)
		if e.Status == http.StatusServiceUnavailable {
			unavailable += e.Count
		}
	}
	t.Logf("%d answers were 503 while PostgreSQL was down", unavailable)
	require.True(t, rep.Sale.SoldOut, "the same serve process sold out after PostgreSQL came back")
	require.EqualValues(t, 30, sale.booked())
	resp, err := http.Get(s.base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/readyz is ready again")
}
