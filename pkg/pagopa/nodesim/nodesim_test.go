package nodesim_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/nodesim"
	"snodo/pkg/pagopa/paserver"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/pagopa/receiptmsg"
	"snodo/pkg/store"
)

// slowRT delays the answer (not the work) of the first n receipts: the hub records the
// receipt, the Node times out and sends it again.
type slowRT struct {
	next  http.Handler
	n     atomic.Int32
	delay time.Duration
}

type bufferedWriter struct {
	http.ResponseWriter
	buf    bytes.Buffer
	status int
}

func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferedWriter) WriteHeader(s int)           { b.status = s }

func (s *slowRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("SOAPAction"), "paSendRT") || s.n.Add(-1) < 0 {
		s.next.ServeHTTP(w, r)
		return
	}
	bw := &bufferedWriter{ResponseWriter: w, status: 200}
	s.next.ServeHTTP(bw, r)
	select {
	case <-time.After(s.delay):
	case <-r.Context().Done():
		return
	}
	w.WriteHeader(bw.status)
	w.Write(bw.buf.Bytes())
}

type env struct {
	st   store.Store
	db   *posdb.DB
	cfg  *pagopa.Config
	url  string
	slow *slowRT
}

func setup(t *testing.T, d store.Dialect) *env {
	t.Helper()
	cfg := posdbtest.Config()
	st := posdbtest.OpenStore(t, d, nil)
	db := posdb.New(st, posdb.Options{OnReceipt: receiptmsg.Hook(cfg, receiptmsg.Options{})})
	srv, err := paserver.New(cfg, db, paserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowRT{next: srv, delay: 400 * time.Millisecond}
	ts := httptest.NewServer(slow)
	t.Cleanup(ts.Close)
	return &env{st: st, db: db, cfg: cfg, url: ts.URL, slow: slow}
}

func (e *env) sim(t *testing.T, station string, version int) *nodesim.Sim {
	t.Helper()
	s, err := nodesim.New(nodesim.Config{HubURL: e.url, IDBrokerPA: "77777777777", IDStation: station, Version: version,
		SendRTTimeout: 200 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, SendRTAttempts: 4})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// receiptMessages counts the receipt messages (deliveries to the ente) of a notice.
func (e *env) receiptMessages(t *testing.T, idPA, notice string) int {
	t.Helper()
	ids, err := e.st.FindByKey(context.Background(), "pagopa:notice:"+idPA+":"+notice)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		m, err := e.st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == message.KindReceipt {
			jobs, _ := e.st.Jobs(context.Background(), id)
			if len(jobs) != 1 || jobs[0].Target != receiptmsg.Phase {
				t.Fatalf("receipt message %s has jobs %+v", id, jobs)
			}
			n++
		}
	}
	return n
}

func TestPaymentsEndToEnd(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, d)
			ente := e.cfg.Ente("01234567897")
			mk := func(iupd string, cents int64) string {
				return posdbtest.MustCreate(t, e.db, ente, posdbtest.Position(iupd, cents)).Options[0].NoticeNumber
			}
			cancelled := mk("CANC", 100)
			if _, err := e.db.Cancel(ctx, ente.FiscalCode, "CANC", 0); err != nil {
				t.Fatal(err)
			}
			exp := posdbtest.Position("EXP", 100)
			yesterday := position.Today(time.Now().AddDate(0, 0, -1))
			exp.ExpiryDate = &yesterday
			expired := posdbtest.MustCreate(t, e.db, ente, exp).Options[0].NoticeNumber
			payme := mk("PAY", 12345)
			sim := e.sim(t, "77777777777_01", 2)

			// Pay: the position is paid and one receipt goes to the ente.
			p := sim.Pay(ctx, ente.FiscalCode, payme, nodesim.PayOptions{})
			if !p.ReceiptAcknowledged || p.Fault != "" || p.Amount != "123.45" || len(p.Steps) != 3 {
				t.Fatalf("pay:\n%s", p.Summary())
			}
			pos, _ := e.db.Get(ctx, ente.FiscalCode, "PAY")
			if pos.State != position.StatePaid || pos.Options[0].ReceiptID != p.ReceiptID {
				t.Fatalf("position after payment: %s", pos.State)
			}
			if n := e.receiptMessages(t, ente.FiscalCode, payme); n != 1 {
				t.Fatalf("%d receipt deliveries, want 1", n)
			}

			tests := []struct {
				name, station, notice, fault string
			}{
				{"unknown", "77777777777_01", "301999999999999945", paserver.PaaPagamentoSconosciuto},
				{"expired", "77777777777_01", expired, paserver.PaaPagamentoScaduto},
				{"cancelled", "77777777777_01", cancelled, paserver.PaaPagamentoAnnullato},
				{"paid", "77777777777_01", payme, paserver.PaaPagamentoDuplicato},
				{"wrong station", "77777777777_02", mk("ST", 100), paserver.PaaStazioneIntErrata},
			}
			for _, tc := range tests {
				p := e.sim(t, tc.station, 2).Pay(ctx, ente.FiscalCode, tc.notice, nodesim.PayOptions{})
				if p.Fault != tc.fault || p.ReceiptAcknowledged {
					t.Errorf("%s: fault %q, want %q\n%s", tc.name, p.Fault, tc.fault, p.Summary())
				}
			}
			// The refused payments recorded nothing.
			rs, _ := e.db.Receipts(ctx, posdb.ReceiptFilter{IDPA: ente.FiscalCode})
			if len(rs) != 1 {
				t.Fatalf("%d receipts recorded, want 1", len(rs))
			}
		})
	}
}

