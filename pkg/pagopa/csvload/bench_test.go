package csvload

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"snodo/pkg/pagopa/csvparse"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/store"
)

// GovPayFile streams a GovPay file of n good rows (unique idPendenza, one voce each)
// without holding it in memory.
func GovPayFile(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := newBufWriter(pw)
		w.WriteString("idA2A,idPendenza,idDominio,numeroAvviso,tipoPendenza,causale,importo,dataValidita,dataScadenza,tipoSoggettoPagatore," +
			"identificativoPagatore,anagraficaPagatore,emailPagatore,idVoce1,importoVoce1,descrizioneVoce1,ibanAccreditoVoce1,tipoContabilitaVoce1,codiceContabilitaVoce1\n")
		for i := 0; i < n; i++ {
			id := "BENCH-" + strconv.Itoa(i)
			cents := 100 + i%100000
			amt := strconv.Itoa(cents/100) + "." + fmt.Sprintf("%02d", cents%100)
			w.WriteString("A2A," + id + ",01234567897,,TARI,TARI 2026 rata unica " + id + "," + amt + ",2026-12-31,2027-06-30,F,RSSMRA30A01H501I,Mario Rossi," +
				"mario.rossi@example.it,1," + amt + ",TARI 2026,IT60X0542811101000000123456,ALTRO,0101002IM\n")
		}
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

type bufWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newBufWriter(w io.Writer) *bufWriter { return &bufWriter{w: w, buf: make([]byte, 0, 64<<10)} }

func (b *bufWriter) WriteString(s string) {
	if len(b.buf)+len(s) > cap(b.buf) {
		b.Flush()
	}
	b.buf = append(b.buf, s...)
}

func (b *bufWriter) Flush() error {
	if b.err == nil && len(b.buf) > 0 {
		_, b.err = b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
	return b.err
}

// BenchmarkParse is the baseline: reading and parsing the rows, no store.
func BenchmarkParse(b *testing.B) {
	e := ente()
	sc, err := csvparse.NewScanner(GovPayFile(b.N), e, csvparse.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	n := 0
	for {
		r, err := sc.Next()
		if err != nil {
			b.Fatal(err)
		}
		if r == nil {
			break
		}
		if r.Err != "" {
			b.Fatal(r.Err)
		}
		n++
	}
	if n != b.N {
		b.Fatalf("%d rows", n)
	}
}

// BenchmarkLoadSQLite loads b.N rows into a SQLite store: parse, validate, number,
// store, outcome.
func BenchmarkLoadSQLite(b *testing.B) {
	db := posdbtest.Open(b, store.SQLite, posdb.Options{})
	b.ResetTimer()
	sum, err := Load(context.Background(), db, ente(), GovPayFile(b.N), io.Discard, Options{})
	if err != nil || sum.Created != b.N {
		b.Fatalf("%+v %v", sum, err)
	}
}

// TestLoadMillion loads a million generated rows into SQLite and reports time and peak
// memory; it runs only with SNODO_BENCH_1M=1 (see docs/benchmarks/pagopa.md).
func TestLoadMillion(t *testing.T) {
	if os.Getenv("SNODO_BENCH_1M") == "" {
		t.Skip("set SNODO_BENCH_1M=1 to load 1M rows")
	}
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SNODO_BENCH_1M")); err == nil && v > 1 {
		n = v
	}
	db := posdbtest.Open(t, store.SQLite, posdb.Options{})
	begin := time.Now()
	var peak uint64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak {
					peak = m.HeapInuse
				}
			}
		}
	}()
	sum, err := Load(context.Background(), db, ente(), GovPayFile(n), io.Discard, Options{})
	close(stop)
	if err != nil || sum.Created != n {
		t.Fatalf("%+v %v", sum, err)
	}
	el := time.Since(begin)
	t.Logf("%d rows in %s (%.0f rows/s), peak Go heap in use %.1f MB, VmHWM %s", n, el.Round(time.Millisecond),
		float64(n)/el.Seconds(), float64(peak)/(1<<20), vmHWM())
}

func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}
