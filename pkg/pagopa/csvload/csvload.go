// Package csvload loads debt positions from CSV files in GovPay's default "tracciato"
// layout and in MyPay's import layout (versions 1.0–1.4), streaming: the file is read
// record by record and never held in memory, so a million rows load in bounded memory.
//
// Every row is independent and atomic: it is either stored whole or not at all (a
// savepoint per row inside batches of rows), and it gets one line in the outcome CSV with
// its row number, its id, its notice number and IUV, an outcome and, when refused, the
// reason in Italian (then English). A file is therefore never half-loaded: what is in the
// store is exactly the rows marked OK. Loading is idempotent and resumable: loading the
// same file again finds every loaded row unchanged ("INVARIATA") and gives it the same
// notice number, so after an interruption the file is simply loaded again.
//
// The layouts and what each row asks are package csvparse's.
//
// Outcome files escape cells that a spreadsheet would run as a formula.
package csvload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/csvparse"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
)

// Options tune Load.
type Options struct {
	csvparse.Options
	BatchSize int // rows per transaction (default 1000)
	Logger    *slog.Logger
}

// Outcome operations written in the outcome file.
const (
	OpCreated   = "CARICATA"
	OpUpdated   = "AGGIORNATA"
	OpUnchanged = "INVARIATA"
	OpCancelled = "ANNULLATA"
	OpRejected  = "SCARTATA"
)

// Summary counts what a load did.
type Summary struct {
	Format    csvparse.Format `json:"format"`
	Rows      int             `json:"rows"`
	Created   int             `json:"created"`
	Updated   int             `json:"updated"`
	Unchanged int             `json:"unchanged"`
	Cancelled int             `json:"cancelled"`
	Rejected  int             `json:"rejected"`
	Elapsed   time.Duration   `json:"elapsed"`
}

// row is a parsed row and what storing it did.
type row struct {
	*csvparse.Row
	result result
}

type result struct {
	op, notice, iuv, reason string
}

// Load reads the positions of ente e from r into db and writes the outcome CSV to out.
// It returns a *csvparse.FileError when the file itself is unusable (the rows before it
// are loaded and listed in the outcome), or an error when the store fails.
func Load(ctx context.Context, db *posdb.DB, e *pagopa.Ente, r io.Reader, out io.Writer, o Options) (sum *Summary, err error) {
	err = db.WithBulkCache(ctx, func() error {
		sum, err = loadFile(ctx, db, e, r, out, o)
		return err
	})
	return sum, err
}

