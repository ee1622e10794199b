package posdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"snodo/pkg/pagopa/iuv"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) { fn(t, d) })
	}
}

func TestCreateGetUpdateCancel(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := posdbtest.Open(t, d, posdb.Options{})
		e := posdbtest.Config().Ente("01234567897")
		p := posdbtest.MustCreate(t, db, e, posdbtest.Position("P1", 1500))
		o := p.Options[0]
		n, err := iuv.Parse(o.NoticeNumber)
		if err != nil || n.AuxDigit != 3 || n.Code != 1 || n.IUV != o.IUV || p.Version != 1 || p.CompanyName != e.Name {
			t.Fatalf("created %+v (%v)", p, err)
		}
		got, err := db.Get(ctx, e.FiscalCode, "P1")
		if err != nil || got.Options[0].NoticeNumber != o.NoticeNumber || got.State != position.StateValid || got.Amount() != 1500 {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if byN, err := db.ByNotice(ctx, e.FiscalCode, o.NoticeNumber); err != nil || byN.IUPD != "P1" {
			t.Fatalf("ByNotice = %v, %v", byN, err)
		}
		if _, err := db.ByNotice(ctx, "77777777777", o.NoticeNumber); !errors.Is(err, posdb.ErrNotFound) {
			t.Fatalf("other ente sees the notice: %v", err)
		}

		// Same data again: unchanged. Different data under the same IUPD: refused.
		if act, err := db.Create(ctx, e, posdbtest.Position("P1", 1500)); err != nil || act != posdb.Unchanged {
			t.Fatalf("re-create = %v, %v", act, err)
		}
		if _, err := db.Create(ctx, e, posdbtest.Position("P1", 1600)); !errors.Is(err, posdb.ErrExists) {
			t.Fatalf("create different = %v", err)
		}

		// Update keeps the notice number of the option, bumps the version.
		upd := posdbtest.Position("P1", 2500)
		upd.Version = 1
		if err := db.Update(ctx, e, upd); err != nil {
			t.Fatal(err)
		}
		if upd.Version != 2 || upd.Options[0].NoticeNumber != o.NoticeNumber || upd.Amount() != 2500 {
			t.Fatalf("updated %+v", upd)
		}
		stale := posdbtest.Position("P1", 3500)
		stale.Version = 1
		if err := db.Update(ctx, e, stale); !errors.Is(err, posdb.ErrConflict) {
			t.Fatalf("stale update = %v", err)
		}
		if _, err := db.Cancel(ctx, e.FiscalCode, "P1", 1); !errors.Is(err, posdb.ErrConflict) {
			t.Fatalf("stale cancel = %v", err)
		}
		c, err := db.Cancel(ctx, e.FiscalCode, "P1", 2)
		if err != nil || c.State != position.StateCancelled || c.Version != 3 {
			t.Fatalf("cancel = %+v, %v", c, err)
		}
		again := posdbtest.Position("P1", 3500)
		again.Version = 3
		if err := db.Update(ctx, e, again); !errors.Is(err, posdb.ErrNotModifiable) {
			t.Fatalf("update cancelled = %v", err)
		}
		if _, err := db.Get(ctx, e.FiscalCode, "nope"); !errors.Is(err, posdb.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func TestGivenNoticeNumbers(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := posdbtest.Open(t, d, posdb.Options{})
		e := posdbtest.Config().Ente("01234567897")
		first, _ := e.Scheme().Generate(1)
		second, _ := e.Scheme().Generate(2)
		// A loaded position takes IUV base 2 of the ente's own scheme...
		p := posdbtest.Position("GIVEN", 100)
		p.Options[0].NoticeNumber = second.Number
		posdbtest.MustCreate(t, db, e, p)
		if p.Options[0].IUV != second.IUV {
			t.Fatal(p.Options[0].IUV)
		}
		// ...so generation uses base 1 then skips 2.
		a := posdbtest.MustCreate(t, db, e, posdbtest.Position("A", 100))
		b := posdbtest.MustCreate(t, db, e, posdbtest.Position("B", 100))
		if a.Options[0].NoticeNumber != first.Number || b.Options[0].NoticeNumber == second.Number {
			t.Fatalf("generated %s, %s", a.Options[0].NoticeNumber, b.Options[0].NoticeNumber)
		}
		dup := posdbtest.Position("DUP", 100)
		dup.Options[0].NoticeNumber = second.Number
		if _, err := db.Create(ctx, e, dup); !errors.Is(err, posdb.ErrNoticeTaken) {
			t.Fatalf("reused notice = %v", err)
		}
		bad := posdbtest.Position("BAD", 100)
		bad.Options[0].NoticeNumber = "301000000000000199"
		var ve *position.ValidationError
		if _, err := db.Create(ctx, e, bad); !errors.As(err, &ve) {
			t.Fatalf("bad check digits = %v", err)
		}
	})
}

// TestConcurrentIUV creates positions from several goroutines and two separate store
// handles on the same database (two hub instances): every notice number is distinct.
func TestConcurrentIUV(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		st1, st2 := posdbtest.OpenPair(t, d)
		dbs := []*posdb.DB{posdb.New(st1, posdb.Options{}), posdb.New(st2, posdb.Options{})}
		e := posdbtest.Config().Ente("01234567897")
		const workers, each = 6, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if _, err := dbs[w%2].Create(ctx, e, posdbtest.Position(fmt.Sprintf("W%d-%d", w, i), 100)); err != nil {
						errs <- err
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		var after int64
		for {
			page, next, err := dbs[0].List(ctx, posdb.Filter{Ente: e.FiscalCode, After: after, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page {
				n := p.Options[0].NoticeNumber
				if _, err := iuv.Parse(n); err != nil || seen[n] {
					t.Fatalf("notice %s: duplicate=%v err=%v", n, seen[n], err)
				}
				seen[n] = true
			}
			if next == 0 {
				break
			}
			after = next
		}
		if len(seen) != workers*each {
			t.Fatalf("%d distinct notices, want %d", len(seen), workers*each)
		}
	})
}

func TestReceipts(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
		var hooked []string
		failHook := false
		db := posdbtest.Open(t, d, posdb.Options{Now: clk.now, OnReceipt: func(ctx context.Context, tx store.Tx, res *posdb.RecordResult) error {
			if failHook {
				return errors.New("outbox down")
			}
			hooked = append(hooked, res.Receipt.ReceiptID)
			return nil
		}})
		e := posdbtest.Config().Ente("01234567897")
		p := posdbtest.MustCreate(t, db, e, posdbtest.Position("R1", 1000))
		o := p.Options[0]
		rc := func(id string, amount int64) *posdb.Receipt {
			return &posdb.Receipt{IDPA: e.FiscalCode, Station: "77777777777_01", ReceiptID: id, FiscalCode: e.FiscalCode,
				NoticeNumber: o.NoticeNumber, CreditorReferenceID: o.IUV, Amount: amount, TransfersAmount: amount, Outcome: "OK",
				IDPSP: "PSP1", Primitive: "paSendRTV2", Raw: []byte("<receipt/>")}
		}

		// A failing hook rolls the whole receipt back.
		failHook = true
		if _, err := db.RecordReceipt(ctx, rc("tok-1", 1000)); err == nil {
			t.Fatal("hook failure ignored")
		}
		if got, _ := db.Get(ctx, e.FiscalCode, "R1"); got.State != position.StateValid {
			t.Fatalf("state after rolled-back receipt: %s", got.State)
		}
		failHook = false

		res, err := db.RecordReceipt(ctx, rc("tok-1", 1000))
		if err != nil || res.Duplicate || len(res.Receipt.Anomalies) != 0 || res.Position.State != position.StatePaid {
			t.Fatalf("first receipt: %+v, %v", res, err)
		}
		res, err = db.RecordReceipt(ctx, rc("tok-1", 1000))
		if err != nil || !res.Duplicate {
			t.Fatalf("same receipt again: %+v, %v", res, err)
		}
		if _, err := db.RecordReceipt(ctx, rc("tok-1", 999)); !errors.Is(err, posdb.ErrReceiptConflict) {
			t.Fatalf("conflicting receipt: %v", err)
		}
		// Another PSP collected it again: recorded, flagged, the position stays paid.
		res, err = db.RecordReceipt(ctx, rc("tok-2", 1000))
		if err != nil || res.Duplicate || !has(res.Receipt.Anomalies, posdb.AnomalyAlreadyPaid) {
			t.Fatalf("double payment: %+v, %v", res, err)
		}
		got, _ := db.Get(ctx, e.FiscalCode, "R1")
		if got.State != position.StatePaid || got.Options[0].ReceiptID != "tok-1" {
			t.Fatalf("position after double payment: %+v", got)
		}
		// Unknown notice: kept, flagged.
		unk := rc("tok-3", 500)
		unk.NoticeNumber = "399999999999999903"
		res, err = db.RecordReceipt(ctx, unk)
		if err != nil || !has(res.Receipt.Anomalies, posdb.AnomalyUnknownNotice) || res.Position != nil {
			t.Fatalf("unknown notice: %+v, %v", res, err)
		}
		if fmt.Sprint(hooked) != "[tok-1 tok-2 tok-3]" {
			t.Fatalf("hook ran for %v", hooked)
		}
		list, err := db.Receipts(ctx, posdb.ReceiptFilter{IDPA: e.FiscalCode, AnomaliesOnly: true})
		if err != nil || len(list) != 2 || string(list[0].Raw) != "<receipt/>" {
			t.Fatalf("anomalous receipts: %d, %v", len(list), err)
		}

		// Paying a cancelled position: the payment wins, flagged.
		c := posdbtest.MustCreate(t, db, e, posdbtest.Position("C1", 700))
		if _, err := db.Cancel(ctx, e.FiscalCode, "C1", 0); err != nil {
			t.Fatal(err)
		}
		r := rc("tok-4", 700)
		r.NoticeNumber, r.CreditorReferenceID = c.Options[0].NoticeNumber, "wrong"
		res, err = db.RecordReceipt(ctx, r)
		if err != nil || !has(res.Receipt.Anomalies, posdb.AnomalyCancelled) || !has(res.Receipt.Anomalies, posdb.AnomalyIUV) || res.Position.State != position.StatePaid {
			t.Fatalf("cancelled then paid: %+v, %v", res, err)
		}

		// Quarantine keeps refused requests.
		q := &posdb.Quarantined{Operation: "paSendRTV2", IDPA: "99999999999", FaultCode: "PAA_ID_DOMINIO_ERRATO", Reason: "x", Raw: []byte("<x/>")}
		if err := db.Quarantine(ctx, q); err != nil || q.ID == 0 {
			t.Fatal(err)
		}
		ql, err := db.QuarantineList(ctx, 0, 10)
		if err != nil || len(ql) != 1 || ql[0].FaultCode != "PAA_ID_DOMINIO_ERRATO" || string(ql[0].Raw) != "<x/>" {
			t.Fatalf("quarantine list: %+v, %v", ql, err)
		}
	})
}

