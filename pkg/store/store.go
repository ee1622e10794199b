// Package store is the hub's journal and queue: every message with its files and its
// append-only event timeline, and the outbox of jobs (deliveries and flow steps) that
// the engine works through under leases.
//
// One interface, Store, has two implementations over database/sql that pass one
// conformance suite (package storetest): SQLite (the embedded default, modernc.org/sqlite
// in WAL mode inside a data directory) and PostgreSQL (pgx/v5, shared by several hub
// processes, jobs claimed with FOR UPDATE SKIP LOCKED). Versioned migrations are applied
// at Open; other modules (pagoPA positions, say) bring their own migrations and use the
// same database through Tx.SQL.
//
// Durability contract: a method returns nil only after its transaction committed. A
// receiver acknowledges its source only after Ingest returned nil; a redelivered message
// (same DedupKey) is recognised and never stored twice.
package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"snodo/pkg/message"
)

// Errors returned by stores.
var (
	ErrNotFound  = errors.New("not found")
	ErrLeaseLost = errors.New("job lease lost: another worker owns it now")
)

// JobState is where a job stands in the outbox.
type JobState string

const (
	JobPending  JobState = "pending"  // waiting for its due time
	JobRunning  JobState = "running"  // leased by a worker
	JobAwaiting JobState = "awaiting" // handed over; waiting for an asynchronous receipt
	JobDone     JobState = "done"
	JobDead     JobState = "dead" // dead letter: retries exhausted or a permanent error
)

// JobSpec asks for work on a message: a delivery to a route phase or a flow step.
type JobSpec struct {
	MessageID message.ID
	// Handler names the engine handler that runs the job, e.g. "deliver" or "passive.check".
	Handler string
	// Target is what the handler works towards, e.g. the route phase "passive.protocol".
	Target string
	// Key, when set, makes the job unique: enqueueing the same key again is a no-op.
	Key string
	// NotBefore delays the job; zero means now.
	NotBefore time.Time
	// Params are handler-specific values.
	Params map[string]string
}

// Job is a JobSpec in the outbox.
type Job struct {
	ID int64
	JobSpec
	State      JobState
	Attempts   int // claims so far, the current one included
	DueAt      time.Time
	LeaseOwner string
	LeaseUntil time.Time // for awaiting jobs: the receipt deadline
	AwaitKey   string
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Recovered is true when this claim took the job from a worker whose lease expired.
	Recovered bool
}

// NewMessage is a message to create with its first events and jobs, atomically.
type NewMessage struct {
	Message *message.Message
	Events  []message.Event // the store adds a "received" event when none is given
	Jobs    []JobSpec       // MessageID is filled in
	Keys    []string        // lookup keys (see Tx.AddKeys)
}

// Outcome is what a finished job changes, committed with the job's completion.
type Outcome struct {
	Events   []message.Event // on the job's message unless MessageID is set
	State    message.State   // new state of the job's message, when not empty
	Headers  map[string]string
	Next     []JobSpec    // follow-up jobs (MessageID defaults to the job's message)
	Messages []NewMessage // new messages derived from this one
	// Await, when set, parks the job until ResolveAwait is called with the key or the
	// deadline passes (then the job becomes due again and the engine alerts).
	Await *Await
}

// Await parks a job waiting for an asynchronous receipt (a PEC avvenuta-consegna).
type Await struct {
	Key      string
	Deadline time.Time
}

// Filter selects messages for listing. Zero fields match everything.
type Filter struct {
	Ente, Flow, Kind, State string
	Since                   time.Time
	Before                  message.ID // cursor: messages older than this id
	Limit                   int        // default 100
}

// QueueStats counts jobs by state.
type QueueStats struct {
	Pending, Running, Awaiting, Dead int64
	OldestDue                        time.Time // of pending jobs, zero when none
}

// KeyRef is a lookup key of a message.
type KeyRef struct {
	Key       string
	MessageID message.ID
}

// MessageCount is one group of Counts.
type MessageCount struct {
	Ente, Flow, Kind, State string
	N                       int64
}

