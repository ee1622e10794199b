package passive_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// benchWorkers is engine.workers in the benchmark: jobs wait mostly on commits and on
// the ente's server, so more workers than cores keep both busy.
const benchWorkers = 32

// benchClients is how many SdI connections deliver at once.
const benchClients = 16

// deliverAll sends n invoices with RiceviFatture from benchClients goroutines, each
// with its own IdentificativoSdI and file name, and fails on any error.
func deliverAll(b *testing.B, url string, hc *http.Client, first int64, n int) {
	b.Helper()
	client := sdicoop.NewSdIClient(hc, false, nil)
	var next atomic.Int64
	next.Store(first)
	last := first + int64(n)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= last {
					return
				}
				id := sdi.FromInt64(5000000000 + i)
				name := "IT01234567890_" + strings.ToUpper(strconv.FormatInt(i, 36)) + ".xml"
				mt, _ := sdi.Marshal(&sdi.MetadatiInvioFile{IdentificativoSdI: id, NomeFile: name, CodiceDestinatario: "UFA000",
					Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
				err := client.RiceviFatture(context.Background(), url, &sdicoop.FileSdIConMetadati{IdentificativoSdI: id, NomeFile: name,
					File: benchInvoice, NomeFileMetadati: sdi.NomeFileMessaggio(name, sdi.MT, 1), Metadati: mt})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

var benchInvoice = invoiceFor("UFA000", "B1")

// BenchmarkRiceviFattureBaseline is the bare RicezioneFatture handler over the same
// mutual TLS with an Inbound that does nothing: the cost of SOAP, MTOM and TLS alone.
func BenchmarkRiceviFattureBaseline(b *testing.B) {
	dir := b.TempDir()
	p := newPKI(b, dir)
	h, err := sdicoop.NewRicezioneFatture(sdicoop.ServerConfig{Inbound: noopInbound{}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sdi/RicezioneFatture", h)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{mustServerTB(b, p)}, ClientCAs: p.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()
	b.ResetTimer()
	start := time.Now()
	deliverAll(b, srv.URL+"/sdi/RicezioneFatture", p.sdiHTTP, 0, b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fatture/s")
}

type noopInbound struct{}

func (noopInbound) ReceiveInvoice(context.Context, sdicoop.InvoiceDelivery) error { return nil }
func (noopInbound) ReceiveNotification(context.Context, sdicoop.NotificationDelivery) error {
	return nil
}

// BenchmarkPassiveCycle: invoices through the whole passive cycle on SQLite — received
// by RiceviFatture over mutual TLS, stored, checked (XSD, SdI checks, the ente's rules),
// delivered with their MT (single delivery) — timed until the last file is at the ente.
func BenchmarkPassiveCycle(b *testing.B) {
	// Sender connections for the engine workers (ftp default: 2).
	settings := map[string]string{"ftp": "{max_conns: 16}"}
	for _, kind := range []string{"ftp", "fs"} {
		b.Run(kind+" out", func(b *testing.B) {
			s := newSite(b, kind)
			if kind == "ftp" {
				// The ente's FTP server is another machine: its disk is not the hub's.
				// Here it runs in-process, so it writes to memory (tmpfs) to keep its
				// file creations from weighing on the hub's disk and CPU.
				root, err := os.MkdirTemp("/dev/shm", "snodo-bench-ftp-")
				if err != nil {
					b.Skip("no /dev/shm: ", err)
				}
				b.Cleanup(func() { os.RemoveAll(root) })
				s = site{kind: kind, ftp: ftptest.Start(b, ftptest.Options{Root: root})}
			}
			route := fmt.Sprintf(`ente: {id: a, name: Comune A, codice_fiscale: "00000000000", offices: [UFA000]}
passive:
  protocol: %s
  prevalidation:
    on_failure: flag
    rules:
      - {id: cig, path: "//CodiceCIG", required: true, message: "CIG mancante"}
`, s.endpoint("a", "protocollo", settings[kind]))
			e := newEnv(b, envOptions{workers: benchWorkers, routes: map[string]string{"a": route}})
			dir := s.dir(e, "a", "protocollo")
			url := "https://" + e.hubAddr + "/sdi/RicezioneFatture"
			b.ResetTimer()
			start := time.Now()
			deliverAll(b, url, e.pki.sdiHTTP, 0, b.N)
			received := time.Since(start)
			for deadline := time.Now().Add(5 * time.Minute); countFiles(dir) < 2*b.N; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d files delivered", countFiles(dir), 2*b.N)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "fatture/s")
			b.ReportMetric(float64(b.N)/received.Seconds(), "ricevute/s")
		})
	}
}

func countFiles(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}
