// Package app builds one Boxoffice replica and runs it. It is the one place
// that wires the packages together (serve, payments reconcile and the tests all
// build a replica here, the same way), and the one owner of the background
// loops: Run starts them and returns only once every one has ended, so the
// caller closes the pools after the last loop's last query.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxofficehq/boxoffice/booking"
	"github.com/boxofficehq/boxoffice/door"
	"github.com/boxofficehq/boxoffice/inventory"
	"github.com/boxofficehq/boxoffice/payments"
	"github.com/boxofficehq/boxoffice/queue"
	"github.com/boxofficehq/boxoffice/ratelimit"
	"github.com/boxofficehq/boxoffice/realtime"
	"github.com/boxofficehq/boxoffice/sale"
	"github.com/boxofficehq/boxoffice/session"
	"github.com/boxofficehq/boxoffice/store"
	"github.com/boxofficehq/boxoffice/web"
)

// Intervals are how often each background loop runs; zero takes the default.
type Intervals struct {
	Admission time.Duration // admission steps of every open line (200 ms)
	Presence  time.Duration // signs of life for fans connected here (1 s)
	Expiry    time.Duration // holds whose time is up back on sale (250 ms)
	Settle    time.Duration // the payment settler (1 s)
	Repair    time.Duration // rebuilds of inventories found wrong (1 s)
	Reap      time.Duration // phantom holds freed (2 s)
	Drift     time.Duration // Redis compared with PostgreSQL (30 s)
	Purge     time.Duration // idempotency keys past their day deleted (1 h)
	Listing   time.Duration // the events on sale read from PostgreSQL (2 s)
	Notices   time.Duration // ticket changes sent to live clients (100 ms)
}

func (i Intervals) withDefaults() Intervals {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&i.Admission, 200*time.Millisecond)
	def(&i.Presence, time.Second)
	def(&i.Expiry, 250*time.Millisecond)
	def(&i.Settle, time.Second)
	def(&i.Repair, time.Second)
	def(&i.Reap, 2*time.Second)
	def(&i.Drift, 30*time.Second)
	def(&i.Purge, time.Hour)
	def(&i.Listing, 2*time.Second)
	def(&i.Notices, 100*time.Millisecond)
	return i
}

// Config is what a replica is built from, besides its PostgreSQL and Redis.
type Config struct {
	Secret        string // signs session tokens and ticket codes; the same on every replica
	SecureCookies bool
	Limits        web.Limits // Rates default to Redis-backed ones
	Provider      payments.Provider
	Stripe        *payments.Stripe // webhooks and the publishable key; nil without Stripe
	Every         Intervals
	Log           *slog.Logger
	// Events is where the sale reads the events on sale; default the store.
	// Tests narrow it to their own events, as they share a database.
	Events sale.Store
	// BookingStore wraps the store under booking; tests inject faults with it.
	BookingStore func(db *store.DB) booking.Store
	// Live tunes the live hub (its Log is Log); zero values take its defaults.
	Live realtime.Options
}

// App is one replica: every part, built once.
type App struct {
	DB        *store.DB
	Redis     redis.UniversalClient
	Line      *queue.Queue
	Inventory *inventory.Inventory
	Hub       *realtime.Hub
	Sales     *booking.Service
	Sessions  *session.Service
	Sale      *sale.Service
	API       *web.Server
	// Web is the wiring API was built with, for a caller (a test) that builds
	// another API on the same parts.
	Web web.Config

	controller *queue.Controller
	notices    *sale.Notifier
	every      Intervals
	log        *slog.Logger
}

