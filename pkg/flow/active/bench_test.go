package active_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/flow/active"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/sdi/sim"
)

// benchTiming makes the simulated SdI answer at once: RC right after the file, and
// nothing more (DDDDDD: consegna, then a DT an hour later).
var benchTiming = sim.Timing{Notify: time.Microsecond, EC: time.Hour, AT: time.Hour, DT: time.Hour, Retry: 20 * time.Millisecond}

const benchWorkers = 8

// BenchmarkActiveCycle measures invoices per second from the submission to the RC
// delivered to the ente, through the hub on SQLite, beside a baseline without the hub,
// interleaved in rounds so both see the same machine load.
//
// Hub: submit (the API entry point), checks (XSD and SdI content checks), naming,
// journal and queue, SdIRiceviFile over mutual TLS to the simulator, TrasmissioneFatture,
// correlation, the receipt and the RC written to the ente's folder (fsync, rename).
//
// Baseline: the same files, already named, sent by a plain sdicoop client to an
// identical simulator over the same mutual TLS, whose RC goes to a bare
// TrasmissioneFatture that writes it to a folder (fsync, rename). What the hub adds is
// its checks, its journal and queue, and the relay.
func BenchmarkActiveCycle(b *testing.B) {
	e := newEnv(b, envOptions{routes: map[string]string{"a": enteRoute("a", pivaA, "UFA000", "")}, timing: benchTiming})
	out := e.data("a", "out")
	ctx := context.Background()
	mod := e.module()
	var seq atomic.Int64
	hubRound := func(n int) time.Duration {
		start := time.Now()
		parallel(n, func(int) error {
			k := seq.Add(1)
			r, err := mod.Submit(ctx, active.Submission{Ente: "a", NomeFile: fmt.Sprintf("bench-%d.xml", k),
				File: invoice(pivaA, "DDDDDD", fmt.Sprintf("H%d", k))})
			if err == nil && r.Codice != active.FA00 {
				err = fmt.Errorf("receipt %+v", r)
			}
			return err
		}, b)
		waitCount(b, out, "_RC_", n)
		d := time.Since(start)
		clearDir(out)
		return d
	}
	bare := newBare(b)
	bareRound := func(n int) time.Duration {
		start := time.Now()
		parallel(n, func(int) error { return bare.send(ctx) }, b)
		waitCount(b, bare.out, "_RC_", n)
		d := time.Since(start)
		clearDir(bare.out)
		return d
	}
	hubRound(20) // warm up: schema, connections, prepared statements
	bareRound(20)
	const rounds = 5
	per := max(b.N/rounds, 1)
	var hubTime, bareTime time.Duration
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		hubTime += hubRound(per)
		bareTime += bareRound(per)
	}
	b.StopTimer()
	n := float64(per * rounds)
	hubRate, bareRate := n/hubTime.Seconds(), n/bareTime.Seconds()
	b.ReportMetric(hubRate, "invoices/s")
	b.ReportMetric(bareRate, "baseline-invoices/s")
	b.ReportMetric(hubRate/bareRate, "ratio")
	b.ReportMetric(0, "ns/op")
}

// parallel runs fn n times on benchWorkers goroutines.
func parallel(n int, fn func(i int) error, b *testing.B) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < benchWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := fn(int(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// bare is the baseline: a simulator and a bare transmitter, no hub.
type bare struct {
	out    string
	client *sdicoop.Client
	seq    atomic.Int64
}

func newBare(b *testing.B) *bare {
	dir := b.TempDir()
	p := newPKI(b, dir)
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	tf, err := sdicoop.NewTrasmissioneFatture(sdicoop.ServerConfig{Inbound: bareInbound{dir: out}})
	if err != nil {
		b.Fatal(err)
	}
	hubSrv := httptest.NewUnstartedServer(tf)
	hubSrv.TLS = &tls.Config{Certificates: []tls.Certificate{mustIssued(b, p, "hub")}, ClientCAs: p.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	hubSrv.StartTLS()
	b.Cleanup(hubSrv.Close)
	s, err := sim.New(sim.Config{StateDir: filepath.Join(dir, "sim"), TrasmissioneURL: hubSrv.URL, HTTP: p.sdiHTTP, Timing: benchTiming})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	simSrv := httptest.NewUnstartedServer(s.Handler())
	simSrv.TLS = &tls.Config{Certificates: []tls.Certificate{p.sdiServer.TLS()}, ClientCAs: p.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	simSrv.StartTLS()
	b.Cleanup(simSrv.Close)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers,
		TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool(), Certificates: []tls.Certificate{mustIssued(b, p, "client")}}}}
	client, err := sdicoop.NewClient(sdicoop.ClientConfig{HTTP: hc, RiceviFileURL: simSrv.URL + "/SdIRiceviFile"})
	if err != nil {
		b.Fatal(err)
	}
	return &bare{out: out, client: client}
}

func (x *bare) send(ctx context.Context) error {
	k := x.seq.Add(1)
	prog, _ := filename.Progressivo(k)
	_, err := x.client.RiceviFile(ctx, "IT"+pivaA+"_"+prog+".xml", invoice(pivaA, "DDDDDD", "X"+prog))
	return err
}

// bareInbound writes each notification to a folder: the least a transmitter does.
type bareInbound struct{ dir string }

func (bareInbound) ReceiveInvoice(context.Context, sdicoop.InvoiceDelivery) error { return nil }
func (i bareInbound) ReceiveNotification(_ context.Context, n sdicoop.NotificationDelivery) error {
	tmp := filepath.Join(i.dir, "."+n.NomeFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(n.File); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	return os.Rename(tmp, filepath.Join(i.dir, n.NomeFile))
}

func mustIssued(b *testing.B, p *pki, who string) tls.Certificate {
	b.Helper()
	certFile, keyFile := p.hubCert, p.hubKey
	if who == "client" {
		certFile, keyFile = p.hubClient, p.hubClientKey
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	return cert
}

// waitCount waits until dir holds n files whose names contain part.
func waitCount(tb testing.TB, dir, part string, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		entries, _ := os.ReadDir(dir)
		c := 0
		for _, en := range entries {
			if strings.Contains(en.Name(), part) && !strings.HasPrefix(en.Name(), ".") {
				c++
			}
		}
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d files %s in %s", c, n, part, dir)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		os.Remove(filepath.Join(dir, en.Name()))
	}
}
