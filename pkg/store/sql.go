package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"snodo/pkg/message"
)

// sqlStore implements Store over database/sql for both dialects. Writes go through w
// (one connection on SQLite, where writers serialise anyway; the pool on PostgreSQL);
// reads through r.
type sqlStore struct {
	w, r    *sql.DB
	dialect Dialect
	now     func() time.Time
	stmts   sync.Map     // query → *sql.Stmt prepared on w
	rstmts  sync.Map     // query → *sql.Stmt prepared on r
	wanted  sync.Map     // queries to prepare before the next transaction
	group   *groupCommit // SQLite: concurrent transactions share commits
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func (s *sqlStore) DB() *sql.DB      { return s.w }
func (s *sqlStore) ReadDB() *sql.DB  { return s.r }
func (s *sqlStore) Dialect() Dialect { return s.dialect }

// Rebind turns ? placeholders into $1, $2... for PostgreSQL. Question marks inside
// single-quoted literals are left alone.
func (s *sqlStore) Rebind(q string) string {
	if s.dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (s *sqlStore) Close() error {
	if s.group != nil {
		s.group.close()
	}
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	s.rstmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := s.w.Close()
	if s.r != s.w {
		if e := s.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// ---- transactions ----

type sqlTx struct {
	s     *sqlStore
	tx    *sql.Tx
	ctx   context.Context
	now   time.Time
	stmts map[string]*sql.Stmt
}

func (s *sqlStore) WithTx(ctx context.Context, fn func(Tx) error) error {
	if s.group != nil {
		return s.group.do(ctx, fn)
	}
	s.prepareWanted(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	t := &sqlTx{s: s, tx: tx, ctx: ctx, now: s.now()}
	if err := runGuarded(fn, t); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// groupCommit runs the transactions of concurrent callers together in one database
// transaction, each inside its own savepoint: one caller's failure rolls back only its
// own work, and everyone's work becomes durable with one commit. SQLite has a single
// writer, so this is how many goroutines (receivers, engine workers) share it
// efficiently; each WithTx still returns only after the commit that made its work
// durable.
type groupCommit struct {
	s    *sqlStore
	reqs chan *txReq
	quit chan struct{}
	done chan struct{}
}

type txReq struct {
	ctx  context.Context
	fn   func(Tx) error
	err  error
	done chan struct{}
}

const maxGroup = 64

// runGuarded runs a caller's transaction function, turning a panic into that caller's
// error after which the transaction (or savepoint) is rolled back: a bug in one caller
// must neither leave a transaction open holding locks nor, under group commit, take down
// the writer every other caller depends on.
func runGuarded(fn func(Tx) error, t Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: errore interno nella transazione (panic in a transaction): %v", r)
		}
	}()
	return fn(t)
}

func newGroupCommit(s *sqlStore) *groupCommit {
	g := &groupCommit{s: s, reqs: make(chan *txReq), quit: make(chan struct{}), done: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommit) do(ctx context.Context, fn func(Tx) error) error {
	r := &txReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.quit:
		return errors.New("store: chiuso (closed)")
	}
	<-r.done // the request is in a batch: wait for its commit, whatever ctx does
	return r.err
}

func (g *groupCommit) close() {
	close(g.quit)
	<-g.done
}

func (g *groupCommit) loop() {
	defer close(g.done)
	for {
		var first *txReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			return
		}
		batch := []*txReq{first}
	gather:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		g.run(batch)
	}
}

func (g *groupCommit) run(batch []*txReq) {
	finish := func(err error) {
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	ctx := context.Background()
	g.s.prepareWanted(ctx)
	tx, err := g.s.w.BeginTx(ctx, nil)
	if err != nil {
		finish(fmt.Errorf("store: begin: %w", err))
		return
	}
	stmts := map[string]*sql.Stmt{}
	if len(batch) == 1 {
		// Alone in its batch: the transaction is the caller's, no savepoint needed.
		r := batch[0]
		if r.err = r.ctx.Err(); r.err == nil {
			r.err = runGuarded(r.fn, &sqlTx{s: g.s, tx: tx, ctx: r.ctx, now: g.s.now(), stmts: stmts})
		}
		if r.err != nil {
			tx.Rollback()
			finish(nil)
			return
		}
		if err := tx.Commit(); err != nil {
			finish(fmt.Errorf("store: commit: %w", err))
			return
		}
		finish(nil)
		return
	}
	// Savepoint statements go through the prepared-statement cache like the rest.
	sp := &sqlTx{s: g.s, tx: tx, ctx: ctx, now: g.s.now(), stmts: stmts}
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		t := &sqlTx{s: g.s, tx: tx, ctx: r.ctx, now: g.s.now(), stmts: stmts}
		if _, err := sp.exec("SAVEPOINT op"); err != nil {
			r.err = fmt.Errorf("store: savepoint: %w", err)
			continue
		}
		if err := runGuarded(r.fn, t); err != nil {
			r.err = err
			if _, rerr := sp.exec("ROLLBACK TO op"); rerr != nil {
				// The transaction is unusable: fail everyone.
				tx.Rollback()
				finish(fmt.Errorf("store: rollback to savepoint: %w (after %v)", rerr, err))
				return
			}
		}
		if _, err := sp.exec("RELEASE op"); err != nil {
			tx.Rollback()
			finish(fmt.Errorf("store: release savepoint: %w", err))
			return
		}
		if r.err == nil {
			ok++
		}
	}
	if ok == 0 {
		tx.Rollback()
		finish(nil)
		return
	}
	if err := tx.Commit(); err != nil {
		finish(fmt.Errorf("store: commit: %w", err))
		return
	}
	finish(nil)
}

func (t *sqlTx) SQL() *sql.Tx           { return t.tx }
func (t *sqlTx) Rebind(q string) string { return t.s.Rebind(q) }
func (t *sqlTx) exec(q string, args ...any) (sql.Result, error) {
	if st, ok := t.stmt(q); ok {
		return st.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, t.s.Rebind(q), args...)
}

func (t *sqlTx) queryRow(q string, args ...any) *sql.Row {
	if st, ok := t.stmt(q); ok {
		return st.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, t.s.Rebind(q), args...)
}

// stmt returns the transaction's handle of a statement prepared once per store, so
// its SQL is compiled once per connection instead of at every call. A statement met for
// the first time inside a transaction runs unprepared and is prepared by the next
// WithTx before it begins: preparing inside a transaction would wait for the only
// SQLite writer connection, which the transaction itself holds.
func (t *sqlTx) stmt(q string) (*sql.Stmt, bool) {
	if st, ok := t.stmts[q]; ok {
		return st, true
	}
	prepared, ok := t.s.stmts.Load(q)
	if !ok {
		t.s.wanted.Store(q, true)
		return nil, false
	}
	st := t.tx.StmtContext(t.ctx, prepared.(*sql.Stmt))
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return st, true
}

// prepareWanted prepares the statements transactions asked for, outside any transaction.
func (s *sqlStore) prepareWanted(ctx context.Context) {
	s.wanted.Range(func(k, _ any) bool {
		q := k.(string)
		s.wanted.Delete(q)
		if _, ok := s.stmts.Load(q); ok {
			return true
		}
		st, err := s.w.PrepareContext(ctx, s.Rebind(q))
		if err != nil {
			return true // it keeps running unprepared, and fails there with context
		}
		if _, loaded := s.stmts.LoadOrStore(q, st); loaded {
			st.Close()
		}
		return true
	})
}

func (t *sqlTx) Ingest(nm NewMessage) (message.ID, bool, error) {
	m := nm.Message
	if m == nil {
		return "", false, errors.New("store: ingest: nil message")
	}
	if m.ID == "" {
		m.ID = message.NewID()
	}
	if m.State == "" {
		m.State = message.StateReceived
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = t.now
	}
	m.UpdatedAt = m.CreatedAt
	if len(m.Files) > 0 && m.SHA256 == "" {
		sum := sha256.Sum256(m.Files[0].Data)
		m.SHA256 = hex.EncodeToString(sum[:])
		m.Size = int64(len(m.Files[0].Data))
	}
	headers, err := json.Marshal(m.Headers)
	if err != nil {
		return "", false, fmt.Errorf("store: encode headers: %w", err)
	}
	if m.Headers == nil {
		headers = []byte("{}")
	}
	var dedup any
	if m.DedupKey != "" {
		dedup = m.DedupKey
	}
	res, err := t.exec(`INSERT INTO messages (id, ente, flow, kind, file_name, size, sha256, headers, correlation_id,
		parent_id, state, dedup_key, source, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING`,
		string(m.ID), m.Ente, string(m.Flow), string(m.Kind), m.FileName, m.Size, m.SHA256, string(headers),
		m.CorrelationID, string(m.ParentID), string(m.State), dedup, m.Source, micros(m.CreatedAt), micros(m.UpdatedAt))
	if err != nil {
		return "", false, fmt.Errorf("store: insert message %s: %w", m.FileName, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var existing string
		if err := t.queryRow(`SELECT id FROM messages WHERE dedup_key = ?`, m.DedupKey).Scan(&existing); err != nil {
			return "", false, fmt.Errorf("store: find duplicate of %s: %w", m.DedupKey, err)
		}
		detail := "riconsegna riconosciuta, non registrata di nuovo (redelivery recognised, not stored again)"
		if m.Source != "" {
			detail += ": " + m.Source
		}
		if err := t.AppendEvents(message.Event{MessageID: message.ID(existing), Type: message.EventDuplicate, Detail: detail}); err != nil {
			return "", false, err
		}
		return message.ID(existing), false, nil
	}
	for i, f := range m.Files {
		if f.Role == "" {
			f.Role = message.RoleMain
			if i > 0 {
				f.Role = "attachment"
			}
		}
		if err := t.insertFile(m.ID, i, f); err != nil {
			return "", false, err
		}
	}
	evs := nm.Events
	if len(evs) == 0 {
		detail := m.FileName
		if m.Source != "" {
			detail += " da " + m.Source
		}
		evs = []message.Event{{Type: message.EventReceived, Detail: detail}}
	}
	for i := range evs {
		if evs[i].MessageID == "" {
			evs[i].MessageID = m.ID
		}
	}
	if err := t.AppendEvents(evs...); err != nil {
		return "", false, err
	}
	if err := t.AddKeys(m.ID, nm.Keys...); err != nil {
		return "", false, err
	}
	jobs := make([]JobSpec, len(nm.Jobs))
	for i, j := range nm.Jobs {
		if j.MessageID == "" {
			j.MessageID = m.ID
		}
		jobs[i] = j
	}
	if err := t.Enqueue(jobs...); err != nil {
		return "", false, err
	}
	return m.ID, true, nil
}

// chunkSize splits large files into rows: a 30 MB payload is then never copied whole
// by the driver, and reading it back fills one buffer chunk by chunk.
const chunkSize = 1 << 20

func (t *sqlTx) insertFile(id message.ID, seq int, f message.File) error {
	data := f.Data
	if data == nil {
		data = []byte{}
	}
	inline := data
	if len(data) > chunkSize {
		inline = []byte{}
	}
	_, err := t.exec(`INSERT INTO message_files (message_id, seq, name, role, content_type, size, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(id), seq, f.Name, f.Role, f.ContentType, len(data), inline)
	if err != nil {
		return fmt.Errorf("store: insert file %s of %s: %w", f.Name, id, err)
	}
	if len(data) > chunkSize {
		for n, off := 0, 0; off < len(data); n, off = n+1, off+chunkSize {
			end := min(off+chunkSize, len(data))
			if _, err := t.exec(`INSERT INTO message_file_chunks (message_id, seq, n, data) VALUES (?, ?, ?, ?)`,
				string(id), seq, n, data[off:end]); err != nil {
				return fmt.Errorf("store: insert chunk %d of %s of %s: %w", n, f.Name, id, err)
			}
		}
	}
	return nil
}

func (t *sqlTx) AddFile(id message.ID, f message.File) error {
	var seq int
	if err := t.queryRow(`SELECT COALESCE(MAX(seq), -1) + 1 FROM message_files WHERE message_id = ?`,
		string(id)).Scan(&seq); err != nil {
		return fmt.Errorf("store: add file to %s: %w", id, err)
	}
	if f.Role == "" {
		f.Role = "attachment"
	}
	return t.insertFile(id, seq, f)
}

func (t *sqlTx) Enqueue(jobs ...JobSpec) error {
	for _, j := range jobs {
		if j.MessageID == "" || j.Handler == "" {
			return fmt.Errorf("store: enqueue: job needs a message and a handler (%+v)", j)
		}
		params := []byte("{}")
		if len(j.Params) > 0 {
			var err error
			if params, err = json.Marshal(j.Params); err != nil {
				return err
			}
		}
		var key any
		if j.Key != "" {
			key = j.Key
		}
		due := j.NotBefore
		if due.IsZero() {
			due = t.now
		}
		if _, err := t.exec(`INSERT INTO jobs (message_id, handler, target, job_key, params, state, due_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (job_key) DO NOTHING`,
			string(j.MessageID), j.Handler, j.Target, key, string(params), micros(due), micros(t.now), micros(t.now)); err != nil {
			return fmt.Errorf("store: enqueue %s %s for %s: %w", j.Handler, j.Target, j.MessageID, err)
		}
	}
	return nil
}

func (t *sqlTx) AppendEvents(evs ...message.Event) error {
	for _, e := range evs {
		at := e.At
		if at.IsZero() {
			at = t.now
		}
		if e.MessageID == "" {
			return errors.New("store: event without message id")
		}
		if _, err := t.exec(`INSERT INTO events (message_id, at, type, target, attempt, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			string(e.MessageID), micros(at), string(e.Type), e.Target, e.Attempt, e.Detail); err != nil {
			return fmt.Errorf("store: append event to %s: %w", e.MessageID, err)
		}
	}
	return nil
}

func (t *sqlTx) SetState(id message.ID, st message.State, detail string) error {
	res, err := t.exec(`UPDATE messages SET state = ?, updated_at = ? WHERE id = ?`, string(st), micros(t.now), string(id))
	if err != nil {
		return fmt.Errorf("store: set state of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: set state of %s: %w", id, ErrNotFound)
	}
	return t.AppendEvents(message.Event{MessageID: id, Type: message.EventState, Target: string(st), Detail: detail})
}

func (t *sqlTx) MergeHeaders(id message.ID, h map[string]string) error {
	if len(h) == 0 {
		return nil
	}
	var raw string
	if err := t.queryRow(`SELECT headers FROM messages WHERE id = ?`, string(id)).Scan(&raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: headers of %s: %w", id, ErrNotFound)
		}
		return err
	}
	cur := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &cur); err != nil {
		return fmt.Errorf("store: headers of %s: %w", id, err)
	}
	for k, v := range h {
		cur[k] = v
	}
	b, _ := json.Marshal(cur)
	_, err := t.exec(`UPDATE messages SET headers = ?, updated_at = ? WHERE id = ?`, string(b), micros(t.now), string(id))
	return err
}

func (t *sqlTx) AddKeys(id message.ID, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if _, err := t.exec(`INSERT INTO message_keys (key, message_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, k, string(id)); err != nil {
			return fmt.Errorf("store: add key %s to %s: %w", k, id, err)
		}
	}
	return nil
}

func (t *sqlTx) FindByKey(key string) ([]message.ID, error) {
	return findByKey(t.ctx, txQ{t}, t.s, key)
}

func (t *sqlTx) Get(id message.ID) (*message.Message, error) {
	return getMessage(t.ctx, txQ{t}, t.s, id)
}

func (t *sqlTx) NextCounter(name string) (int64, error) {
	var v int64
	err := t.queryRow(`INSERT INTO counters (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: counter %s: %w", name, err)
	}
	return v, nil
}

// ---- reads ----

// queryer runs queries written with ? placeholders, through prepared statements: the
// store's readers (reads) or a transaction's (txQ).
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// readQ reads through statements prepared once on the reader pool.
type readQ struct{ s *sqlStore }

func (r readQ) stmt(ctx context.Context, q string) *sql.Stmt {
	if st, ok := r.s.rstmts.Load(q); ok {
		return st.(*sql.Stmt)
	}
	st, err := r.s.r.PrepareContext(ctx, r.s.Rebind(q))
	if err != nil {
		return nil
	}
	if prev, loaded := r.s.rstmts.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

func (r readQ) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.s.r.QueryContext(ctx, r.s.Rebind(q), args...)
}

func (r readQ) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := r.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.s.r.QueryRowContext(ctx, r.s.Rebind(q), args...)
}

// txQ reads inside a transaction through its prepared statements.
type txQ struct{ t *sqlTx }

func (x txQ) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st, ok := x.t.stmt(q); ok {
		return st.QueryContext(ctx, args...)
	}
	return x.t.tx.QueryContext(ctx, x.t.s.Rebind(q), args...)
}

func (x txQ) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return x.t.queryRow(q, args...)
}

const messageColumns = `id, ente, flow, kind, file_name, size, sha256, headers, correlation_id, parent_id, state,
	COALESCE(dedup_key, ''), source, created_at, updated_at`

type scanner interface{ Scan(...any) error }

func scanMessage(sc scanner) (*message.Message, error) {
	var m message.Message
	var id, flow, kind, headers, parent, state string
	var created, updated int64
	if err := sc.Scan(&id, &m.Ente, &flow, &kind, &m.FileName, &m.Size, &m.SHA256, &headers, &m.CorrelationID,
		&parent, &state, &m.DedupKey, &m.Source, &created, &updated); err != nil {
		return nil, err
	}
	m.ID, m.Flow, m.Kind, m.ParentID, m.State = message.ID(id), message.Flow(flow), message.Kind(kind), message.ID(parent), message.State(state)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	if headers != "" && headers != "{}" && headers != "null" {
		if err := json.Unmarshal([]byte(headers), &m.Headers); err != nil {
			return nil, fmt.Errorf("store: headers of %s: %w", id, err)
		}
	}
	return &m, nil
}

func getMessage(ctx context.Context, q queryer, s *sqlStore, id message.ID) (*message.Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: message %s: %w", id, ErrNotFound)
	}
	return m, err
}

