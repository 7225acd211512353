// Package store is PostgreSQL access with pgx: the source of truth for users,
// events, zones, tickets, holds, bookings and payments.
package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/crypto/bcrypt"

	"github.com/boxofficehq/boxoffice/migrations"
)

var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("already exists")
	// ErrBadText is text PostgreSQL cannot store or compare: a NUL byte or bytes
	// that are not UTF-8. No stored id can match it.
	ErrBadText = errors.New("text contains a NUL byte or is not valid UTF-8")
)

// DB is the application's handle on PostgreSQL: a pool, or a transaction.
type DB struct {
	pool conn // named for the usual case; a transaction in tests

	// BcryptCost is the work factor for new password hashes; tests lower it.
	BcryptCost int
	// Now is the clock; tests move it.
	Now func() time.Time

	// passwords checks passwords (users.go); its zero value uses bcrypt.
	passwords passwordChecker

	// The idempotency keys' claims and saves, each grouped (idempotency.go).
	claims group[keyClaim, bool]
	saves  group[keySave, struct{}]
}

// New runs the store on c: a pool, or a transaction the caller ends.
func New(c DBTX) *DB {
	db := &DB{pool: conn{c}, BcryptCost: bcrypt.DefaultCost, Now: time.Now}
	db.claims = group[keyClaim, bool]{max: groupMax, run: db.claimKeys}
	db.saves = group[keySave, struct{}]{max: groupMax, run: db.saveAnswers}
	return db
}

func (db *DB) bcryptCost() int { return db.BcryptCost }

func (db *DB) now() time.Time { return db.Now() }

// Pool is the connection the store runs on, for tests that read its tables.
func (db *DB) Pool() DBTX { return db.pool.c }

// Ping reports whether PostgreSQL answers.
func (db *DB) Ping(ctx context.Context) error {
	_, err := db.pool.Exec(ctx, "SELECT 1")
	return err
}

// readTx runs fn in a read-only transaction (a savepoint inside a caller's).
func (db *DB) readTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	opts.AccessMode = pgx.ReadOnly
	tx, err := db.pool.beginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Open connects to url, creating its database first when createDB is set and it
// does not exist yet, so `make run` works against a bare server.
func Open(ctx context.Context, url string, createDB bool) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if createDB {
		if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	return pool, nil
}

func ensureDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		// Without rights on "postgres" we can only hope the database exists; the
		// real connection says clearly if it does not.
		return nil
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another replica
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies the embedded migrations up to the newest, or down by all when
// down is set. Running it on every replica at once is safe: golang-migrate takes
// an advisory lock.
func Migrate(pool *pgxpool.Pool, direction string) (version uint, dirty bool, err error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, false, fmt.Errorf("read migrations: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	driver, err := migratepgx.WithInstance(sqlDB, &migratepgx.Config{})
	if err != nil {
		return 0, false, fmt.Errorf("migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return 0, false, fmt.Errorf("migrate: %w", err)
	}
	defer m.Close() // returns the driver's connection to the pool
	switch direction {
	case "up":
		err = m.Up()
	case "down":
		err = m.Down()
	case "version":
	default:
		return 0, false, fmt.Errorf("migrate: unknown direction %q (want up, down or version)", direction)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return 0, false, fmt.Errorf("migrate %s: %w", direction, err)
	}
	version, dirty, err = m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return version, dirty, err
}

// NewID returns a random identifier with a readable prefix. IDs are unguessable so
// that a fan cannot probe for other fans' holds or bookings.
func NewID(prefix string) string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// DuplicateError is a value that must be unique and is taken. Field names it
// as the caller gave it ("email" of an account, "id" of an event); it is empty
// for values no caller chooses. errors.Is(err, ErrDuplicate) holds.
type DuplicateError struct {
	Constraint string // PostgreSQL's name for the rule
	Field      string
}

func (e *DuplicateError) Error() string { return ErrDuplicate.Error() + ": " + e.Constraint }

// Is makes the error match ErrDuplicate, for callers that need no field.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// uniqueField is the field whose value a unique constraint guards, for the
// constraints a caller can run into with a value of their choosing.
func uniqueField(constraint string) string {
	switch constraint {
	case "users_email_key":
		return "email"
	case "events_pkey":
		return "id"
	}
	return ""
}

// translate maps driver errors to the package's sentinels.
func translate(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return &DuplicateError{Constraint: pgErr.ConstraintName, Field: uniqueField(pgErr.ConstraintName)}
	case errors.As(err, &pgErr) && pgErr.Code == "22021": // character_not_in_repertoire
		return ErrBadText
	}
	return err
}