func loadFile(ctx context.Context, db *posdb.DB, e *pagopa.Ente, r io.Reader, out io.Writer, o Options) (*Summary, error) {
	begin := time.Now()
	o.defaults()
	sc, err := csvparse.NewScanner(r, e, o.Options)
	if err != nil {
		return nil, err
	}
	ow := newOutcomeWriter(out, sc.Comma())
	if err := ow.header(); err != nil {
		return nil, fmt.Errorf("csvload: write outcome: %w", err)
	}
	sum := &Summary{Format: sc.Format()}
	batch := make([]*row, 0, o.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := storeBatch(ctx, db, e, batch); err != nil {
			return err
		}
		for _, rw := range batch {
			sum.count(rw.result.op)
			if err := ow.row(rw); err != nil {
				return fmt.Errorf("csvload: write outcome: %w", err)
			}
		}
		batch = batch[:0]
		return ow.flush()
	}
	var fileErr error
	for {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		pr, err := sc.Next()
		if err != nil {
			fileErr = err
			break
		}
		if pr == nil {
			break
		}
		sum.Rows++
		rw := &row{Row: pr}
		if pr.Err != "" {
			rw.result = result{op: OpRejected, reason: pr.Err}
		}
		batch = append(batch, rw)
		if len(batch) == o.BatchSize {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	sum.Elapsed = time.Since(begin)
	o.Logger.Info("csvload: file loaded", "file", o.Name, "ente", e.FiscalCode, "format", sum.Format, "rows", sum.Rows, "created", sum.Created,
		"updated", sum.Updated, "unchanged", sum.Unchanged, "cancelled", sum.Cancelled, "rejected", sum.Rejected, "elapsed", sum.Elapsed)
	if fileErr != nil {
		return sum, fileErr
	}
	return sum, nil
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "file CSV"
	}
}

func (s *Summary) count(op string) {
	switch op {
	case OpCreated:
		s.Created++
	case OpUpdated:
		s.Updated++
	case OpUnchanged:
		s.Unchanged++
	case OpCancelled:
		s.Cancelled++
	default:
		s.Rejected++
	}
}

// storeBatch stores the parsed rows of a batch in one transaction, each in its savepoint.
func storeBatch(ctx context.Context, db *posdb.DB, e *pagopa.Ente, batch []*row) error {
	return db.Store().WithTx(ctx, func(tx store.Tx) error {
		return db.WithStatementCache(tx, func() error { return storeRows(ctx, db, tx, e, batch) })
	})
}

func storeRows(ctx context.Context, db *posdb.DB, tx store.Tx, e *pagopa.Ente, batch []*row) error {
	for _, rw := range batch {
		if rw.Err != "" {
			continue
		}
		var res result
		err := db.Savepoint(ctx, tx, func() error {
			var err error
			res, err = storeRow(ctx, db, tx, e, rw)
			return err
		})
		if err != nil {
			reason, ok := rowReason(err)
			if !ok {
				return fmt.Errorf("csvload: riga %d: %w", rw.Line, err)
			}
			res = result{op: OpRejected, reason: reason}
		}
		rw.result = res
	}
	return nil
}

func storeRow(ctx context.Context, db *posdb.DB, tx store.Tx, e *pagopa.Ente, rw *row) (result, error) {
	if rw.Action == csvparse.Cancel {
		p, err := db.CancelTx(ctx, tx, e.FiscalCode, rw.ID, 0)
		if err != nil {
			return result{}, err
		}
		return result{op: OpCancelled, notice: p.Options[0].NoticeNumber, iuv: p.Options[0].IUV}, nil
	}
	mode := posdb.Upsert
	switch rw.Action {
	case csvparse.Insert:
		mode = posdb.InsertOnly
	case csvparse.Update:
		mode = posdb.UpdateOnly
	}
	act, err := db.PutTx(ctx, tx, e, rw.Position, mode)
	if err != nil {
		return result{}, err
	}
	op := map[posdb.Action]string{posdb.Created: OpCreated, posdb.Updated: OpUpdated, posdb.Unchanged: OpUnchanged}[act]
	var notices, iuvs []string
	for _, o := range rw.Position.Options {
		notices = append(notices, o.NoticeNumber)
		iuvs = append(iuvs, o.IUV)
	}
	return result{op: op, notice: strings.Join(notices, " "), iuv: strings.Join(iuvs, " ")}, nil
}

// rowReason explains a refusal of the store for the outcome file; ok is false when the
// error is the store's own failure (the load stops).
func rowReason(err error) (string, bool) {
	var ve *position.ValidationError
	switch {
	case errors.As(err, &ve):
		parts := make([]string, len(ve.Fields))
		for i, f := range ve.Fields {
			parts[i] = f.Field + ": " + f.Message
		}
		return strings.Join(parts, "; "), true
	case errors.Is(err, posdb.ErrExists):
		return "identificativo già presente con dati diversi: per modificarlo usare l'azione M (already present with different data: use action M to modify)", true
	case errors.Is(err, posdb.ErrNotFound):
		return "posizione non presente: impossibile modificarla o annullarla (position not found: cannot modify or cancel it)", true
	case errors.Is(err, posdb.ErrNotModifiable), errors.Is(err, posdb.ErrNoticeTaken), errors.Is(err, posdb.ErrConflict), errors.Is(err, posdb.ErrEnte):
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return msg, true
	}
	if strings.Contains(err.Error(), "sequenza esaurita") || strings.Contains(err.Error(), "nessun numero avviso libero") {
		return err.Error(), true
	}
	return "", false
}
