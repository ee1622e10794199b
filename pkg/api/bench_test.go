package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/message"
	"snodo/pkg/store"
)

// invoice10K is a 10 KB invoice: the official FPA01 sample padded with a comment that
// also makes each copy unique (the flow stores each distinct file once).
func invoice10K(base []byte, n int64) []byte {
	pad := 10<<10 - len(base) - 40
	var buf bytes.Buffer
	buf.Write(base)
	fmt.Fprintf(&buf, "\n<!-- %020d %s -->", n, bytes.Repeat([]byte("x"), pad))
	return buf.Bytes()
}

// benchSubmit posts distinct 10 KB invoices with parallelism clients over loopback HTTP
// and reports requests per second and latency percentiles.
func benchSubmit(b *testing.B, h http.Handler, parallelism int) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: parallelism, MaxConnsPerHost: parallelism}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := fixture(b, "IT01234567890_FPA01.xml")
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(parallelism)
	b.ResetTimer()
	cpu0 := cpuTime()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			n := seq.Add(1)
			body := invoice10K(base, n)
			req, _ := http.NewRequest("POST", srv.URL+fmt.Sprintf("/api/v1/fatture-attive?nome_file=IT01234567890_%05d.xml", n%100000), bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("Authorization", bearer(tokenA))
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(t0))
			if resp.StatusCode != http.StatusAccepted {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(begin)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/req")
}

// cpuTime is the process's CPU time (user and system), client and server together: the
// figure that stays stable when other work loads the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nullFlow accepts every invoice without storing it: the API's own cost.
type nullFlow struct{}

func (nullFlow) SubmitInvoice(context.Context, string, string, []byte, string) (api.SubmitResult, error) {
	return api.SubmitResult{MessageID: message.NewID()}, nil
}

// BenchmarkSubmitREST compares a REST submission of a 10 KB invoice through the API into
// a SQLite store with a bare handler that only reads the body and answers (the limit of
// HTTP on this machine) and with the API over a flow that stores nothing (the API's own
// cost: authentication, body reading, checks, JSON answer). RunParallel runs
// par × GOMAXPROCS clients.
func BenchmarkSubmitREST(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"codice":"FA00"}`))
	})
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("bare/par=%d", par), func(b *testing.B) { benchSubmit(b, bare, par) })
		b.Run(fmt.Sprintf("api-noflow/par=%d", par), func(b *testing.B) {
			e := newEnv(b, nil)
			a, err := api.New(api.Config{Store: e.st, Routes: e.routes, Active: nullFlow{}})
			if err != nil {
				b.Fatal(err)
			}
			benchSubmit(b, a.Handler(), par)
		})
		b.Run(fmt.Sprintf("api-sqlite/par=%d", par), func(b *testing.B) {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "store"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			e := newEnv(b, nil)
			a, err := api.New(api.Config{Store: st, Routes: e.routes, Active: &activeFlow{st: st}, Passive: &passiveFlow{st: st}})
			if err != nil {
				b.Fatal(err)
			}
			benchSubmit(b, a.Handler(), par)
		})
	}
}
