// Package posdb stores debt positions, their notice numbers and the receipts the pagoPA
// Node sends, in the hub's database (SQLite or PostgreSQL through snodo/pkg/store).
//
// Guarantees:
//   - a notice number and an IUV identify at most one position per ente (unique index);
//     generated ones come from a counter incremented in the same transaction that inserts
//     the position, so they are unique across goroutines and hub instances;
//   - updates are optimistic: they name the version they read and fail with ErrConflict
//     when someone changed the position meanwhile;
//   - a receipt is recorded at most once per (idPA, receiptId): the same receipt again
//     changes nothing; the receipt, the position's new state and whatever the OnReceipt
//     hook writes (the delivery to the ente) commit in one transaction.
package posdb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
)

// Errors, for errors.Is. Their text is what an ente's operator reads.
var (
	ErrNotFound      = errors.New("posizione non trovata (position not found)")
	ErrConflict      = errors.New("posizione modificata nel frattempo da un'altra richiesta: rileggerla e riprovare (version conflict: read it again and retry)")
	ErrExists        = errors.New("posizione già presente con dati diversi (position already exists with different data)")
	ErrNotModifiable = errors.New("posizione non modificabile: pagata, parzialmente pagata o annullata (position paid, partially paid or cancelled: it cannot change)")
	ErrNoticeTaken   = errors.New("numero avviso o IUV già usato da un'altra posizione dell'ente (notice number or IUV already used by another position)")
	ErrEnte          = errors.New("la posizione appartiene a un altro ente (the position belongs to another ente)")
)

// ReceiptHook runs inside the transaction that records a new receipt (never for a
// duplicate); an error rolls everything back and the Node is asked to retry. The hub
// uses it to enqueue the receipt's delivery to the ente (tx.Ingest with a job).
type ReceiptHook func(ctx context.Context, tx store.Tx, res *RecordResult) error

// Options tune a DB.
type Options struct {
	Now       func() time.Time // clock; time.Now when nil
	OnReceipt ReceiptHook
}

// DB is the positions repository.
type DB struct {
	st        store.Store
	now       func() time.Time
	onReceipt ReceiptHook
	caches    sync.Map // *sql.Tx -> *stmtCache, see WithStatementCache
	reads     sync.Map // query -> *sql.Stmt prepared on the store's pool, see read
}

// New returns a repository over st, whose migrations must include Migrations.
func New(st store.Store, o Options) *DB {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &DB{st: st, now: o.Now, onReceipt: o.OnReceipt}
}

// Store is the underlying store.
func (d *DB) Store() store.Store { return d.st }

// Now is the repository's clock.
func (d *DB) Now() time.Time { return d.now() }

// PutMode says what Put does when the position already exists with different data.
type PutMode int

const (
	// InsertOnly refuses a different existing position with ErrExists.
	InsertOnly PutMode = iota
	// Upsert replaces a different existing position when it can still change.
	Upsert
	// UpdateOnly replaces an existing position; a missing one is ErrNotFound.
	UpdateOnly
)

// Action says what Put did.
type Action string

const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged" // the same data was already stored: nothing done
	Cancelled Action = "cancelled"
)

// Create validates p for ente e, assigns notice numbers to options without one, and
// stores it; p is updated with what was stored. Creating the same position again (a
// retried request) returns Unchanged and the stored position; different data under the
// same IUPD fails with ErrExists.
func (d *DB) Create(ctx context.Context, e *pagopa.Ente, p *position.Position) (Action, error) {
	var act Action
	err := d.st.WithTx(ctx, func(tx store.Tx) error {
		var err error
		act, err = d.PutTx(ctx, tx, e, p, InsertOnly)
		return err
	})
	return act, err
}

