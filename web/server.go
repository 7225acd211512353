// Package web is the HTTP face of Boxoffice: the echo JSON API, the WebSocket
// endpoint and the embedded pages.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/boxofficehq/boxoffice/store"
)

// EventSource gives an event by id; *store.EventCache satisfies it.
type EventSource interface {
	Event(ctx context.Context, id string) (*store.Event, error)
	Forget(id string)
}

// Store is what the API needs from PostgreSQL; *store.DB satisfies it.
type Store interface {
	Ping(ctx context.Context) error
	CreateUser(ctx context.Context, r store.Registration, role string) (*store.User, error)
	Authenticate(ctx context.Context, email, password string) (*store.User, error)
	CreateToken(ctx context.Context, userID string) (string, error)
	UserByToken(ctx context.Context, token string) (*store.User, error)
	DeleteToken(ctx context.Context, token string) error
	CreateEvent(ctx context.Context, n store.NewEvent, createdBy string) (*store.Event, error)
	Event(ctx context.Context, id string) (*store.Event, error)
	Events(ctx context.Context) ([]*store.Event, error)
	UpdateEvent(ctx context.Context, id string, s store.Settings) (*store.Event, error)
	Seats(ctx context.Context, eventID, zoneID string) ([]store.Seat, error)
	Sales(ctx context.Context, eventID string) (bookings int, revenueCents int64, err error)
	HoldsOf(ctx context.Context, userID string) ([]*store.Hold, error)
	BookingsOf(ctx context.Context, userID string) ([]*store.Booking, error)
	ActiveHoldsOfSession(ctx context.Context, eventID, userID string) ([]string, error)
	FirstDelivery(ctx context.Context, provider, id, typ string) (bool, error)
	ForgetDelivery(ctx context.Context, provider, id string) error
	ClaimIdempotencyKey(ctx context.Context, scope, key string, hash []byte) (store.Claim, error)
	SaveIdempotentResponse(ctx context.Context, scope, key string, r store.StoredResponse) error
	ReleaseIdempotencyKey(ctx context.Context, scope, key string) error
	HeartbeatIdempotencyKey(ctx context.Context, scope, key string) error
}

// uncached reads every event fresh: Events when a Config has none.
type uncached struct{ Store }

func (uncached) Forget(string) {}

// Config wires a Server.
type Config struct {
	Store Store
	// Events is the replica's cache of events (store.EventCache), read by
	// every request about a line or a purchase; Store when nil.
	Events EventSource
	// Sessions are the shopping sessions, Sale a fan's standing in line,
	// Queue what organizers and auditors read of the line.
	Sessions Sessions
	Sale     Sale
	Queue    Queue
	// Hub serves live updates to this replica's WebSocket clients.
	Hub Hub
	// Booking sells tickets; Inventory counts them live.
	Booking   Booking
	Inventory Counter
	// Door signs ticket codes and checks them in at the door.
	Door Door
	// Webhooks verifies Stripe's deliveries (nil without Stripe); Settler acts
	// on them. PublishableKey goes to the payment page.
	Webhooks       WebhookVerifier
	Settler        Settler
	PublishableKey string
	// PingRedis is checked by /readyz.
	PingRedis func(ctx context.Context) error
	Log       *slog.Logger
	// SecureCookies marks the sign-in cookie Secure (behind HTTPS).
	SecureCookies bool
	// Limits bound what clients may take of this replica.
	Limits Limits
}

// Server holds the API's dependencies. Build it with New.
type Server struct {
	store         Store
	sessions      Sessions
	sale          Sale
	queue         Queue
	hub           Hub
	booking       Booking
	inv           Counter
	door          Door
	webhooks      WebhookVerifier
	settler       Settler
	publishable   string
	events        EventSource
	tokens        tokenCache
	pingRedis     func(ctx context.Context) error
	log           *slog.Logger
	warn          *slog.Logger // throttled: expected trouble, once per warnEvery
	limits        Limits
	caps          liveCaps
	secureCookies bool
	echo          *echo.Echo
	metrics       *metrics
	registry      *prometheus.Registry
}

