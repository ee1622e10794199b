package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Options tune Open.
type Options struct {
	// Migrations of other modules, applied after the core ones.
	Migrations []Migration
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// MaxConns caps the PostgreSQL pool (default 16) and the SQLite reader pool (default 8).
	MaxConns int
	// NoGroupCommit gives every SQLite transaction its own commit (for comparisons).
	NoGroupCommit bool
	// SynchronousFull makes SQLite fsync the WAL at every commit: durable across power
	// losses too (the default NORMAL is durable across process crashes).
	SynchronousFull bool
}

func (o Options) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// OpenSQLite opens (creating when needed) the store in dir/snodo.db: WAL journal,
// synchronous=NORMAL (durable across process crashes; a power loss may lose the last
// transactions, see README), foreign keys, temporary tables and savepoint journals in
// memory, and a busy timeout. Writers share one
// connection, readers a pool.
func OpenSQLite(ctx context.Context, dir string, o Options) (Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, "snodo.db")
	sync := "NORMAL"
	if o.SynchronousFull {
		sync = "FULL"
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=temp_store(memory)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := o.MaxConns
	if n <= 0 {
		n = 8
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &sqlStore{w: w, r: r, dialect: SQLite, now: o.now()}
	if err := w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := s.migrate(ctx, o.Migrations); err != nil {
		s.Close()
		return nil, err
	}
	if !o.NoGroupCommit {
		s.group = newGroupCommit(s)
	}
	return s, nil
}

// OpenPostgres connects to PostgreSQL (a pgx connection string or URL, e.g.
// postgres://snodo@db:5432/snodo?sslmode=verify-full) and applies the migrations.
func OpenPostgres(ctx context.Context, dsn string, o Options) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", redact(dsn), err)
	}
	n := o.MaxConns
	if n <= 0 {
		n = 16
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{w: db, r: db, dialect: Postgres, now: o.now()}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redact(dsn), err)
	}
	if err := s.migrate(ctx, o.Migrations); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// redact hides the password of a connection URL in messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// OpenPostgresAdmin opens a plain connection pool (no migrations), for tools and tests
// that manage schemas.
func OpenPostgresAdmin(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres %s: %w", redact(dsn), err)
	}
	return db, nil
}