func findByKey(ctx context.Context, q queryer, s *sqlStore, key string) ([]message.ID, error) {
	rows, err := q.QueryContext(ctx, `SELECT message_id FROM message_keys WHERE key = ? ORDER BY message_id`, key)
	if err != nil {
		return nil, fmt.Errorf("store: find key %s: %w", key, err)
	}
	defer rows.Close()
	var ids []message.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, message.ID(id))
	}
	return ids, rows.Err()
}

func (s *sqlStore) Get(ctx context.Context, id message.ID) (*message.Message, error) {
	return getMessage(ctx, readQ{s}, s, id)
}

func (s *sqlStore) FindByKey(ctx context.Context, key string) ([]message.ID, error) {
	return findByKey(ctx, readQ{s}, s, key)
}

func (s *sqlStore) Files(ctx context.Context, id message.ID) ([]message.File, error) {
	rows, err := readQ{s}.QueryContext(ctx, `SELECT name, role, content_type, size FROM message_files WHERE message_id = ? ORDER BY seq`, string(id))
	if err != nil {
		return nil, fmt.Errorf("store: files of %s: %w", id, err)
	}
	defer rows.Close()
	var out []message.File
	for rows.Next() {
		var f message.File
		if err := rows.Scan(&f.Name, &f.Role, &f.ContentType, &f.Size); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *sqlStore) ReadFile(ctx context.Context, id message.ID, name string) ([]byte, error) {
	var seq int
	var size int64
	err := readQ{s}.QueryRowContext(ctx, `SELECT seq, size FROM message_files WHERE message_id = ? AND name = ? ORDER BY seq LIMIT 1`,
		string(id), name).Scan(&seq, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: file %s of %s: %w", name, id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read file %s of %s: %w", name, id, err)
	}
	if size <= chunkSize {
		var data []byte
		if err := (readQ{s}).QueryRowContext(ctx, `SELECT data FROM message_files WHERE message_id = ? AND seq = ?`,
			string(id), seq).Scan(&data); err != nil {
			return nil, fmt.Errorf("store: read file %s of %s: %w", name, id, err)
		}
		if data == nil {
			data = []byte{}
		}
		return data, nil
	}
	buf := make([]byte, 0, size)
	for n := 0; int64(len(buf)) < size; n++ {
		var chunk sql.RawBytes
		rows, err := s.r.QueryContext(ctx, s.Rebind(`SELECT data FROM message_file_chunks WHERE message_id = ? AND seq = ? AND n = ?`),
			string(id), seq, n)
		if err != nil {
			return nil, fmt.Errorf("store: read chunk %d of %s of %s: %w", n, name, id, err)
		}
		if !rows.Next() {
			rows.Close()
			return nil, fmt.Errorf("store: file %s of %s: chunk %d missing (%d of %d bytes read)", name, id, n, len(buf), size)
		}
		if err := rows.Scan(&chunk); err != nil {
			rows.Close()
			return nil, err
		}
		buf = append(buf, chunk...) // RawBytes: copied once, here, while the row is open
		rows.Close()
	}
	return buf, nil
}

