package posdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
)

// Anomalies a receipt can carry. A receipt is money already collected by a PSP: the hub
// never refuses one for what it says, it records it, closes what it pays and flags what
// an operator must look at (a refund, a reconciliation).
const (
	AnomalyUnknownNotice = "unknown_notice"   // no position holds the notice number
	AnomalyAlreadyPaid   = "already_paid"     // the option was already paid by another receipt: double payment, refund due
	AnomalyAmount        = "amount_mismatch"  // paymentAmount differs from the option's amount
	AnomalyIUV           = "iuv_mismatch"     // creditorReferenceId differs from the option's IUV
	AnomalyCancelled     = "paid_cancelled"   // the position had been cancelled by the ente
	AnomalyExpired       = "paid_expired"     // the position was past its expiry date
	AnomalyOutcomeKO     = "outcome_ko"       // outcome KO: recorded, nothing paid
	AnomalyOtherCreditor = "other_creditor"   // fiscalCode is not the idPA the Node addressed (broadcast copy)
	AnomalyTransfers     = "transfers_differ" // the receipt's transfers do not sum to its amount
)

// AnomalyText describes an anomaly for an operator, Italian first.
var AnomalyText = map[string]string{
	AnomalyUnknownNotice: "nessuna posizione con questo numero avviso: verificare e caricare la posizione o rimborsare (no position holds this notice)",
	AnomalyAlreadyPaid:   "avviso già pagato con un'altra ricevuta: doppio pagamento, valutare il rimborso (already paid by another receipt: double payment)",
	AnomalyAmount:        "importo pagato diverso dall'importo dovuto (paid amount differs from the amount due)",
	AnomalyIUV:           "IUV della ricevuta diverso da quello della posizione (receipt IUV differs from the position's)",
	AnomalyCancelled:     "pagata una posizione annullata dall'ente (a cancelled position was paid)",
	AnomalyExpired:       "pagata una posizione scaduta (an expired position was paid)",
	AnomalyOutcomeKO:     "ricevuta con esito KO: nessun pagamento registrato (KO receipt: no payment recorded)",
	AnomalyOtherCreditor: "ricevuta di un altro ente creditore (copia broadcast) (receipt of another creditor: broadcast copy)",
	AnomalyTransfers:     "i versamenti della ricevuta non sommano al suo importo (receipt transfers do not sum to its amount)",
}

// ErrReceiptConflict: a receiptId already recorded arrives with different content.
var ErrReceiptConflict = errors.New("ricevuta con lo stesso receiptId già registrata con dati diversi (receiptId already recorded with different content)")

// Receipt is a receipt (paSendRT/paSendRTV2) as recorded.
type Receipt struct {
	ID                  int64
	IDPA                string // the idPA the Node addressed
	Station             string // idStation of the request
	ReceiptID           string // = paymentToken = IUR
	FiscalCode          string // creditor of the payment
	NoticeNumber        string
	CreditorReferenceID string // IUV
	Amount              int64  // cents
	TransfersAmount     int64  // sum of the receipt's transfers, cents
	Outcome             string // OK or KO
	IDPSP               string
	PaymentDateTime     string
	Primitive           string // paSendRT or paSendRTV2
	PositionID          int64  // 0 when no position matched
	Anomalies           []string
	Raw                 []byte // the SOAP request as received
	CreatedAt           time.Time
}

// RecordResult is what recording a receipt did.
type RecordResult struct {
	Receipt   *Receipt
	Position  *position.Position // after the payment; nil when no position matched
	Duplicate bool               // the same receipt was already recorded: nothing changed
}

