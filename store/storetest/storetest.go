// Package storetest gives each test package its own migrated PostgreSQL database,
// created from TEST_DATABASE_URL (which `make test` sets) and dropped at the end.
package storetest

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/store"
)

// url is the package's database and pool its shared pool, set by Main before
// any test runs. One small pool per package keeps the parallel packages of
// `go test ./...` well under PostgreSQL's 100 connections.
var (
	url  string
	pool *pgxpool.Pool
)

// Main runs the package's tests against a fresh database and drops it afterwards.
// Use it as the package's TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		fmt.Fprintln(os.Stderr, "TEST_DATABASE_URL is not set: run the tests with `make test`, which starts PostgreSQL and Redis and sets it")
		return 1
	}
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "TEST_DATABASE_URL:", err)
		return 1
	}
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect TEST_DATABASE_URL:", err)
		return 1
	}
	defer admin.Close(ctx)
	name := strings.ToLower(strings.ReplaceAll(store.NewID("boxoffice_test"), "-", "_"))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintln(os.Stderr, "create test database:", err)
		return 1
	}
	defer func() {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "drop test database:", err)
		}
	}()
	if url, err = replaceDatabase(base, name); err != nil {
		fmt.Fprintln(os.Stderr, "TEST_DATABASE_URL:", err)
		return 1
	}

	poolCfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test database URL:", err)
		return 1
	}
	poolCfg.MaxConns = 8
	poolCfg.ConnConfig.Tracer = roundTrips
	if pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		fmt.Fprintln(os.Stderr, "connect test database:", err)
		return 1
	}
	defer pool.Close()
	if _, _, err = store.Migrate(pool, "up"); err != nil {
		fmt.Fprintln(os.Stderr, "migrate test database:", err)
		return 1
	}
	return m.Run()
}

// roundTrips counts the package's round trips to PostgreSQL: each statement
// (BEGIN and COMMIT too) and each batch of statements sent at once.
var roundTrips = &tripCounter{}

type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// RoundTrips is how many round trips to PostgreSQL the package's pool has
// made so far, for benchmarks to report per operation.
func RoundTrips() int64 { return roundTrips.n.Load() }

// replaceDatabase swaps the database name in a postgres:// URL.
func replaceDatabase(base, name string) (string, error) {
	u, err := neturl.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("want a postgres:// URL, got %q", base)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// URL is the package's test database.
func URL(t testing.TB) string {
	t.Helper()
	if url == "" {
		t.Fatal("storetest.Main is not the package's TestMain")
	}
	return url
}

// Pool is the package's shared pool on its test database.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	URL(t)
	return pool
}

// DB is a store on the package's test database with a cheap password hash.
func DB(t testing.TB) *store.DB {
	t.Helper()
	db := store.New(Pool(t))
	db.BcryptCost = 4
	return db
}

// Tx is a store inside a transaction that is rolled back when the test ends:
// nothing the test writes outlives it.
func Tx(t testing.TB) *store.DB {
	t.Helper()
	tx, err := Pool(t).Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): it is cancelled by the time cleanups run.
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	db := store.New(tx)
	db.BcryptCost = 4
	return db
}

// Organizer creates an organizer account for a test.
func Organizer(t testing.TB, db *store.DB) *store.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), store.Registration{
		Name: "Org", Email: store.NewID("org") + "@example.com", Password: "organizer-password",
	}, store.RoleOrganizer)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Fan creates a fan account for a test.
func Fan(t testing.TB, db *store.DB) *store.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), store.Registration{
		Name: "Fan", Email: store.NewID("fan") + "@example.com", Password: "fan-password",
	}, store.RoleFan)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Event creates an event open for sale now, with a pool zone "GA" of poolSize and
// a seated zone "VIP" of the given rows (nil for none).
func Event(t testing.TB, db *store.DB, organizerID string, poolSize int, rows ...store.Row) *store.Event {
	t.Helper()
	now := time.Now()
	price := int64(5000)
	n := store.NewEvent{ID: store.NewID("ev")}
	n.Name = ptr("Test show")
	n.StartsAt = ptr(now.Add(30 * 24 * time.Hour))
	n.SaleOpensAt = ptr(now.Add(-time.Minute))
	if poolSize > 0 {
		n.Zones = append(n.Zones, store.NewZone{ID: "GA", Kind: inventory.Pool, Capacity: &poolSize, PriceCents: &price})
	}
	if len(rows) > 0 {
		n.Zones = append(n.Zones, store.NewZone{ID: "VIP", Kind: inventory.Seated, Rows: rows, PriceCents: &price})
	}
	e, err := db.CreateEvent(context.Background(), n, organizerID)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ptr[T any](v T) *T { return &v }

// Redis connects to TEST_REDIS_URL (which `make test` sets): one node, or a
// Redis Cluster when the URL names several nodes with addr= (as REDIS_URL does;
// scripts/redis-cluster.sh runs the tests so). Tests keep to keys of their own
// events (ev:{<id>}:...), which CleanRedis deletes.
func Redis(t testing.TB) redis.UniversalClient {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		t.Fatal("TEST_REDIS_URL is not set: run the tests with `make test`")
	}
	var opts redis.UniversalOptions
	if u, err := neturl.Parse(raw); err == nil && u.Query().Has("addr") {
		c, err := redis.ParseClusterURL(raw)
		if err != nil {
			t.Fatalf("TEST_REDIS_URL: %v", err)
		}
		opts = redis.UniversalOptions{Addrs: c.Addrs, Password: c.Password, IsClusterMode: true}
	} else {
		o, err := redis.ParseURL(raw)
		if err != nil {
			t.Fatalf("TEST_REDIS_URL: %v", err)
		}
		opts = redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, Password: o.Password}
	}
	rdb := redis.NewUniversalClient(&opts)
	rdb.AddHook(redisTrips{})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// redisTrips counts the package's round trips to Redis: each command, and
// each pipeline of commands sent at once.
var redisTripCount atomic.Int64

type redisTrips struct{}

func (redisTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (redisTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		redisTripCount.Add(1)
		return next(ctx, cmd)
	}
}

func (redisTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		redisTripCount.Add(1)
		return next(ctx, cmds)
	}
}

// RedisRoundTrips is how many round trips to Redis the package's clients have
// made so far, for benchmarks to report per operation.
func RedisRoundTrips() int64 { return redisTripCount.Load() }

// CleanRedis deletes every key of the event now and when the test ends, on
// every node of a cluster.
func CleanRedis(t testing.TB, rdb redis.UniversalClient, eventID string) {
	t.Helper()
	clean := func() {
		ctx := context.Background()
		del := func(ctx context.Context, node redis.UniversalClient) error {
			iter := node.Scan(ctx, 0, "ev:{"+eventID+"}:*", 1000).Iterator()
			for iter.Next(ctx) {
				node.Del(ctx, iter.Val())
			}
			return iter.Err()
		}
		if c, ok := rdb.(*redis.ClusterClient); ok {
			_ = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return del(ctx, node) })
			return
		}
		_ = del(ctx, rdb)
	}
	clean()
	t.Cleanup(clean)
}

// Subscribers counts the clients subscribed to a pub/sub channel, on every
// node of a cluster (each node counts only its own).
func Subscribers(ctx context.Context, rdb redis.UniversalClient, channel string) (int64, error) {
	count := func(ctx context.Context, node redis.UniversalClient) (int64, error) {
		subs, err := node.PubSubNumSub(ctx, channel).Result()
		return subs[channel], err
	}
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return count(ctx, rdb)
	}
	var (
		mu    sync.Mutex
		total int64
	)
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		n, err := count(ctx, node)
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	})
	return total, err
}
