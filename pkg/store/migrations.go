package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// coreMigrations create the journal and the queue.
var coreMigrations = []Migration{{
	Module:  "core",
	Version: 1,
	SQLite: `
CREATE TABLE messages (
	id TEXT PRIMARY KEY,
	ente TEXT NOT NULL DEFAULT '',
	flow TEXT NOT NULL,
	kind TEXT NOT NULL,
	file_name TEXT NOT NULL DEFAULT '',
	size INTEGER NOT NULL DEFAULT 0,
	sha256 TEXT NOT NULL DEFAULT '',
	headers TEXT NOT NULL DEFAULT '{}',
	correlation_id TEXT NOT NULL DEFAULT '',
	parent_id TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	dedup_key TEXT UNIQUE,
	source TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX messages_ente ON messages(ente, id);
CREATE INDEX messages_correlation ON messages(correlation_id) WHERE correlation_id <> '';
CREATE TABLE message_files (
	message_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	size INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (message_id, seq)
);
CREATE TABLE message_file_chunks (
	message_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	n INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (message_id, seq, n)
);
CREATE TABLE message_keys (
	key TEXT NOT NULL,
	message_id TEXT NOT NULL,
	PRIMARY KEY (key, message_id)
);
CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	message_id TEXT NOT NULL,
	at INTEGER NOT NULL,
	type TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	attempt INTEGER NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_message ON events(message_id, seq);
CREATE TABLE jobs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	message_id TEXT NOT NULL,
	handler TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	job_key TEXT UNIQUE,
	params TEXT NOT NULL DEFAULT '{}',
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	due_at INTEGER NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	await_key TEXT,
	last_error TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_pending ON jobs(due_at) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE state IN ('running', 'awaiting');
CREATE INDEX jobs_message ON jobs(message_id);
CREATE INDEX jobs_dead ON jobs(id) WHERE state = 'dead';
CREATE UNIQUE INDEX jobs_await ON jobs(await_key) WHERE await_key IS NOT NULL;
CREATE TABLE counters (
	name TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
`,
	Postgres: `
CREATE TABLE messages (
	id TEXT PRIMARY KEY,
	ente TEXT NOT NULL DEFAULT '',
	flow TEXT NOT NULL,
	kind TEXT NOT NULL,
	file_name TEXT NOT NULL DEFAULT '',
	size BIGINT NOT NULL DEFAULT 0,
	sha256 TEXT NOT NULL DEFAULT '',
	headers TEXT NOT NULL DEFAULT '{}',
	correlation_id TEXT NOT NULL DEFAULT '',
	parent_id TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL,
	dedup_key TEXT UNIQUE,
	source TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX messages_ente ON messages(ente, id);
CREATE INDEX messages_correlation ON messages(correlation_id) WHERE correlation_id <> '';
CREATE TABLE message_files (
	message_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	content_type TEXT NOT NULL DEFAULT '',
	size BIGINT NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (message_id, seq)
);
CREATE TABLE message_file_chunks (
	message_id TEXT NOT NULL,
	seq INTEGER NOT NULL,
	n INTEGER NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (message_id, seq, n)
);
CREATE TABLE message_keys (
	key TEXT COLLATE "C" NOT NULL, -- byte order: FindKeys scans prefixes
	message_id TEXT NOT NULL,
	PRIMARY KEY (key, message_id)
);
CREATE TABLE events (
	seq BIGSERIAL PRIMARY KEY,
	message_id TEXT NOT NULL,
	at BIGINT NOT NULL,
	type TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	attempt INTEGER NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_message ON events(message_id, seq);
CREATE TABLE jobs (
	id BIGSERIAL PRIMARY KEY,
	message_id TEXT NOT NULL,
	handler TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	job_key TEXT UNIQUE,
	params TEXT NOT NULL DEFAULT '{}',
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	due_at BIGINT NOT NULL,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	await_key TEXT,
	last_error TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_pending ON jobs(due_at) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs(lease_until) WHERE state IN ('running', 'awaiting');
CREATE INDEX jobs_message ON jobs(message_id);
CREATE INDEX jobs_dead ON jobs(id) WHERE state = 'dead';
CREATE UNIQUE INDEX jobs_await ON jobs(await_key) WHERE await_key IS NOT NULL;
CREATE TABLE counters (
	name TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
`,
}}

// migrate applies every migration not yet recorded, module by module in version order.
// On PostgreSQL an advisory lock keeps two starting hubs from migrating at once.
func (s *sqlStore) migrate(ctx context.Context, extra []Migration) error {
	all := append(append([]Migration{}, coreMigrations...), extra...)
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Module != all[j].Module {
			return all[i].Module == "core" || (all[j].Module != "core" && all[i].Module < all[j].Module)
		}
		return all[i].Version < all[j].Version
	})
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(745133)`); err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(745133)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		module TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL,
		PRIMARY KEY (module, version))`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, m := range all {
		var n int
		if err := conn.QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM schema_migrations WHERE module = ? AND version = ?`),
			m.Module, m.Version).Scan(&n); err != nil {
			return fmt.Errorf("store: read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		q := m.SQLite
		if s.dialect == Postgres {
			q = m.Postgres
		}
		if q == "" {
			return fmt.Errorf("store: migration %s/%d has no %s version", m.Module, m.Version, s.dialect)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s/%d: %w", m.Module, m.Version, err)
		}
		if _, err := tx.ExecContext(ctx, s.Rebind(`INSERT INTO schema_migrations(module, version, applied_at) VALUES (?, ?, ?)`),
			m.Module, m.Version, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: record migration %s/%d: %w", m.Module, m.Version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: commit migration %s/%d: %w", m.Module, m.Version, err)
		}
	}
	return nil
}