// RecordReceipt stores r (once per IDPA+ReceiptID), marks the option it pays and
// recomputes the position's state, and runs the OnReceipt hook, all in one transaction.
// The same receipt again returns Duplicate=true and changes nothing; the same receiptId
// with a different notice number or amount returns ErrReceiptConflict.
func (d *DB) RecordReceipt(ctx context.Context, r *Receipt) (*RecordResult, error) {
	var res *RecordResult
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = d.st.WithTx(ctx, func(tx store.Tx) error {
			res, err = d.recordTx(ctx, tx, r)
			return err
		})
		// Two hub instances recording the same receipt at once: the loser hits the
		// unique index; on retry it finds the winner's row and answers as a duplicate.
		if err == nil || !isUnique(err) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (d *DB) recordTx(ctx context.Context, tx store.Tx, r *Receipt) (*RecordResult, error) {
	prev, err := d.findReceipt(ctx, tx, r.IDPA, r.ReceiptID)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		if prev.NoticeNumber != r.NoticeNumber || prev.FiscalCode != r.FiscalCode || prev.Amount != r.Amount || prev.Outcome != r.Outcome {
			return nil, fmt.Errorf("posdb: receipt %s of %s (avviso %s, già registrata per l'avviso %s): %w",
				r.ReceiptID, r.IDPA, r.NoticeNumber, prev.NoticeNumber, ErrReceiptConflict)
		}
		return &RecordResult{Receipt: prev, Duplicate: true}, nil
	}

	r.Anomalies = nil
	flag := func(a string) { r.Anomalies = append(r.Anomalies, a) }
	if r.FiscalCode != r.IDPA {
		flag(AnomalyOtherCreditor)
	}
	if r.TransfersAmount != r.Amount {
		flag(AnomalyTransfers)
	}
	now := d.now()
	res := &RecordResult{Receipt: r}

	s, err := d.lockByNotice(ctx, tx, r.FiscalCode, r.NoticeNumber)
	switch {
	case errors.Is(err, ErrNotFound):
		flag(AnomalyUnknownNotice)
	case err != nil:
		return nil, err
	case r.Outcome != "OK":
		flag(AnomalyOutcomeKO)
		r.PositionID, res.Position = s.id, s.Position
	default:
		p := s.Position
		r.PositionID, res.Position = s.id, p
		o := p.Option(r.NoticeNumber)
		if o.IUV != r.CreditorReferenceID {
			flag(AnomalyIUV)
		}
		if o.Amount != r.Amount {
			flag(AnomalyAmount)
		}
		_, perr := p.CheckPayable(r.NoticeNumber, now)
		switch {
		case errors.Is(perr, position.ErrPaid):
			flag(AnomalyAlreadyPaid)
		case errors.Is(perr, position.ErrCancelled):
			flag(AnomalyCancelled)
		case errors.Is(perr, position.ErrExpired):
			flag(AnomalyExpired)
		}
		if !o.Paid() {
			paid := now.UTC()
			o.ReceiptID, o.PaidAt = r.ReceiptID, &paid
			if p.State == position.StateCancelled || p.State == position.StateExpired {
				p.State = position.StateValid // the money arrived: the payment decides the state
			}
			p.State = p.SettledState()
			if err := d.write(ctx, tx, s.id, s.Version, p, s.hash); err != nil {
				return nil, err
			}
		}
	}

	r.CreatedAt = now.UTC()
	var positionID any
	if r.PositionID != 0 {
		positionID = r.PositionID
	}
	err = d.queryRow(ctx, tx, `INSERT INTO pagopa_receipts (id_pa, receipt_id, fiscal_code, notice_number,
		creditor_reference_id, amount, outcome, id_psp, payment_date_time, station, primitive, position_id, anomalies, raw, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.IDPA, r.ReceiptID, r.FiscalCode, r.NoticeNumber, r.CreditorReferenceID, r.Amount, r.Outcome, r.IDPSP,
		r.PaymentDateTime, r.Station, r.Primitive, positionID, strings.Join(r.Anomalies, ","), r.Raw, r.CreatedAt.UnixMicro()).Scan(&r.ID)
	if err != nil {
		return nil, fmt.Errorf("posdb: record receipt %s: %w", r.ReceiptID, err)
	}
	if d.onReceipt != nil {
		if err := d.onReceipt(ctx, tx, res); err != nil {
			return nil, fmt.Errorf("posdb: receipt %s: hook: %w", r.ReceiptID, err)
		}
	}
	return res, nil
}

func (d *DB) lockByNotice(ctx context.Context, tx store.Tx, ente, notice string) (*stored, error) {
	var iupd string
	err := d.queryRow(ctx, tx, `SELECT p.iupd FROM pagopa_notices n JOIN pagopa_positions p ON p.id = n.position_id
		WHERE n.ente = ? AND n.notice_number = ?`, ente, notice).Scan(&iupd)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("posdb: %s/avviso %s: %w", ente, notice, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("posdb: read %s/avviso %s: %w", ente, notice, err)
	}
	return d.getTx(ctx, tx, ente, iupd, true)
}

const receiptColumns = `id, id_pa, receipt_id, fiscal_code, notice_number, creditor_reference_id, amount, outcome, id_psp,
	payment_date_time, station, primitive, COALESCE(position_id, 0), anomalies, raw, created_at`

func scanReceipt(sc interface{ Scan(...any) error }) (*Receipt, error) {
	var r Receipt
	var anomalies string
	var created int64
	if err := sc.Scan(&r.ID, &r.IDPA, &r.ReceiptID, &r.FiscalCode, &r.NoticeNumber, &r.CreditorReferenceID, &r.Amount,
		&r.Outcome, &r.IDPSP, &r.PaymentDateTime, &r.Station, &r.Primitive, &r.PositionID, &anomalies, &r.Raw, &created); err != nil {
		return nil, err
	}
	if anomalies != "" {
		r.Anomalies = strings.Split(anomalies, ",")
	}
	r.CreatedAt = time.UnixMicro(created).UTC()
	return &r, nil
}

func (d *DB) findReceipt(ctx context.Context, tx store.Tx, idPA, receiptID string) (*Receipt, error) {
	r, err := scanReceipt(d.queryRow(ctx, tx, `SELECT `+receiptColumns+
		` FROM pagopa_receipts WHERE id_pa = ? AND receipt_id = ?`, idPA, receiptID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("posdb: read receipt %s: %w", receiptID, err)
	}
	return r, nil
}

// ReceiptFilter selects receipts.
type ReceiptFilter struct {
	IDPA          string // empty: every ente
	NoticeNumber  string
	AnomaliesOnly bool
	After         int64
	Limit         int // default 100
}

// Receipts lists recorded receipts in arrival order.
func (d *DB) Receipts(ctx context.Context, f ReceiptFilter) ([]*Receipt, error) {
	q := `SELECT ` + receiptColumns + ` FROM pagopa_receipts WHERE id > ?`
	args := []any{f.After}
	if f.IDPA != "" {
		q += ` AND id_pa = ?`
		args = append(args, f.IDPA)
	}
	if f.NoticeNumber != "" {
		q += ` AND notice_number = ?`
		args = append(args, f.NoticeNumber)
	}
	if f.AnomaliesOnly {
		q += ` AND anomalies <> ''`
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, f.Limit)
	rows, err := d.st.DB().QueryContext(ctx, d.st.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("posdb: list receipts: %w", err)
	}
	defer rows.Close()
	var out []*Receipt
	for rows.Next() {
		r, err := scanReceipt(rows)
		if err != nil {
			return nil, fmt.Errorf("posdb: list receipts: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Quarantined is a request the hub refused and kept for an operator.
type Quarantined struct {
	ID        int64
	Operation string // e.g. paSendRTV2
	IDPA      string
	IDBroker  string
	IDStation string
	FaultCode string // what the Node was answered
	Reason    string
	Raw       []byte
	CreatedAt time.Time
}

// Quarantine keeps a refused request. It runs in its own transaction: the refusal's
// record must survive whatever else failed.
func (d *DB) Quarantine(ctx context.Context, q *Quarantined) error {
	q.CreatedAt = d.now().UTC()
	err := d.st.DB().QueryRowContext(ctx, d.st.Rebind(`INSERT INTO pagopa_quarantine (operation, id_pa, id_broker, id_station,
		fault_code, reason, raw, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		q.Operation, q.IDPA, q.IDBroker, q.IDStation, q.FaultCode, q.Reason, q.Raw, q.CreatedAt.UnixMicro()).Scan(&q.ID)
	if err != nil {
		return fmt.Errorf("posdb: quarantine %s from %s: %w", q.Operation, q.IDPA, err)
	}
	return nil
}

// QuarantineList returns quarantined requests in arrival order.
func (d *DB) QuarantineList(ctx context.Context, after int64, limit int) ([]*Quarantined, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := d.st.DB().QueryContext(ctx, d.st.Rebind(fmt.Sprintf(`SELECT id, operation, id_pa, id_broker, id_station, fault_code,
		reason, raw, created_at FROM pagopa_quarantine WHERE id > ? ORDER BY id LIMIT %d`, limit)), after)
	if err != nil {
		return nil, fmt.Errorf("posdb: list quarantine: %w", err)
	}
	defer rows.Close()
	var out []*Quarantined
	for rows.Next() {
		var q Quarantined
		var created int64
		if err := rows.Scan(&q.ID, &q.Operation, &q.IDPA, &q.IDBroker, &q.IDStation, &q.FaultCode, &q.Reason, &q.Raw, &created); err != nil {
			return nil, fmt.Errorf("posdb: list quarantine: %w", err)
		}
		q.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, &q)
	}
	return out, rows.Err()
}