// Store is the hub's journal and queue.
type Store interface {
	// Ingest creates a message with its files, events, keys and jobs in one transaction.
	// When m.DedupKey is already known it returns the existing message's id and
	// created=false, records a "duplicate" event on it, and creates nothing else.
	Ingest(ctx context.Context, nm NewMessage) (id message.ID, created bool, err error)
	Get(ctx context.Context, id message.ID) (*message.Message, error)
	// Files lists the files of a message without their data; ReadFile loads one by name.
	Files(ctx context.Context, id message.ID) ([]message.File, error)
	ReadFile(ctx context.Context, id message.ID, name string) ([]byte, error)
	List(ctx context.Context, f Filter) ([]*message.Message, error)
	Events(ctx context.Context, id message.ID) ([]message.Event, error)
	// FindByKey returns the messages holding a lookup key, oldest first.
	FindByKey(ctx context.Context, key string) ([]message.ID, error)
	// FindKeys returns the lookup keys starting with prefix, with their messages.
	FindKeys(ctx context.Context, prefix string, limit int) ([]KeyRef, error)
	Jobs(ctx context.Context, id message.ID) ([]Job, error)

	// WithTx runs fn in one transaction: everything it does commits together or not at all.
	WithTx(ctx context.Context, fn func(Tx) error) error

	// Claim leases up to n due jobs (pending and due, or running with an expired lease)
	// to owner for the lease duration.
	Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Job, error)
	// Extend renews the lease of a running job.
	Extend(ctx context.Context, job *Job, lease time.Duration) error
	// Complete finishes a leased job and commits its outcome; ErrLeaseLost when the
	// lease was taken over, in which case nothing is changed.
	Complete(ctx context.Context, job *Job, o Outcome) error
	// Retry puts a leased job back to pending at the given time, recording the failure.
	Retry(ctx context.Context, job *Job, at time.Time, cause error) error
	// Bury dead-letters a leased job.
	Bury(ctx context.Context, job *Job, cause error) error
	// Release gives back the leases of owner's running jobs (graceful shutdown) without
	// counting the attempt.
	Release(ctx context.Context, owner string) (int, error)
	// ResolveAwait finishes (ok) or fails (retry from now) the job parked under key.
	ResolveAwait(ctx context.Context, key string, ok bool, detail string, o Outcome) (*Job, error)
	// AwaitingJob returns the job parked under an await key (ErrNotFound when none).
	AwaitingJob(ctx context.Context, key string) (*Job, error)
	// FailAwait records a failure receipt for the job parked under key: due again at
	// retryAt, or dead-lettered when bury is set. A job no longer awaiting gets a note.
	FailAwait(ctx context.Context, key, detail string, retryAt time.Time, bury bool) (*Job, error)
	// Overdue returns awaiting jobs past their deadline and makes them due again.
	Overdue(ctx context.Context, now time.Time) ([]Job, error)
	// Replay makes dead jobs pending again: the job with jobID, or every dead job of
	// message id when jobID is 0. It returns how many were revived.
	Replay(ctx context.Context, id message.ID, jobID int64) (int, error)
	DeadLetters(ctx context.Context, limit int) ([]Job, error)
	Stats(ctx context.Context) (QueueStats, error)
	// Counts groups messages by ente, flow, kind and state (for metrics and dashboards).
	Counts(ctx context.Context) ([]MessageCount, error)
	// NextCounter atomically increments and returns the named counter (first value 1);
	// unique across processes sharing the database.
	NextCounter(ctx context.Context, name string) (int64, error)

	// DB exposes the database for modules with their own tables; Dialect and Rebind
	// let them write portable SQL. ReadDB is the pool for reads that need no
	// transaction (SQLite: read-only connections beside the single writer; PostgreSQL:
	// the same pool as DB).
	DB() *sql.DB
	ReadDB() *sql.DB
	Dialect() Dialect
	Rebind(query string) string
	Close() error
}

// Tx is the part of the store usable inside one transaction.
type Tx interface {
	Ingest(nm NewMessage) (id message.ID, created bool, err error)
	Enqueue(jobs ...JobSpec) error
	AppendEvents(evs ...message.Event) error
	SetState(id message.ID, s message.State, detail string) error
	MergeHeaders(id message.ID, h map[string]string) error
	AddFile(id message.ID, f message.File) error
	// AddKeys attaches lookup keys to a message (e.g. "sdi:12345", "file:IT..._00001.xml").
	AddKeys(id message.ID, keys ...string) error
	FindByKey(key string) ([]message.ID, error)
	Get(id message.ID) (*message.Message, error)
	NextCounter(name string) (int64, error)
	// SQL is the underlying transaction, for modules with their own tables.
	SQL() *sql.Tx
	Rebind(query string) string
}

// Dialect tells the SQL flavour of a store.
type Dialect int

const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// Migration is one versioned schema change of a module. Versions of a module apply in
// ascending order, each once, inside a transaction.
type Migration struct {
	Module   string
	Version  int
	SQLite   string
	Postgres string
}