// New builds the API with every route registered.
func New(cfg Config) *Server {
	if cfg.Events == nil {
		cfg.Events = uncached{cfg.Store}
	}
	s := &Server{
		store:         cfg.Store,
		events:        cfg.Events,
		sessions:      cfg.Sessions,
		sale:          cfg.Sale,
		queue:         cfg.Queue,
		hub:           cfg.Hub,
		booking:       cfg.Booking,
		inv:           cfg.Inventory,
		door:          cfg.Door,
		webhooks:      cfg.Webhooks,
		settler:       cfg.Settler,
		publishable:   cfg.PublishableKey,
		pingRedis:     cfg.PingRedis,
		log:           cfg.Log,
		limits:        cfg.Limits,
		caps:          liveCaps{byKey: map[string]int{}},
		secureCookies: cfg.SecureCookies,
		echo:          echo.New(),
		registry:      prometheus.NewRegistry(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.warn = slog.New(Throttle(s.log.Handler(), warnEvery))
	s.metrics = newMetrics(s.registry)
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "boxoffice_live_connections",
		Help: "Live WebSockets open on this replica (BOXOFFICE_MAX_LIVE caps them).",
	}, func() float64 {
		s.caps.mu.Lock()
		defer s.caps.mu.Unlock()
		return float64(s.caps.total)
	}))
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.answerError
	e.IPExtractor = s.clientIP
	e.Use(s.requestID, s.observe, s.recoverPanics, s.requestDeadline, s.bodyDeadline, middleware.BodyLimit("1M"),
		s.requireJSON, s.authenticate, s.limitRates)
	s.routes()
	return s
}

func (s *Server) routes() {
	s.pages()
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())

	api := e.Group("/api/v1", s.idempotent)
	api.GET("/openapi.yaml", s.openAPI)

	api.POST("/users", s.register)
	api.POST("/auth/login", s.login)
	api.POST("/auth/logout", s.logout)
	api.GET("/me", s.me, s.requireUser)

	api.POST("/events", s.createEvent, s.requireOrganizer)
	api.GET("/events", s.listEvents)
	api.GET("/events/:id", s.getEvent)
	api.PATCH("/events/:id", s.updateEvent, s.requireOrganizer)
	api.GET("/events/:id/zones/:zone/seats", s.seats)
	api.GET("/events/:id/stats", s.stats, s.requireOrganizer)

	api.POST("/events/:id/queue", s.joinQueue, s.requireUser)
	api.GET("/events/:id/queue", s.queueStatus, s.requireUser)
	api.DELETE("/events/:id/queue", s.leaveQueue, s.requireUser)
	api.GET("/events/:id/queue/audit", s.queueAudit)
	api.GET("/events/:id/queue/now", s.queueNow)
	api.GET("/events/:id/live", s.live, s.capLive)

	api.POST("/tickets/reserve", s.reserve, s.requireUser)
	api.GET("/reservations/:id", s.getReservation, s.requireUser)
	api.GET("/me/reservations", s.myReservations, s.requireUser)
	api.POST("/payments", s.createPayment, s.requireUser)
	api.POST("/payments/:id/confirm", s.confirmPayment, s.requireUser)
	api.POST("/tickets/book", s.book, s.requireUser)
	api.POST("/tickets/cancel", s.cancel, s.requireUser)
	api.GET("/me/bookings", s.myBookings, s.requireUser)
	api.GET("/me/payments", s.myPayments, s.requireUser)
	api.POST("/events/:id/inventory/rebuild", s.rebuildInventory, s.requireOrganizer)
	api.POST("/events/:id/checkins", s.checkIn, s.requireOrganizer)
	api.POST("/webhooks/stripe", s.stripeWebhook)
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 503 while PostgreSQL or Redis is unreachable, so the load
// balancer sends traffic elsewhere. It names the failing dependency; the error
// itself, which may hold a host or user name, goes to the log.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := map[string]func(context.Context) error{"postgres": s.store.Ping, "redis": s.pingRedis}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		answer = map[string]string{}
		status = http.StatusOK
	)
	for name := range checks { // all before any check runs: they write here too
		answer[name] = "ok"
	}
	for name, ping := range checks {
		if ping == nil {
			continue
		}
		wg.Go(func() {
			if err := ping(ctx); err != nil {
				mu.Lock()
				answer[name], status = "unreachable", http.StatusServiceUnavailable
				mu.Unlock()
				s.warn.WarnContext(ctx, "not ready: "+name+" unreachable", "err", err)
			}
		})
	}
	wg.Wait()
	if status != http.StatusOK {
		c.Response().Header().Set("Retry-After", "5")
	}
	return c.JSON(status, answer)
}