// New builds a replica on db and rdb. Nothing runs until Run.
func New(db *store.DB, rdb redis.UniversalClient, cfg Config) *App {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{DB: db, Redis: rdb, every: cfg.Every.withDefaults(), log: log}
	a.Line = queue.New(rdb, time.Now)
	a.Inventory = inventory.New(rdb, time.Now, queue.ActiveKey)
	live := cfg.Live
	live.Log = log
	a.Hub = realtime.NewHub(rdb, live)
	var bs booking.Store = db
	if cfg.BookingStore != nil {
		bs = cfg.BookingStore(db)
	}
	a.notices = sale.NewNotifier(a.Hub, a.Inventory)
	a.Sales = booking.New(bs, a.Inventory, cfg.Provider, a.notices, log, time.Now)
	// Settings changed by an organizer reach every request within a second.
	cache := store.NewEventCache(db, time.Second)
	a.Sessions = session.New(session.Config{Line: a.Line, Signer: session.NewSigner(cfg.Secret, time.Now),
		Holds: a.Sales, Store: db, Events: cache, Hub: a.Hub, Log: log})
	events := cfg.Events
	if events == nil {
		events = db
	}
	a.Sale = sale.New(sale.Config{Queue: a.Line, Sessions: a.Sessions, Hub: a.Hub, Inventory: a.Inventory,
		Store: events, Redis: rdb, Log: log, ListEvery: a.every.Listing})
	a.controller = queue.NewController(a.Line, a.Sale.Events, a.Sale.OnStep, log)
	limits := cfg.Limits
	if limits.Rates == nil {
		limits.Rates = ratelimit.New(rdb, "rl")
	}
	wc := web.Config{
		Store: db, Events: cache, Sessions: a.Sessions, Sale: a.Sale, Queue: a.Line, Hub: a.Hub, Booking: a.Sales, Settler: a.Sales,
		Inventory: a.Inventory, Door: door.New(door.NewCodes(cfg.Secret), db, time.Now),
		Log: log, SecureCookies: cfg.SecureCookies, Limits: limits,
		PingRedis: func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
	}
	if cfg.Stripe != nil {
		wc.Webhooks, wc.PublishableKey = cfg.Stripe, cfg.Stripe.PublishableKey()
	}
	a.Web, a.API = wc, web.New(wc)
	return a
}

// Run runs every background loop until ctx ends, and returns once all have
// ended. A loop's error is logged and the loop goes on: one bad pass (a sick
// dependency, a malformed reply) never stops the replica.
func (a *App) Run(ctx context.Context) {
	var wg sync.WaitGroup
	loop := func(what string, every time.Duration, pass func(ctx context.Context) error) {
		wg.Go(func() { a.repeat(ctx, what, every, pass) })
	}
	loop("admission", a.every.Admission, a.controller.Tick)
	loop("live notices", a.every.Notices, a.notices.Flush)
	loop("presence", a.every.Presence, func(ctx context.Context) error { a.Sessions.KeepPresent(ctx); return nil })
	loop("expire holds", a.every.Expiry, func(ctx context.Context) error { _, err := a.Sales.ExpireDue(ctx); return err })
	loop("settle payments", a.every.Settle, func(ctx context.Context) error { _, err := a.Sales.SettleDue(ctx, 100); return err })
	loop("repair inventory", a.every.Repair, a.Sales.Repair)
	loop("free phantom holds", a.every.Reap, a.eachOnSale(func(ctx context.Context, id string) error {
		_, err := a.Sales.ReapPhantoms(ctx, id)
		return err
	}))
	loop("drift check", a.every.Drift, a.eachOnSale(func(ctx context.Context, id string) error {
		_, err := a.Sales.CheckDrift(ctx, id)
		return err
	}))
	loop("purge idempotency keys", a.every.Purge, func(ctx context.Context) error {
		_, err := a.DB.PurgeIdempotencyKeys(ctx)
		return err
	})
	wg.Go(func() { a.Sessions.Run(ctx) }) // admissions handed over by the hub, as they come
	wg.Wait()
}

// repeat runs pass at once and then every interval until ctx ends: the one
// shape of every background loop.
func (a *App) repeat(ctx context.Context, what string, every time.Duration, pass func(ctx context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := a.safely(ctx, pass); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, what, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// safely runs one pass, turning a panic into an error: a loop without recover
// would take the replica down with it.
func (a *App) safely(ctx context.Context, pass func(ctx context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return pass(ctx)
}

// eachOnSale makes a pass over every event whose line is open.
func (a *App) eachOnSale(do func(ctx context.Context, eventID string) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		events, err := a.Sale.Events(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, ev := range events {
			if err := do(ctx, ev.ID); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// Close tells this replica's live clients to reconnect elsewhere and ends the
// live subscription. Call it after Run has returned.
func (a *App) Close() error { return a.Hub.Close() }
