package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrUnavailable is PostgreSQL out of reach: down, restarting, too slow for the
// caller's deadline. Every error the store returns for that reason wraps it, so
// callers answer "retry shortly" without knowing the driver.
var ErrUnavailable = errors.New("the database is unavailable")

// DBTX is what the store runs on: a pool, or a transaction that a test (or a
// caller that needs several store calls to commit together) rolls back or
// commits itself. *pgxpool.Pool and pgx.Tx both satisfy it.
type DBTX interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// unavailable reports errors that mean the database cannot be reached now,
// as opposed to errors about the statement or the data.
func unavailable(err error) bool {
	var (
		ce  *pgconn.ConnectError
		ne  net.Error
		pge *pgconn.PgError
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &pge):
		// The server is shutting down or refusing connections; anything else is
		// about the statement.
		return pge.Code == "57P01" || pge.Code == "57P02" || pge.Code == "57P03" || pge.Code == "53300"
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The server went away mid-answer (a crash, an immediate shutdown, a
		// proxy cutting the link): the connection is gone, not the statement wrong.
		return true
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// marked wraps an error that means the database is out of reach with
// ErrUnavailable, keeping the driver's error for the logs.
func marked(err error) error {
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// conn marks every error of the connection it wraps, and of the transactions
// begun on it.
type conn struct{ c DBTX }

func (c conn) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := c.c.Begin(ctx)
	if err != nil {
		return nil, marked(err)
	}
	return txConn{tx}, nil
}

func (c conn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.c.Exec(ctx, sql, args...)
	return tag, marked(err)
}

func (c conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.c.Query(ctx, sql, args...)
	if err != nil {
		return nil, marked(err)
	}
	return markedRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return markedRow{c.c.QueryRow(ctx, sql, args...)}
}

func (c conn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return markedBatch{c.c.SendBatch(ctx, b)}
}

// lazily runs the statements queue adds in one transaction, in one round trip,
// whose commit does not wait for its WAL to reach the disk (synchronous_commit
// off for that transaction alone). It is for records whose loss in a crash of
// PostgreSQL itself is a case the system already handles, such as the
// idempotency keys: the next synchronous commit on the server flushes the WAL
// written before it, so such a record outlives a crash whenever anything that
// depends on it does, and is lost only with the last few hundred
// milliseconds before the crash. On a busy server that is several fsyncs
// fewer per purchase.
func (db *DB) lazily(ctx context.Context, queue func(b *pgx.Batch)) error {
	var b pgx.Batch
	// A batch is one implicit transaction: the setting ends with it.
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	queue(&b)
	return db.pool.SendBatch(ctx, &b).Close()
}

// inTx runs a transaction in two round trips where pgx.BeginFunc takes three
// or four: BEGIN goes out in front of the statements first queues, and COMMIT
// behind those that then returns (nil: none) once it has read the answers to
// the first. An error from then, or from any statement, rolls everything back.
// On a caller's transaction (tests) it is a savepoint, in more round trips.
func (db *DB) inTx(ctx context.Context, first func(b *pgx.Batch), then func() (*pgx.Batch, error)) error {
	pool, ok := db.pool.c.(*pgxpool.Pool)
	if !ok {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			var b pgx.Batch
			first(&b)
			if err := tx.SendBatch(ctx, &b).Close(); err != nil {
				return err
			}
			w, err := then()
			if err != nil || w == nil {
				return err
			}
			return tx.SendBatch(ctx, w).Close()
		})
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		return marked(err)
	}
	defer c.Release() // a connection still in a transaction is closed, not reused
	var b pgx.Batch
	b.Queue("BEGIN")
	first(&b)
	err = c.SendBatch(ctx, &b).Close()
	if err == nil {
		var w *pgx.Batch
		if w, err = then(); err == nil {
			if w == nil {
				w = &pgx.Batch{}
			}
			// An aborted transaction answers COMMIT with ROLLBACK, not an error.
			w.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
				if tag.String() == "ROLLBACK" {
					return pgx.ErrTxCommitRollback
				}
				return nil
			})
			err = c.SendBatch(ctx, w).Close()
		}
	}
	if err != nil && c.Conn().PgConn().TxStatus() != 'I' {
		_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK") // if it fails, Release closes the connection
	}
	return marked(err)
}

// beginTx begins a transaction with options when the connection can (a pool);
// inside a transaction it begins a savepoint, which keeps the outer options.
func (c conn) beginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	b, ok := c.c.(interface {
		BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
	})
	if !ok {
		return c.Begin(ctx)
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, marked(err)
	}
	return txConn{tx}, nil
}

type txConn struct{ pgx.Tx }

func (t txConn) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, marked(err)
	}
	return txConn{tx}, nil
}

func (t txConn) Commit(ctx context.Context) error { return marked(t.Tx.Commit(ctx)) }

func (t txConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.Tx.Exec(ctx, sql, args...)
	return tag, marked(err)
}

func (t txConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, marked(err)
	}
	return markedRows{rows}, nil
}

func (t txConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return markedRow{t.Tx.QueryRow(ctx, sql, args...)}
}

func (t txConn) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	n, err := t.Tx.CopyFrom(ctx, table, columns, src)
	return n, marked(err)
}

func (t txConn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return markedBatch{t.Tx.SendBatch(ctx, b)}
}

type markedBatch struct{ pgx.BatchResults }

func (r markedBatch) Exec() (pgconn.CommandTag, error) {
	tag, err := r.BatchResults.Exec()
	return tag, marked(err)
}

func (r markedBatch) Query() (pgx.Rows, error) {
	rows, err := r.BatchResults.Query()
	if err != nil {
		return nil, marked(err)
	}
	return markedRows{rows}, nil
}

func (r markedBatch) QueryRow() pgx.Row { return markedRow{r.BatchResults.QueryRow()} }

func (r markedBatch) Close() error { return marked(r.BatchResults.Close()) }

type markedRows struct{ pgx.Rows }

func (r markedRows) Err() error { return marked(r.Rows.Err()) }

func (r markedRows) Scan(dest ...any) error { return marked(r.Rows.Scan(dest...)) }

type markedRow struct{ pgx.Row }

func (r markedRow) Scan(dest ...any) error { return marked(r.Row.Scan(dest...)) }