func TestInstalmentsAndExpiry(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
		db := posdbtest.Open(t, d, posdb.Options{Now: clk.now})
		e := posdbtest.Config().Ente("01234567897")
		p := posdbtest.Position("RATE", 3000)
		single := p.Options[0]
		r1, r2 := single, single
		r1.Instalment, r1.Amount = 1, 1500
		r1.Transfers = []position.Transfer{{Amount: 1500, IBAN: e.IBAN, Remittance: "rata 1", Category: "9/X"}}
		r2.Instalment, r2.Amount = 2, 1500
		r2.Transfers = []position.Transfer{{Amount: 1500, IBAN: e.IBAN, Remittance: "rata 2", Category: "9/X"}}
		p.Options = []position.Option{single, r1, r2}
		exp := position.NewDate(2026, 12, 31)
		p.ExpiryDate = &exp
		posdbtest.MustCreate(t, db, e, p)
		pay := func(i int, tok string) *posdb.RecordResult {
			o := p.Options[i]
			res, err := db.RecordReceipt(ctx, &posdb.Receipt{IDPA: e.FiscalCode, ReceiptID: tok, FiscalCode: e.FiscalCode,
				NoticeNumber: o.NoticeNumber, CreditorReferenceID: o.IUV, Amount: o.Amount, TransfersAmount: o.Amount, Outcome: "OK", Primitive: "paSendRT", Raw: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		if res := pay(1, "i1"); res.Position.State != position.StatePartiallyPaid {
			t.Fatal(res.Position.State)
		}
		list, _, err := db.List(ctx, posdb.Filter{Ente: e.FiscalCode, State: position.StatePartiallyPaid})
		if err != nil || len(list) != 1 {
			t.Fatalf("partially paid list: %d %v", len(list), err)
		}
		// The year ends: the remaining instalment is expired.
		clk.set(time.Date(2027, 1, 2, 10, 0, 0, 0, time.UTC))
		list, _, _ = db.List(ctx, posdb.Filter{Ente: e.FiscalCode, State: position.StateExpired})
		if len(list) != 1 {
			t.Fatalf("expired list: %d", len(list))
		}
		if list[0].EffectiveState(clk.now()) != position.StateExpired {
			t.Fatal(list[0].EffectiveState(clk.now()))
		}
		res := pay(2, "i2")
		if !has(res.Receipt.Anomalies, posdb.AnomalyExpired) || res.Position.State != position.StatePaid {
			t.Fatalf("late instalment: %+v %s", res.Receipt.Anomalies, res.Position.State)
		}
	})
}

func TestSavepoint(t *testing.T) {
	each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		db := posdbtest.Open(t, d, posdb.Options{})
		e := posdbtest.Config().Ente("01234567897")
		err := db.Store().WithTx(ctx, func(tx store.Tx) error {
			for i, cents := range []int64{100, 0, 300} { // the middle row is invalid
				p := posdbtest.Position(fmt.Sprintf("S%d", i), cents)
				err := db.Savepoint(ctx, tx, func() error {
					_, err := db.PutTx(ctx, tx, e, p, posdb.InsertOnly)
					return err
				})
				if (err != nil) != (cents == 0) {
					return fmt.Errorf("row %d: %v", i, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		list, _, _ := db.List(ctx, posdb.Filter{Ente: e.FiscalCode})
		if len(list) != 2 {
			t.Fatalf("%d positions, want 2", len(list))
		}
	})
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