// Prepare normalizes and validates p for ente e without storing it, returning the
// content hash Put uses to recognise a position loaded twice.
func Prepare(e *pagopa.Ente, p *position.Position) (string, error) {
	if p.Ente == "" {
		p.Ente = e.FiscalCode
	}
	if p.Ente != e.FiscalCode {
		return "", fmt.Errorf("posdb: %s: %w", p.IUPD, ErrEnte)
	}
	if p.CompanyName == "" {
		p.CompanyName = e.Name
	}
	if p.OfficeName == "" {
		p.OfficeName = e.Office
	}
	p.Normalize()
	p.State = position.StateValid
	if err := position.Validate(p, position.Rules{AllowUncheckedNotices: e.AllowUncheckedNotices}); err != nil {
		return "", err
	}
	return contentHash(p), nil
}

// contentHash is the digest of what the ente gave: state, version, timestamps and
// payments excluded.
func contentHash(p *position.Position) string {
	c := *p
	c.State, c.Version, c.CreatedAt, c.UpdatedAt = "", 0, time.Time{}, time.Time{}
	c.Options = append([]position.Option(nil), p.Options...)
	for i := range c.Options {
		c.Options[i].ReceiptID, c.Options[i].PaidAt = "", nil
	}
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// PutTx stores p inside tx: created when new, Unchanged when the same data is already
// there, replaced (Upsert) or refused with ErrExists (InsertOnly) when different.
func (d *DB) PutTx(ctx context.Context, tx store.Tx, e *pagopa.Ente, p *position.Position, mode PutMode) (Action, error) {
	hash, err := Prepare(e, p)
	if err != nil {
		return "", err
	}
	cur, err := d.getTx(ctx, tx, p.Ente, p.IUPD, true)
	switch {
	case errors.Is(err, ErrNotFound) && mode == UpdateOnly:
		return "", err
	case errors.Is(err, ErrNotFound):
		if err := d.assignNotices(ctx, tx, e, p, nil); err != nil {
			return "", err
		}
		return Created, d.insert(ctx, tx, p, hash)
	case err != nil:
		return "", err
	}
	if cur.hash == hash {
		*p = *cur.Position
		return Unchanged, nil
	}
	if mode == InsertOnly {
		return "", fmt.Errorf("posdb: %s/%s: %w", p.Ente, p.IUPD, ErrExists)
	}
	p.Version = cur.Version
	if err := d.replace(ctx, tx, e, cur, p, hash); err != nil {
		return "", err
	}
	return Updated, nil
}

// Update replaces the position with p.Ente/p.IUPD; p.Version must be the version read.
// Options without a notice number keep the one of the stored option with the same
// instalment number, or get a new one.
func (d *DB) Update(ctx context.Context, e *pagopa.Ente, p *position.Position) error {
	return d.st.WithTx(ctx, func(tx store.Tx) error {
		hash, err := Prepare(e, p)
		if err != nil {
			return err
		}
		cur, err := d.getTx(ctx, tx, p.Ente, p.IUPD, true)
		if err != nil {
			return err
		}
		return d.replace(ctx, tx, e, cur, p, hash)
	})
}

func (d *DB) replace(ctx context.Context, tx store.Tx, e *pagopa.Ente, cur *stored, p *position.Position, hash string) error {
	if cur.Version != p.Version {
		return fmt.Errorf("posdb: %s/%s: versione %d, attuale %d: %w", p.Ente, p.IUPD, p.Version, cur.Version, ErrConflict)
	}
	if cur.State != position.StateValid || cur.SettledState() != position.StateValid {
		return fmt.Errorf("posdb: %s/%s: %w", p.Ente, p.IUPD, ErrNotModifiable)
	}
	if err := d.assignNotices(ctx, tx, e, p, cur.Position); err != nil {
		return err
	}
	for _, o := range cur.Options {
		if _, err := d.exec(ctx, tx, `DELETE FROM pagopa_notices WHERE ente = ? AND iuv = ?`, cur.Ente, o.IUV); err != nil {
			return fmt.Errorf("posdb: update %s/%s: %w", p.Ente, p.IUPD, err)
		}
	}
	if err := d.insertNotices(ctx, tx, p, cur.id); err != nil {
		return err
	}
	p.CreatedAt = cur.CreatedAt
	p.State = position.StateValid
	return d.write(ctx, tx, cur.id, cur.Version, p, hash)
}

// Cancel withdraws a position that nothing has paid yet; version 0 skips the version check.
func (d *DB) Cancel(ctx context.Context, ente, iupd string, version int64) (*position.Position, error) {
	var out *position.Position
	err := d.st.WithTx(ctx, func(tx store.Tx) error {
		p, err := d.CancelTx(ctx, tx, ente, iupd, version)
		out = p
		return err
	})
	return out, err
}

// CancelTx is Cancel inside tx. Cancelling a cancelled position is a no-op.
func (d *DB) CancelTx(ctx context.Context, tx store.Tx, ente, iupd string, version int64) (*position.Position, error) {
	cur, err := d.getTx(ctx, tx, ente, iupd, true)
	if err != nil {
		return nil, err
	}
	if version != 0 && version != cur.Version {
		return nil, fmt.Errorf("posdb: %s/%s: versione %d, attuale %d: %w", ente, iupd, version, cur.Version, ErrConflict)
	}
	if cur.State == position.StateCancelled {
		return cur.Position, nil
	}
	if cur.SettledState() != position.StateValid {
		return nil, fmt.Errorf("posdb: %s/%s: %w", ente, iupd, ErrNotModifiable)
	}
	p := cur.Position
	p.State = position.StateCancelled
	if err := d.write(ctx, tx, cur.id, cur.Version, p, cur.hash); err != nil {
		return nil, err
	}
	return p, nil
}

// write saves p over row id, expecting version; it bumps the version.
func (d *DB) write(ctx context.Context, tx store.Tx, id, version int64, p *position.Position, hash string) error {
	now := d.now().UTC()
	p.Version = version + 1
	p.UpdatedAt = now
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("posdb: encode %s/%s: %w", p.Ente, p.IUPD, err)
	}
	res, err := d.exec(ctx, tx, `UPDATE pagopa_positions SET state = ?, version = ?, amount = ?, debtor_id = ?,
		type = ?, document = ?, expiry_date = ?, content_hash = ?, doc = ?, updated_at = ? WHERE id = ? AND version = ?`,
		string(p.State), p.Version, p.Amount(), p.Debtor.ID, p.Type, p.Document, expiry(p), hash, string(doc), now.UnixMicro(), id, version)
	if err != nil {
		return fmt.Errorf("posdb: update %s/%s: %w", p.Ente, p.IUPD, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("posdb: %s/%s: %w", p.Ente, p.IUPD, ErrConflict)
	}
	return nil
}

func expiry(p *position.Position) string {
	if p.ExpiryDate == nil {
		return ""
	}
	return p.ExpiryDate.String()
}

func (d *DB) insert(ctx context.Context, tx store.Tx, p *position.Position, hash string) error {
	now := d.now().UTC()
	p.Version, p.CreatedAt, p.UpdatedAt = 1, now, now
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("posdb: encode %s/%s: %w", p.Ente, p.IUPD, err)
	}
	const ins = `INSERT INTO pagopa_positions (ente, iupd, state, version, amount, debtor_id, type,
		document, expiry_date, content_hash, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	args := []any{p.Ente, p.IUPD, string(p.State), p.Version, p.Amount(), p.Debtor.ID, p.Type, p.Document, expiry(p), hash, string(doc),
		now.UnixMicro(), now.UnixMicro()}
	var id int64
	if d.st.Dialect() == store.Postgres {
		err = d.queryRow(ctx, tx, ins+` RETURNING id`, args...).Scan(&id)
	} else { // an Exec is much lighter than a query through database/sql
		var res sql.Result
		if res, err = d.exec(ctx, tx, ins, args...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("posdb: %s/%s: %w", p.Ente, p.IUPD, ErrConflict)
		}
		return fmt.Errorf("posdb: insert %s/%s: %w", p.Ente, p.IUPD, err)
	}
	return d.insertNotices(ctx, tx, p, id)
}

func (d *DB) insertNotices(ctx context.Context, tx store.Tx, p *position.Position, id int64) error {
	for i := range p.Options {
		o := &p.Options[i]
		if _, err := d.exec(ctx, tx, `INSERT INTO pagopa_notices (ente, notice_number, iuv, position_id) VALUES (?, ?, ?, ?)`,
			p.Ente, o.NoticeNumber, o.IUV, id); err != nil {
			if isUnique(err) {
				return fmt.Errorf("posdb: %s/%s: avviso %s: %w", p.Ente, p.IUPD, o.NoticeNumber, ErrNoticeTaken)
			}
			return fmt.Errorf("posdb: index notice %s: %w", o.NoticeNumber, err)
		}
	}
	return nil
}

// iuvBlock is how many IUV bases a bulk transaction reserves at a time.
const iuvBlock = 64

// nextIUVBase returns the next IUV base of an ente's numbering scheme (first value 1),
// from a counter row incremented inside tx: the row lock makes it unique across hub
// instances, and a rollback returns the numbers. Inside WithStatementCache it reserves
// iuvBlock numbers at once and hands them out for the rest of that transaction only
// (numbers left over when it ends are skipped: IUVs need to be unique, not dense).
func (d *DB) nextIUVBase(ctx context.Context, tx store.Tx, ente, prefix string) (int64, error) {
	c := d.cacheOf(tx)
	key := ente + "|" + prefix
	if c != nil {
		if b := c.blocks[key]; b != nil && b[0] < b[1] {
			v := b[0]
			b[0]++
			return v, nil
		}
	}
	n := int64(1)
	if c != nil {
		n = iuvBlock
	}
	var last int64
	err := d.queryRow(ctx, tx, `INSERT INTO pagopa_iuv_counters (ente, prefix, value) VALUES (?, ?, ?)
		ON CONFLICT (ente, prefix) DO UPDATE SET value = pagopa_iuv_counters.value + ? RETURNING value`, ente, prefix, n, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("posdb: IUV counter %s/%s: %w", ente, prefix, err)
	}
	first := last - n + 1
	if c != nil {
		c.blocks[key] = &[2]int64{first + 1, last + 1}
	}
	return first, nil
}

// assignNotices fills the notice number and IUV of every option: given ones are checked
// for reuse, missing ones are taken from the option of prev with the same instalment or
// generated from the ente's counter, skipping numbers already in use.
func (d *DB) assignNotices(ctx context.Context, tx store.Tx, e *pagopa.Ente, p *position.Position, prev *position.Position) error {
	scheme := e.Scheme()
	for i := range p.Options {
		o := &p.Options[i]
		if o.NoticeNumber == "" && prev != nil {
			for j := range prev.Options {
				if prev.Options[j].Instalment == o.Instalment {
					o.NoticeNumber, o.IUV = prev.Options[j].NoticeNumber, prev.Options[j].IUV
				}
			}
		}
		if o.NoticeNumber != "" {
			if o.IUV == "" {
				o.IUV = iuvOf(o.NoticeNumber)
			}
			owner, err := d.noticeOwner(ctx, tx, p.Ente, o.NoticeNumber, o.IUV)
			if err != nil {
				return err
			}
			if owner != 0 && (prev == nil || prev.Option(o.NoticeNumber) == nil) {
				return fmt.Errorf("posdb: %s/%s: avviso %s: %w", p.Ente, p.IUPD, o.NoticeNumber, ErrNoticeTaken)
			}
			continue
		}
		for attempt := 0; ; attempt++ {
			if attempt == 1000 {
				return fmt.Errorf("posdb: %s: nessun numero avviso libero dopo 1000 tentativi con lo schema %s (no free notice number)", p.Ente, scheme.Prefix())
			}
			seq, err := d.nextIUVBase(ctx, tx, p.Ente, scheme.Prefix())
			if err != nil {
				return fmt.Errorf("posdb: IUV sequence of %s: %w", p.Ente, err)
			}
			n, err := scheme.Generate(seq)
			if err != nil {
				return fmt.Errorf("posdb: %s: %w", p.Ente, err)
			}
			owner, err := d.noticeOwner(ctx, tx, p.Ente, n.Number, n.IUV)
			if err != nil {
				return err
			}
			if owner == 0 && !usedInPosition(p, i, n.Number, n.IUV) {
				o.NoticeNumber, o.IUV = n.Number, n.IUV
				break
			}
		}
	}
	return nil
}

// usedInPosition reports whether another option of p already has the notice or IUV.
func usedInPosition(p *position.Position, self int, notice, iuvCode string) bool {
	for j := range p.Options {
		if j != self && (p.Options[j].NoticeNumber == notice || p.Options[j].IUV == iuvCode) {
			return true
		}
	}
	return false
}

// iuvOf is the IUV inside a notice number (aux 0: after the application code).
func iuvOf(notice string) string {
	if len(notice) == 18 && notice[0] == '0' {
		return notice[3:]
	}
	if len(notice) == 18 {
		return notice[1:]
	}
	return notice
}

// noticeOwner returns the position holding the notice or its IUV, or 0. A notice number
// determines its IUV, so the IUV lookup finds a reused notice number too.
func (d *DB) noticeOwner(ctx context.Context, tx store.Tx, ente, notice, iuvCode string) (int64, error) {
	var id int64
	err := d.queryRow(ctx, tx, `SELECT position_id FROM pagopa_notices WHERE ente = ? AND iuv = ?`, ente, iuvCode).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("posdb: look up notice %s: %w", notice, err)
	}
	return id, nil
}

// stored is a position with its row id and content hash.
type stored struct {
	*position.Position
	id   int64
	hash string
}

const positionColumns = `id, state, version, content_hash, doc, created_at, updated_at`

func scanPosition(sc interface{ Scan(...any) error }) (*stored, error) {
	var (
		s                stored
		state, hash, doc string
		version          int64
		created, updated int64
	)
	if err := sc.Scan(&s.id, &state, &version, &hash, &doc, &created, &updated); err != nil {
		return nil, err
	}
	p := &position.Position{}
	if err := json.Unmarshal([]byte(doc), p); err != nil {
		return nil, fmt.Errorf("posdb: decode position %d: %w", s.id, err)
	}
	p.State, p.Version = position.State(state), version
	p.CreatedAt, p.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	s.Position, s.hash = p, hash
	return &s, nil
}

// forUpdate locks the rows read on PostgreSQL; SQLite transactions already hold the
// database's write lock (the store opens them IMMEDIATE).
func (d *DB) forUpdate() string {
	if d.st.Dialect() == store.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func (d *DB) getTx(ctx context.Context, tx store.Tx, ente, iupd string, lock bool) (*stored, error) {
	q := `SELECT ` + positionColumns + ` FROM pagopa_positions WHERE ente = ? AND iupd = ?`
	if lock {
		q += d.forUpdate()
	}
	s, err := scanPosition(d.queryRow(ctx, tx, q, ente, iupd))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("posdb: %s/%s: %w", ente, iupd, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("posdb: read %s/%s: %w", ente, iupd, err)
	}
	return s, nil
}

// Get reads the position iupd of ente.
func (d *DB) Get(ctx context.Context, ente, iupd string) (*position.Position, error) {
	s, err := scanPosition(d.read(ctx, `SELECT `+positionColumns+` FROM pagopa_positions WHERE ente = ? AND iupd = ?`, ente, iupd))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("posdb: %s/%s: %w", ente, iupd, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("posdb: read %s/%s: %w", ente, iupd, err)
	}
	return s.Position, nil
}

// ByNotice reads the position holding the notice number of ente.
func (d *DB) ByNotice(ctx context.Context, ente, notice string) (*position.Position, error) {
	s, err := scanPosition(d.read(ctx, `SELECT p.id, p.state, p.version, p.content_hash, p.doc,
		p.created_at, p.updated_at FROM pagopa_notices n JOIN pagopa_positions p ON p.id = n.position_id
		WHERE n.ente = ? AND n.notice_number = ?`, ente, notice))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("posdb: %s/avviso %s: %w", ente, notice, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("posdb: read %s/avviso %s: %w", ente, notice, err)
	}
	return s.Position, nil
}

// Filter selects positions of one ente. Zero fields match everything.
type Filter struct {
	Ente     string // required
	State    position.State
	DebtorID string
	Type     string
	Document string
	After    int64 // cursor returned by List
	Limit    int   // default 100, at most 1000
}

// List returns positions of f.Ente in creation order and the cursor of the next page (0
// at the end). State "expired" matches positions past their expiry date too.
func (d *DB) List(ctx context.Context, f Filter) ([]*position.Position, int64, error) {
	if f.Ente == "" {
		return nil, 0, errors.New("posdb: list: ente required")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	var where []string
	args := []any{f.Ente, f.After}
	today := position.Today(d.now()).String()
	switch f.State {
	case "":
	case position.StateExpired:
		where = append(where, `(state = 'expired' OR (state IN ('valid', 'partially_paid') AND expiry_date <> '' AND expiry_date < ?))`)
		args = append(args, today)
	case position.StateValid, position.StatePartiallyPaid:
		where = append(where, `state = ? AND (expiry_date = '' OR expiry_date >= ?)`)
		args = append(args, string(f.State), today)
	default:
		where = append(where, `state = ?`)
		args = append(args, string(f.State))
	}
	for _, c := range []struct{ col, v string }{{"debtor_id", f.DebtorID}, {"type", f.Type}, {"document", f.Document}} {
		if c.v != "" {
			where = append(where, c.col+` = ?`)
			args = append(args, c.v)
		}
	}
	q := `SELECT ` + positionColumns + ` FROM pagopa_positions WHERE ente = ? AND id > ?`
	for _, w := range where {
		q += ` AND ` + w
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, f.Limit+1)
	rows, err := d.st.DB().QueryContext(ctx, d.st.Rebind(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("posdb: list %s: %w", f.Ente, err)
	}
	defer rows.Close()
	var out []*position.Position
	var next, last int64
	for rows.Next() {
		s, err := scanPosition(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("posdb: list %s: %w", f.Ente, err)
		}
		if len(out) == f.Limit {
			next = last
			break
		}
		out = append(out, s.Position)
		last = s.id
	}
	return out, next, rows.Err()
}

// Savepoint runs fn so that, when it fails, what it wrote is undone and the transaction
// goes on. Bulk loaders make each row atomic this way.
//
// On PostgreSQL it is a real savepoint (a failed statement aborts the whole transaction
// otherwise). On SQLite the transaction holds the database's only write lock and the
// repository checks every constraint before its first write of a row (the position id,
// each notice number and IUV, the version), so once a row starts writing only a database
// failure can stop it, and that fails the whole transaction anyway; a savepoint there
// would only cost a sub-journal page write per row.
func (d *DB) Savepoint(ctx context.Context, tx store.Tx, fn func() error) error {
	if d.st.Dialect() != store.Postgres {
		return fn()
	}
	if _, err := d.exec(ctx, tx, `SAVEPOINT pagopa_row`); err != nil {
		return fmt.Errorf("posdb: savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := d.exec(ctx, tx, `ROLLBACK TO SAVEPOINT pagopa_row`); rerr != nil {
			return fmt.Errorf("posdb: rollback to savepoint after %v: %w", err, rerr)
		}
		if _, rerr := d.exec(ctx, tx, `RELEASE SAVEPOINT pagopa_row`); rerr != nil {
			return fmt.Errorf("posdb: release savepoint: %w", rerr)
		}
		return err
	}
	if _, err := d.exec(ctx, tx, `RELEASE SAVEPOINT pagopa_row`); err != nil {
		return fmt.Errorf("posdb: release savepoint: %w", err)
	}
	return nil
}

// isUnique tells a unique-constraint violation on either database.
func isUnique(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// BulkCacheKiB is the SQLite page cache a bulk load asks for (WithBulkCache).
const BulkCacheKiB = 64 << 10

// WithBulkCache runs fn with SQLite tuned for a bulk load on the store's writer
// connection, then restores the previous settings: a 64 MiB page cache instead of the
// default 2 MiB (a million positions touch B-tree pages all over the tables and indexes,
// which the small cache reads back from the OS again and again) and temporary files in
// memory (the store runs each transaction in a savepoint, whose sub-journal otherwise
// goes through a temporary file, one write per page). No-op on PostgreSQL.
func (d *DB) WithBulkCache(ctx context.Context, fn func() error) error {
	if d.st.Dialect() != store.SQLite {
		return fn()
	}
	db := d.st.DB()
	var prevCache, prevTemp int64
	if db.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&prevCache) != nil || db.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&prevTemp) != nil {
		return fn()
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, BulkCacheKiB)); err != nil {
		return fn()
	}
	db.ExecContext(ctx, `PRAGMA temp_store = MEMORY`)
	defer func() {
		bg := context.WithoutCancel(ctx)
		db.ExecContext(bg, fmt.Sprintf(`PRAGMA cache_size = %d`, prevCache))
		db.ExecContext(bg, fmt.Sprintf(`PRAGMA temp_store = %d`, prevTemp))
	}()
	return fn()
}

// stmtCache holds the statements prepared for one transaction.
type stmtCache struct {
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt
	blocks map[string]*[2]int64 // reserved IUV bases [next, end) by ente|prefix
}

// WithStatementCache runs fn with the repository's statements prepared once for tx, for
// bulk loads that run the same few statements thousands of times in one transaction
// (SQLite and PostgreSQL would otherwise parse each one every time).
func (d *DB) WithStatementCache(tx store.Tx, fn func() error) error {
	c := &stmtCache{tx: tx.SQL(), stmts: map[string]*sql.Stmt{}, blocks: map[string]*[2]int64{}}
	d.caches.Store(tx.SQL(), c)
	defer func() {
		d.caches.Delete(tx.SQL())
		for _, st := range c.stmts {
			st.Close()
		}
	}()
	return fn()
}

func (d *DB) cacheOf(tx store.Tx) *stmtCache {
	if v, ok := d.caches.Load(tx.SQL()); ok {
		return v.(*stmtCache)
	}
	return nil
}

func (d *DB) stmt(ctx context.Context, tx store.Tx, q string) *sql.Stmt {
	c := d.cacheOf(tx)
	if c == nil {
		return nil
	}
	if st, ok := c.stmts[q]; ok {
		return st
	}
	st, err := c.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil // the unprepared call reports the error
	}
	c.stmts[q] = st
	return st
}

func (d *DB) exec(ctx context.Context, tx store.Tx, q string, args ...any) (sql.Result, error) {
	q = tx.Rebind(q)
	if st := d.stmt(ctx, tx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.SQL().ExecContext(ctx, q, args...)
}

func (d *DB) queryRow(ctx context.Context, tx store.Tx, q string, args ...any) *sql.Row {
	q = tx.Rebind(q)
	if st := d.stmt(ctx, tx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.SQL().QueryRowContext(ctx, q, args...)
}

// read runs a hot single-row read (the Node's verify and getPayment) with a statement
// prepared once on the store's pool instead of at every call.
func (d *DB) read(ctx context.Context, q string, args ...any) *sql.Row {
	q = d.st.Rebind(q)
	if v, ok := d.reads.Load(q); ok {
		return v.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := d.st.DB().PrepareContext(ctx, q)
	if err != nil {
		return d.st.DB().QueryRowContext(ctx, q, args...)
	}
	if prev, loaded := d.reads.LoadOrStore(q, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}
