package sdicoop

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"snodo/pkg/message"
	journal "snodo/pkg/store"
	"snodo/pkg/store/storetest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/internal/sditest"
	"snodo/pkg/soap"
)

// fsyncStore is the Inbound of the benchmark: each invoice is written to its own file
// and fsync'd before RiceviFatture answers, standing in for the hub's store commit.
type fsyncStore struct{ dir string }

func (s fsyncStore) ReceiveInvoice(ctx context.Context, in InvoiceDelivery) error {
	f, err := os.OpenFile(filepath.Join(s.dir, string(in.IdentificativoSdI)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(in.File); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (fsyncStore) ReceiveNotification(context.Context, NotificationDelivery) error { return nil }

type discardStore struct{}

func (discardStore) ReceiveInvoice(context.Context, InvoiceDelivery) error           { return nil }
func (discardStore) ReceiveNotification(context.Context, NotificationDelivery) error { return nil }

// invoice10KB is the FPA01 sample padded with a comment to 10 KB.
// journalInbound is the hub's durable commit: each invoice and its metadata are stored
// in the journal (SQLite, WAL) with their lookup keys, events and the first job, as
// the passive cycle does, before the answer goes out.
type journalInbound struct{ s journal.Store }

func (j journalInbound) ReceiveInvoice(ctx context.Context, in InvoiceDelivery) error {
	id := string(in.IdentificativoSdI)
	_, _, err := j.s.Ingest(ctx, journal.NewMessage{Message: &message.Message{Flow: message.FlowPassive, Kind: message.KindInvoice,
		FileName: in.NomeFile, DedupKey: "sdi:" + id + ":invoice", Headers: map[string]string{message.HeaderIdentificativoSdI: id},
		Files: []message.File{{Name: in.NomeFile, Role: message.RoleMain, Data: in.File},
			{Name: in.NomeFileMetadati, Role: message.RoleMetadata, Data: in.Metadati}}},
		Keys: []string{"sdi:" + id, "file:" + in.NomeFile}, Jobs: []journal.JobSpec{{Handler: "passive.check"}}})
	return err
}

func (journalInbound) ReceiveNotification(context.Context, NotificationDelivery) error { return nil }

func invoice10KB(b *testing.B) []byte {
	inv := invoice(b)
	pad := 10*1024 - len(inv) - len("<!--  -->")
	return append(inv, []byte("<!-- "+string(bytes.Repeat([]byte("x"), pad))+" -->")...)
}

// BenchmarkRiceviFatture measures RiceviFatture over mutual TLS with 50 concurrent
// clients and a 10 KB invoice sent as MTOM (as the SdI does), for three servers:
//
//   - bare: the limit, a net/http handler that reads the request and returns the same
//     canned ER01 response;
//   - fsync: the hub's handler with an Inbound that writes each invoice to its own file
//     and fsyncs it before answering (standing in for the store's durable commit);
//   - nostore: the hub's handler with an Inbound that keeps nothing (SOAP/MTOM cost).
//
// The machine is shared, so the three run interleaved in 10 rounds of b.N/10 requests
// each and the ratios to bare are reported beside req/s and p99 latency per server.
func BenchmarkRiceviFatture(b *testing.B) {
	p := sditest.New(b)
	inv := invoice10KB(b)
	mt, err := sdi.Marshal(&sdi.MetadatiInvioFile{IdentificativoSdI: "1", NomeFile: "IT01234567890_FPA01.xml", CodiceDestinatario: "AAAAAA", Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
	if err != nil {
		b.Fatal(err)
	}
	_, canned, err := soap.Marshal(soap.V11, &RispostaRiceviFatture{Esito: ER01}, false)
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
		buf.ReadFrom(r.Body)
		w.Header().Set("Content-Type", soap.ContentType11)
		w.Write(canned)
	})
	handler := func(in Inbound) http.Handler {
		h, err := NewRicezioneFatture(ServerConfig{Inbound: in})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	type variant struct {
		name    string
		url     string
		elapsed time.Duration
		lat     []time.Duration
	}
	vs := []*variant{
		{name: "bare", url: sditest.Serve(b, p.HubServer, bare)},
		{name: "store", url: sditest.Serve(b, p.HubServer, handler(journalInbound{s: storetest.OpenSQLite(b, journal.Options{})}))},
		{name: "fsync", url: sditest.Serve(b, p.HubServer, handler(fsyncStore{dir: b.TempDir()}))},
		{name: "nostore", url: sditest.Serve(b, p.HubServer, handler(discardStore{}))},
	}
	client := NewSdIClient(p.SdIClient, false, nil)
	var next atomic.Int64
	next.Store(4294967296) // identifiers beyond 32 bits
	const clients, rounds = 50, 10
	per := max(b.N/rounds, clients)
	run := func(v *variant, n int) {
		lat := make([][]time.Duration, clients)
		var wg sync.WaitGroup
		var todo atomic.Int64
		todo.Store(int64(n))
		var failed atomic.Int64
		var firstErr atomic.Value
		start := time.Now()
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for todo.Add(-1) >= 0 {
					req := &FileSdIConMetadati{IdentificativoSdI: sdi.FromInt64(next.Add(1)), NomeFile: "IT01234567890_FPA01.xml", File: inv,
						NomeFileMetadati: "IT01234567890_FPA01_MT_001.xml", Metadati: mt}
					t0 := time.Now()
					if err := client.RiceviFatture(context.Background(), v.url, req); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					lat[c] = append(lat[c], time.Since(t0))
				}
			}()
		}
		wg.Wait()
		v.elapsed += time.Since(start)
		if n := failed.Load(); n > 0 {
			b.Fatalf("%s: %d requests failed, first: %v", v.name, n, firstErr.Load())
		}
		v.lat = append(v.lat, slices.Concat(lat...)...)
	}
	for _, v := range vs {
		run(v, clients) // warm up: TLS handshakes of the 50 connections
		v.elapsed, v.lat = 0, nil
	}
	b.SetBytes(int64(len(inv)))
	b.ResetTimer()
	for range rounds {
		for _, v := range vs {
			run(v, per)
		}
	}
	b.StopTimer()
	rate := map[string]float64{}
	for _, v := range vs {
		slices.Sort(v.lat)
		rate[v.name] = float64(len(v.lat)) / v.elapsed.Seconds()
		b.ReportMetric(rate[v.name], v.name+"-req/s")
		b.ReportMetric(float64(v.lat[len(v.lat)*99/100].Microseconds())/1000, v.name+"-p99-ms")
	}
	b.ReportMetric(rate["store"]/rate["bare"], "store/bare")
	b.ReportMetric(rate["fsync"]/rate["bare"], "fsync/bare")
	b.ReportMetric(rate["nostore"]/rate["bare"], "nostore/bare")
}

// BenchmarkRicezioneFattureHandler measures the server-side cost of one RiceviFatture
// (10 KB invoice, no network, no store), MTOM and inline, beside the bare handler
// that reads the request and returns the canned response.
func BenchmarkRicezioneFattureHandler(b *testing.B) {
	inv := invoice10KB(b)
	mt, _ := sdi.Marshal(&sdi.MetadatiInvioFile{IdentificativoSdI: "1", NomeFile: "IT01234567890_FPA01.xml", CodiceDestinatario: "AAAAAA", Formato: "FPA12", TentativiInvio: 1, MessageId: "1"})
	_, canned, _ := soap.Marshal(soap.V11, &RispostaRiceviFatture{Esito: ER01}, false)
	h, err := NewRicezioneFatture(ServerConfig{Inbound: discardStore{}})
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bytes.NewBuffer(make([]byte, 0, 16<<10))
		buf.ReadFrom(r.Body)
		w.Header().Set("Content-Type", soap.ContentType11)
		w.Write(canned)
	})
	for _, tc := range []struct {
		name string
		h    http.Handler
		mtom bool
	}{{"bare", bare, true}, {"mtom", h, true}, {"inline", h, false}} {
		ct, body, err := soap.Marshal(soap.V11, &FileSdIConMetadati{IdentificativoSdI: "1", NomeFile: "IT01234567890_FPA01.xml", File: inv,
			NomeFileMetadati: "IT01234567890_FPA01_MT_001.xml", Metadati: mt}, tc.mtom)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
				r.Header.Set("Content-Type", ct)
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Body.String())
				}
			}
		})
	}
}
