package paserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"snodo/pkg/pagopa/pafornode"
	"snodo/pkg/pagopa/paserver"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/soap"
	"snodo/pkg/store"
)

// benchHub is a hub over SQLite holding n positions, and the verify requests of their
// notices.
func benchHub(b testing.TB, n int) (http.Handler, [][]byte, []byte) {
	db := posdbtest.Open(b, store.SQLite, posdb.Options{})
	cfg := posdbtest.Config()
	e := cfg.Ente("01234567897")
	srv, err := paserver.New(cfg, db, paserver.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var reqs [][]byte
	for i := 0; i < n; i++ {
		p := posdbtest.MustCreate(b, db, e, posdbtest.Position("B"+strconv.Itoa(i), int64(100+i)))
		_, body, err := soap.Marshal(soap.V11, &pafornode.VerifyRequest{XMLName: pafornode.Name("paVerifyPaymentNoticeReq"),
			Header: pafornode.Header{IDPA: e.FiscalCode, IDBrokerPA: cfg.BrokerID, IDStation: "77777777777_01"},
			QrCode: pafornode.QrCode{FiscalCode: e.FiscalCode, NoticeNumber: p.Options[0].NoticeNumber}}, false)
		if err != nil {
			b.Fatal(err)
		}
		reqs = append(reqs, body)
	}
	// A real answer, served as is by the bare baseline handler.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", bytes.NewReader(reqs[0]))
	r.Header.Set("SOAPAction", `"paVerifyPaymentNotice"`)
	srv.ServeHTTP(rec, r)
	if !bytes.Contains(rec.Body.Bytes(), []byte("<outcome>OK</outcome>")) {
		b.Fatalf("verify: %s", rec.Body.String())
	}
	return srv, reqs, rec.Body.Bytes()
}

// bare reads the request and returns a canned response: the HTTP and transport cost
// without the service.
func bare(canned []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", soap.ContentType11)
		w.Write(canned)
	})
}

func post(c *http.Client, url string, body []byte) error {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", soap.ContentType11)
	req.Header.Set("SOAPAction", `"paVerifyPaymentNotice"`)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func benchHTTP(b *testing.B, h http.Handler, reqs [][]byte) {
	ts := httptest.NewServer(h)
	defer ts.Close()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	var i int64
	var mu sync.Mutex
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i++
			body := reqs[i%int64(len(reqs))]
			mu.Unlock()
			if err := post(c, ts.URL, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerify: paVerifyPaymentNotice over real HTTP against 1,000 positions.
func BenchmarkVerify(b *testing.B) {
	h, reqs, _ := benchHub(b, 1000)
	benchHTTP(b, h, reqs)
}

// BenchmarkVerifyBare is the baseline: the same requests to a handler that answers a
// canned response.
func BenchmarkVerifyBare(b *testing.B) {
	_, reqs, canned := benchHub(b, 10)
	benchHTTP(b, bare(canned), reqs)
}

// TestVerifyRate sends paVerifyPaymentNotice at a fixed rate (open loop, 1,000 req/s by
// default) for a few seconds to the service and to the bare baseline, and reports
// latency percentiles. It runs only with SNODO_BENCH_VERIFY=<seconds> (see
// docs/benchmarks/pagopa.md).
func TestVerifyRate(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("SNODO_BENCH_VERIFY"))
	if secs <= 0 {
		t.Skip("set SNODO_BENCH_VERIFY=<seconds> to run")
	}
	rate := 1000
	if v, err := strconv.Atoi(os.Getenv("SNODO_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	h, reqs, canned := benchHub(t, 10000)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare(canned)}, {"paVerifyPaymentNotice", h}} {
		var srvMu sync.Mutex
		var srvLat []time.Duration
		inner := tc.h
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b := time.Now()
			inner.ServeHTTP(w, r)
			d := time.Since(b)
			srvMu.Lock()
			srvLat = append(srvLat, d)
			srvMu.Unlock()
		}))
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 7 * time.Second}
		// Warm up connections and caches.
		for i := 0; i < 200; i++ {
			post(c, ts.URL, reqs[i%len(reqs)])
		}
		total := rate * secs
		lat := make([]time.Duration, total)
		errs := 0
		var mu sync.Mutex
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
		interval := time.Second / time.Duration(rate)
		begin := time.Now()
		for i := 0; i < total; i++ {
			due := begin.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func(i int, due time.Time) {
				defer wg.Done()
				err := post(c, ts.URL, reqs[i%len(reqs)])
				// Latency from the scheduled send time: a stalled sender counts too.
				lat[i] = time.Since(due)
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
				}
			}(i, due)
		}
		wg.Wait()
		elapsed := time.Since(begin)
		cancel()
		_ = ctx
		ts.Close()
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		sort.Slice(srvLat, func(a, b int) bool { return srvLat[a] < srvLat[b] })
		srvP := func(p float64) time.Duration { return srvLat[int(float64(len(srvLat)-1)*p)] }
		pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
		t.Logf("%-22s %d req at %d/s: throughput %.0f/s, p50 %s, p90 %s, p99 %s, max %s, errors %d; in the handler p50 %s, p99 %s",
			tc.name, total, rate, float64(total)/elapsed.Seconds(), pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
			pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond), errs,
			srvP(0.50).Round(10*time.Microsecond), srvP(0.99).Round(10*time.Microsecond))
	}
}