// TestReceiptRetriesAndDuplicates: the hub records the receipt but its answer arrives
// after the Node's timeout; the Node sends it again, and once more on purpose. One
// payment, one delivery.
func TestReceiptRetriesAndDuplicates(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(map[int]string{1: "V1", 2: "V2"}[version], func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, store.SQLite)
			ente := e.cfg.Ente("01234567897")
			notice := posdbtest.MustCreate(t, e.db, ente, posdbtest.Position("RETRY", 5000)).Options[0].NoticeNumber
			e.slow.n.Store(1)
			p := e.sim(t, "77777777777_01", version).Pay(ctx, ente.FiscalCode, notice, nodesim.PayOptions{Duplicate: true, SkipVerify: true})
			if !p.ReceiptAcknowledged || p.Fault != "" {
				t.Fatalf("payment:\n%s", p.Summary())
			}
			var timeouts, oks int
			for _, s := range p.Steps {
				if strings.HasPrefix(s.Op, "paSendRT") {
					switch {
					case s.FaultCode == nodesim.PPTTimeout:
						timeouts++
					case s.Outcome == "OK":
						oks++
					}
				}
			}
			if timeouts != 1 || oks != 2 {
				t.Fatalf("receipt attempts: %d timeouts, %d OK\n%s", timeouts, oks, p.Summary())
			}
			rs, _ := e.db.Receipts(ctx, posdb.ReceiptFilter{IDPA: ente.FiscalCode})
			if len(rs) != 1 || len(rs[0].Anomalies) != 0 {
				t.Fatalf("receipts: %+v", rs)
			}
			if n := e.receiptMessages(t, ente.FiscalCode, notice); n != 1 {
				t.Fatalf("%d deliveries, want 1", n)
			}
			if pos, _ := e.db.Get(ctx, ente.FiscalCode, "RETRY"); pos.State != position.StatePaid {
				t.Fatal(pos.State)
			}
		})
	}
}

// TestConcurrentReceipts sends the same receipt from several goroutines at once: one
// payment, one delivery.
func TestConcurrentReceipts(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, d)
			ente := e.cfg.Ente("01234567897")
			notice := posdbtest.MustCreate(t, e.db, ente, posdbtest.Position("RACE", 700)).Options[0].NoticeNumber
			sim := e.sim(t, "77777777777_01", 2)
			g, st := sim.GetPayment(ctx, ente.FiscalCode, notice, "")
			if st.Outcome != "OK" {
				t.Fatal(st)
			}
			rt := sim.Receipt(ente.FiscalCode, notice, "tok-race", g.Data, time.Now())
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := *rt
					if steps := sim.SendRT(ctx, &r); steps[len(steps)-1].Outcome != "OK" {
						t.Errorf("concurrent receipt: %v", steps)
					}
				}()
			}
			wg.Wait()
			if n := e.receiptMessages(t, ente.FiscalCode, notice); n != 1 {
				t.Fatalf("%d deliveries, want 1", n)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	sim, err := nodesim.New(nodesim.Config{HubURL: url, IDBrokerPA: "1", IDStation: "1_01"})
	if err != nil {
		t.Fatal(err)
	}
	p := sim.Pay(context.Background(), "01234567897", "301000000000000143", nodesim.PayOptions{})
	if p.Fault != nodesim.PPTIrraggiungibile {
		t.Fatalf("\n%s", p.Summary())
	}
	// A server that is not a paForNode station: an error response.
	ts2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>hello</html>")) }))
	defer ts2.Close()
	sim2, _ := nodesim.New(nodesim.Config{HubURL: ts2.URL, IDBrokerPA: "1", IDStation: "1_01"})
	if p := sim2.Pay(context.Background(), "01234567897", "301000000000000143", nodesim.PayOptions{}); p.Fault != nodesim.PPTErroreResponse {
		t.Fatalf("\n%s", p.Summary())
	}
}