func (s *sqlStore) List(ctx context.Context, f Filter) ([]*message.Message, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if f.Ente != "" {
		add("ente = ?", f.Ente)
	}
	if f.Flow != "" {
		add("flow = ?", f.Flow)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.State != "" {
		add("state = ?", f.State)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", micros(f.Since))
	}
	if f.Before != "" {
		add("id < ?", string(f.Before))
	}
	q := `SELECT ` + messageColumns + ` FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	rows, err := s.r.QueryContext(ctx, s.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list messages: %w", err)
	}
	defer rows.Close()
	var out []*message.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *sqlStore) Events(ctx context.Context, id message.ID) ([]message.Event, error) {
	rows, err := readQ{s}.QueryContext(ctx, `SELECT seq, message_id, at, type, target, attempt, detail FROM events WHERE message_id = ? ORDER BY seq`, string(id))
	if err != nil {
		return nil, fmt.Errorf("store: events of %s: %w", id, err)
	}
	defer rows.Close()
	var out []message.Event
	for rows.Next() {
		var e message.Event
		var mid, typ string
		var at int64
		if err := rows.Scan(&e.Seq, &mid, &at, &typ, &e.Target, &e.Attempt, &e.Detail); err != nil {
			return nil, err
		}
		e.MessageID, e.Type, e.At = message.ID(mid), message.EventType(typ), fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- queue ----

const jobColumns = `id, message_id, handler, target, COALESCE(job_key, ''), params, state, attempts, due_at,
	lease_owner, lease_until, COALESCE(await_key, ''), last_error, created_at, updated_at`

func scanJob(sc scanner) (Job, error) {
	var j Job
	var mid, params, state string
	var due, lease, created, updated int64
	if err := sc.Scan(&j.ID, &mid, &j.Handler, &j.Target, &j.Key, &params, &state, &j.Attempts, &due,
		&j.LeaseOwner, &lease, &j.AwaitKey, &j.LastError, &created, &updated); err != nil {
		return j, err
	}
	j.MessageID, j.State = message.ID(mid), JobState(state)
	j.DueAt, j.LeaseUntil, j.CreatedAt, j.UpdatedAt = fromMicros(due), fromMicros(lease), fromMicros(created), fromMicros(updated)
	if params != "" && params != "{}" {
		if err := json.Unmarshal([]byte(params), &j.Params); err != nil {
			return j, fmt.Errorf("store: params of job %d: %w", j.ID, err)
		}
	}
	return j, nil
}

func (s *sqlStore) Jobs(ctx context.Context, id message.ID) ([]Job, error) {
	return s.queryJobs(ctx, readQ{s}, `SELECT `+jobColumns+` FROM jobs WHERE message_id = ? ORDER BY id`, string(id))
}

func (s *sqlStore) DeadLetters(ctx context.Context, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 100
	}
	return s.queryJobs(ctx, readQ{s}, `SELECT `+jobColumns+` FROM jobs WHERE state = 'dead' ORDER BY id DESC LIMIT `+strconv.Itoa(limit))
}

func (s *sqlStore) queryJobs(ctx context.Context, q queryer, query string, args ...any) ([]Job, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func (s *sqlStore) Claim(ctx context.Context, owner string, n int, lease time.Duration) ([]Job, error) {
	if n <= 0 {
		return nil, nil
	}
	var jobs []Job
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		now := micros(t.now)
		lock := ""
		if s.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		// Two index-friendly selects: due pending jobs, then running jobs whose lease expired.
		type cand struct {
			id        int64
			recovered bool
		}
		var cands []cand
		for _, q := range []struct {
			sql       string
			recovered bool
		}{
			{`SELECT id FROM jobs WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?` + lock, false},
			{`SELECT id FROM jobs WHERE state = 'running' AND lease_until < ? ORDER BY lease_until LIMIT ?` + lock, true},
		} {
			if len(cands) >= n {
				break
			}
			rows, err := txQ{t}.QueryContext(ctx, q.sql, now, n-len(cands))
			if err != nil {
				return fmt.Errorf("store: claim: %w", err)
			}
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				cands = append(cands, cand{id, q.recovered})
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if len(cands) == 0 {
			return nil
		}
		ids := make([]string, len(cands))
		recovered := map[int64]bool{}
		for i, c := range cands {
			ids[i] = strconv.FormatInt(c.id, 10)
			recovered[c.id] = c.recovered
		}
		rows, err := t.tx.QueryContext(ctx, s.Rebind(`UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?,
			attempts = attempts + 1, updated_at = ? WHERE id IN (`+strings.Join(ids, ",")+`) RETURNING `+jobColumns),
			owner, micros(t.now.Add(lease)), now)
		if err != nil {
			return fmt.Errorf("store: claim: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			j.Recovered = recovered[j.ID]
			jobs = append(jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, j := range jobs {
			if j.Recovered {
				if err := t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventLeaseRecovered, Target: j.Target,
					Attempt: j.Attempts, Detail: "lavoro ripreso dopo la scadenza del lease di un altro processo (job taken over after another worker's lease expired)"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// leased updates a job only while owner still holds its lease.
func (t *sqlTx) leased(j *Job, set string, args ...any) error {
	args = append(args, j.ID, j.LeaseOwner)
	res, err := t.exec(`UPDATE jobs SET `+set+` WHERE id = ? AND lease_owner = ? AND state = 'running'`, args...)
	if err != nil {
		return fmt.Errorf("store: update job %d: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: job %d: %w", j.ID, ErrLeaseLost)
	}
	return nil
}

func (s *sqlStore) Extend(ctx context.Context, j *Job, lease time.Duration) error {
	return s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		until := t.now.Add(lease)
		if err := t.leased(j, `lease_until = ?, updated_at = ?`, micros(until), micros(t.now)); err != nil {
			return err
		}
		j.LeaseUntil = until
		return nil
	})
}

func (s *sqlStore) Complete(ctx context.Context, j *Job, o Outcome) error {
	return s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		if o.Await != nil {
			if err := t.leased(j, `state = 'awaiting', await_key = ?, lease_until = ?, last_error = '', updated_at = ?`,
				o.Await.Key, micros(o.Await.Deadline), micros(t.now)); err != nil {
				return err
			}
		} else if err := t.leased(j, `state = 'done', lease_owner = '', last_error = '', updated_at = ?`, micros(t.now)); err != nil {
			return err
		}
		return t.applyOutcome(j.MessageID, o)
	})
}

func (t *sqlTx) applyOutcome(id message.ID, o Outcome) error {
	evs := make([]message.Event, len(o.Events))
	for i, e := range o.Events {
		if e.MessageID == "" {
			e.MessageID = id
		}
		evs[i] = e
	}
	if err := t.AppendEvents(evs...); err != nil {
		return err
	}
	if err := t.MergeHeaders(id, o.Headers); err != nil {
		return err
	}
	if o.State != "" {
		if err := t.SetState(id, o.State, ""); err != nil {
			return err
		}
	}
	next := make([]JobSpec, len(o.Next))
	for i, n := range o.Next {
		if n.MessageID == "" {
			n.MessageID = id
		}
		next[i] = n
	}
	if err := t.Enqueue(next...); err != nil {
		return err
	}
	for _, nm := range o.Messages {
		if nm.Message != nil && nm.Message.ParentID == "" {
			nm.Message.ParentID = id
		}
		if _, _, err := t.Ingest(nm); err != nil {
			return err
		}
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

func (s *sqlStore) Retry(ctx context.Context, j *Job, at time.Time, cause error) error {
	return s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		if err := t.leased(j, `state = 'pending', lease_owner = '', lease_until = 0, due_at = ?, last_error = ?, updated_at = ?`,
			micros(at), errText(cause), micros(t.now)); err != nil {
			return err
		}
		return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventAttemptFailed, Target: j.Target,
			Attempt: j.Attempts, Detail: fmt.Sprintf("%s; nuovo tentativo alle %s (retry at %s)", errText(cause),
				at.Local().Format("15:04:05"), at.UTC().Format(time.RFC3339))})
	})
}

func (s *sqlStore) Bury(ctx context.Context, j *Job, cause error) error {
	return s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		if err := t.leased(j, `state = 'dead', lease_owner = '', lease_until = 0, last_error = ?, updated_at = ?`,
			errText(cause), micros(t.now)); err != nil {
			return err
		}
		return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventDeadLettered, Target: j.Target,
			Attempt: j.Attempts, Detail: errText(cause)})
	})
}

func (s *sqlStore) Release(ctx context.Context, owner string) (int, error) {
	var n int64
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		res, err := t.exec(`UPDATE jobs SET state = 'pending', lease_owner = '', lease_until = 0, due_at = ?,
			attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ?
			WHERE lease_owner = ? AND state = 'running'`, micros(t.now), micros(t.now), owner)
		if err != nil {
			return fmt.Errorf("store: release leases of %s: %w", owner, err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

func (s *sqlStore) ResolveAwait(ctx context.Context, key string, ok bool, detail string, o Outcome) (*Job, error) {
	var out *Job
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		js, err := s.queryJobs(ctx, txQ{t}, `SELECT `+jobColumns+` FROM jobs WHERE await_key = ?`, key)
		if err != nil {
			return err
		}
		if len(js) == 0 {
			return fmt.Errorf("store: no job awaits %q: %w", key, ErrNotFound)
		}
		j := js[0]
		out = &j
		if j.State != JobAwaiting {
			// A late or repeated receipt: record it, change nothing.
			return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventNote, Target: j.Target,
				Detail: fmt.Sprintf("ricevuta tardiva o ripetuta per %s (late or repeated receipt): %s", key, detail)})
		}
		if ok {
			if _, err := t.exec(`UPDATE jobs SET state = 'done', await_key = NULL, lease_owner = '', updated_at = ? WHERE id = ?`,
				micros(t.now), j.ID); err != nil {
				return err
			}
			out.State = JobDone
			return t.applyOutcome(j.MessageID, o)
		}
		if _, err := t.exec(`UPDATE jobs SET state = 'pending', await_key = NULL, lease_owner = '', lease_until = 0, due_at = ?,
			last_error = ?, updated_at = ? WHERE id = ?`, micros(t.now), detail, micros(t.now), j.ID); err != nil {
			return err
		}
		out.State = JobPending
		if err := t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventAttemptFailed, Target: j.Target,
			Attempt: j.Attempts, Detail: detail}); err != nil {
			return err
		}
		return t.applyOutcome(j.MessageID, o)
	})
	return out, err
}

func (s *sqlStore) Overdue(ctx context.Context, now time.Time) ([]Job, error) {
	var out []Job
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		js, err := s.queryJobs(ctx, txQ{t}, `SELECT `+jobColumns+` FROM jobs WHERE state = 'awaiting' AND lease_until < ?`, micros(now))
		if err != nil {
			return err
		}
		for _, j := range js {
			if _, err := t.exec(`UPDATE jobs SET state = 'pending', await_key = NULL, lease_until = 0, due_at = ?,
				last_error = ?, updated_at = ? WHERE id = ? AND state = 'awaiting'`, micros(now),
				"ricevuta non arrivata entro il termine (no receipt before the deadline)", micros(now), j.ID); err != nil {
				return err
			}
			if err := t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventReceiptOverdue, Target: j.Target,
				Attempt: j.Attempts, Detail: fmt.Sprintf("nessuna ricevuta per %s entro %s (no receipt before the deadline)",
					j.AwaitKey, j.LeaseUntil.Format(time.RFC3339))}); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return out, err
}

func (s *sqlStore) Replay(ctx context.Context, id message.ID, jobID int64) (int, error) {
	var n int
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		var js []Job
		var err error
		if jobID != 0 {
			js, err = s.queryJobs(ctx, txQ{t}, `SELECT `+jobColumns+` FROM jobs WHERE id = ? AND state = 'dead'`, jobID)
		} else {
			js, err = s.queryJobs(ctx, txQ{t}, `SELECT `+jobColumns+` FROM jobs WHERE message_id = ? AND state = 'dead'`, string(id))
		}
		if err != nil {
			return err
		}
		for _, j := range js {
			if _, err := t.exec(`UPDATE jobs SET state = 'pending', attempts = 0, due_at = ?, created_at = ?, lease_owner = '',
				lease_until = 0, updated_at = ? WHERE id = ?`, micros(t.now), micros(t.now), micros(t.now), j.ID); err != nil {
				return err
			}
			if err := t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventReplayed, Target: j.Target,
				Detail: "rimesso in coda da un operatore (replayed by an operator); ultimo errore: " + j.LastError}); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (s *sqlStore) Stats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs WHERE state <> 'done' GROUP BY state`)
	if err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return st, err
		}
		switch JobState(state) {
		case JobPending:
			st.Pending = n
		case JobRunning:
			st.Running = n
		case JobAwaiting:
			st.Awaiting = n
		case JobDead:
			st.Dead = n
		}
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	var oldest sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(due_at) FROM jobs WHERE state = 'pending'`).Scan(&oldest); err != nil {
		return st, err
	}
	if oldest.Valid {
		st.OldestDue = fromMicros(oldest.Int64)
	}
	return st, nil
}

func (s *sqlStore) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.WithTx(ctx, func(tx Tx) error {
		var err error
		v, err = tx.NextCounter(name)
		return err
	})
	return v, err
}

func (s *sqlStore) Ingest(ctx context.Context, nm NewMessage) (message.ID, bool, error) {
	var id message.ID
	var created bool
	err := s.WithTx(ctx, func(tx Tx) error {
		var err error
		id, created, err = tx.Ingest(nm)
		return err
	})
	return id, created, err
}

func (s *sqlStore) Counts(ctx context.Context) ([]MessageCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ente, flow, kind, state, COUNT(*) FROM messages GROUP BY ente, flow, kind, state`)
	if err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	defer rows.Close()
	var out []MessageCount
	for rows.Next() {
		var c MessageCount
		if err := rows.Scan(&c.Ente, &c.Flow, &c.Kind, &c.State, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) FindKeys(ctx context.Context, prefix string, limit int) ([]KeyRef, error) {
	if limit <= 0 {
		limit = 1000
	}
	// A range scan on the primary key: prefix <= key < prefix+U+10FFFF.
	rows, err := s.r.QueryContext(ctx, s.Rebind(`SELECT key, message_id FROM message_keys WHERE key >= ? AND key < ?
		ORDER BY key, message_id LIMIT `+strconv.Itoa(limit)), prefix, prefix+"\U0010FFFF")
	if err != nil {
		return nil, fmt.Errorf("store: find keys %s*: %w", prefix, err)
	}
	defer rows.Close()
	var out []KeyRef
	for rows.Next() {
		var k KeyRef
		var id string
		if err := rows.Scan(&k.Key, &id); err != nil {
			return nil, err
		}
		k.MessageID = message.ID(id)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *sqlStore) AwaitingJob(ctx context.Context, key string) (*Job, error) {
	js, err := s.queryJobs(ctx, readQ{s}, `SELECT `+jobColumns+` FROM jobs WHERE await_key = ?`, key)
	if err != nil {
		return nil, err
	}
	if len(js) == 0 {
		return nil, fmt.Errorf("store: no job awaits %q: %w", key, ErrNotFound)
	}
	return &js[0], nil
}

func (s *sqlStore) FailAwait(ctx context.Context, key, detail string, retryAt time.Time, bury bool) (*Job, error) {
	var out *Job
	err := s.WithTx(ctx, func(tx Tx) error {
		t := tx.(*sqlTx)
		js, err := s.queryJobs(ctx, txQ{t}, `SELECT `+jobColumns+` FROM jobs WHERE await_key = ?`, key)
		if err != nil {
			return err
		}
		if len(js) == 0 {
			return fmt.Errorf("store: no job awaits %q: %w", key, ErrNotFound)
		}
		j := js[0]
		out = &j
		if j.State != JobAwaiting {
			return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventNote, Target: j.Target,
				Detail: fmt.Sprintf("ricevuta di errore tardiva o ripetuta per %s (late or repeated failure receipt): %s", key, detail)})
		}
		if bury {
			if _, err := t.exec(`UPDATE jobs SET state = 'dead', await_key = NULL, lease_owner = '', lease_until = 0,
				last_error = ?, updated_at = ? WHERE id = ?`, detail, micros(t.now), j.ID); err != nil {
				return err
			}
			out.State = JobDead
			return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventDeadLettered, Target: j.Target,
				Attempt: j.Attempts, Detail: detail})
		}
		if retryAt.IsZero() {
			retryAt = t.now
		}
		if _, err := t.exec(`UPDATE jobs SET state = 'pending', await_key = NULL, lease_owner = '', lease_until = 0, due_at = ?,
			last_error = ?, updated_at = ? WHERE id = ?`, micros(retryAt), detail, micros(t.now), j.ID); err != nil {
			return err
		}
		out.State = JobPending
		return t.AppendEvents(message.Event{MessageID: j.MessageID, Type: message.EventAttemptFailed, Target: j.Target,
			Attempt: j.Attempts, Detail: fmt.Sprintf("%s; nuovo tentativo alle %s (retry at %s)", detail,
				retryAt.Local().Format("15:04:05"), retryAt.UTC().Format(time.RFC3339))})
	})
	return out, err
}
