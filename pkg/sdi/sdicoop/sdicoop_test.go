package sdicoop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/internal/sditest"
	"snodo/pkg/soap"
)

const samples = "../../../testdata/sdi/notifications"

func sample(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samples, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// store is a test Inbound: it keeps each file once (by IdentificativoSdI, and by
// IdentificativoSdI+NomeFile for notifications) and can be told to fail.
type store struct {
	mu       sync.Mutex
	invoices map[sdi.IdentificativoSdI]InvoiceDelivery
	notes    map[string]NotificationDelivery
	calls    int
	fail     error
}

func newStore() *store {
	return &store{invoices: map[sdi.IdentificativoSdI]InvoiceDelivery{}, notes: map[string]NotificationDelivery{}}
}

func (s *store) ReceiveInvoice(ctx context.Context, in InvoiceDelivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return s.fail
	}
	if _, dup := s.invoices[in.IdentificativoSdI]; !dup {
		s.invoices[in.IdentificativoSdI] = in
	}
	return nil
}

func (s *store) ReceiveNotification(ctx context.Context, n NotificationDelivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return s.fail
	}
	key := string(n.IdentificativoSdI) + "/" + n.NomeFile
	if _, dup := s.notes[key]; !dup {
		s.notes[key] = n
	}
	return nil
}

func (s *store) note(id sdi.IdentificativoSdI, name string) (NotificationDelivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notes[string(id)+"/"+name]
	return n, ok
}

type hub struct {
	pki   *sditest.PKI
	store *store
	url   string
}

func newHub(t *testing.T) *hub {
	t.Helper()
	p := sditest.New(t)
	st := newStore()
	mux := http.NewServeMux()
	if err := Mount(mux, "/sdi", ServerConfig{Inbound: st}); err != nil {
		t.Fatal(err)
	}
	return &hub{pki: p, store: st, url: sditest.Serve(t, p.HubServer, mux)}
}

func invoice(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRiceviFattureOverMTLS(t *testing.T) {
	h := newHub(t)
	mt := sample(t, "sdi-official/IT01234567890_12001_MT_001.xml")
	ctx := context.Background()
	for i, inline := range []bool{false, true} {
		c := NewSdIClient(h.pki.SdIClient, inline, nil)
		id := sdi.FromInt64(int64(4294967296 + i)) // beyond 32 bits
		mtFile := bytes.Replace(mt, []byte("<IdentificativoSdI>111</IdentificativoSdI>"), []byte("<IdentificativoSdI>"+string(id)+"</IdentificativoSdI>"), 1)
		req := &FileSdIConMetadati{IdentificativoSdI: id, NomeFile: "IT01234567890_FPA01.xml", File: invoice(t),
			NomeFileMetadati: "IT01234567890_FPA01_MT_001.xml", Metadati: mtFile}
		if err := c.RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", req); err != nil {
			t.Fatalf("inline=%v: %v", inline, err)
		}
		// The SdI tries again (it did not see our answer): same answer, stored once.
		if err := c.RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", req); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
		in, ok := h.store.invoices[id]
		if !ok {
			t.Fatalf("invoice %s not stored", id)
		}
		if !bytes.Equal(in.File, invoice(t)) || !bytes.Equal(in.Metadati, mtFile) || in.NomeFileMetadati != req.NomeFileMetadati {
			t.Fatal("files altered in transit")
		}
		if in.MT == nil || in.MTErr != nil || in.MT.Formato != "FPA12" || in.MT.IdentificativoSdI != id {
			t.Fatalf("MT %+v err %v", in.MT, in.MTErr)
		}
		if in.Peer.ClientCN != sditest.SdICN || in.Peer.MTOM == inline {
			t.Fatalf("peer %+v (inline %v)", in.Peer, inline)
		}
	}
	if len(h.store.invoices) != 2 || h.store.calls != 4 {
		t.Fatalf("stored %d invoices in %d calls", len(h.store.invoices), h.store.calls)
	}

	// DT on RicezioneFatture (one-way).
	dt := sample(t, "testsdi-unsigned/IT01234567890_11111_DT_001.xml")
	c := NewSdIClient(h.pki.SdIClient, false, nil)
	if err := c.NotificaDecorrenzaTermini(ctx, h.url+"/sdi/RicezioneFatture", "111", "IT01234567890_11111_DT_001.xml", dt); err != nil {
		t.Fatal(err)
	}
	n, ok := h.store.note("111", "IT01234567890_11111_DT_001.xml")
	if !ok || n.Service != ServiceRicezioneFatture || n.Tipo != sdi.DT || n.Message == nil || n.Message.Tipo != sdi.DT {
		t.Fatalf("DT delivery %+v", n)
	}
}

func TestRiceviFattureFailures(t *testing.T) {
	h := newHub(t)
	ctx := context.Background()
	c := NewSdIClient(h.pki.SdIClient, false, nil)
	mt := sample(t, "sdi-official/IT01234567890_12001_MT_001.xml")
	good := func() *FileSdIConMetadati {
		return &FileSdIConMetadati{IdentificativoSdI: "111", NomeFile: "IT01234567890_FPA01.xml", File: invoice(t),
			NomeFileMetadati: "IT01234567890_FPA01_MT_001.xml", Metadati: mt}
	}
	// The store is down: soap:Server, so the SdI retries; nothing acknowledged.
	h.store.fail = errors.New("database locked")
	err := c.RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", good())
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.CodeServer || strings.Contains(f.String, "database") {
		t.Fatalf("want Server fault hiding the cause, got %v", err)
	}
	h.store.fail = nil

	for _, tc := range []struct {
		name   string
		mutate func(*FileSdIConMetadati)
		want   string
	}{
		{"oversize file", func(r *FileSdIConMetadati) { r.File = bytes.Repeat([]byte("x"), sdi.MaxFileBytes+1) }, "exceeds the SdI limit"},
		{"empty file", func(r *FileSdIConMetadati) { r.File = nil }, "empty file"},
		{"hostile name", func(r *FileSdIConMetadati) { r.NomeFile = "../../etc/passwd.xml" }, "NomeFile"},
		{"13-digit id", func(r *FileSdIConMetadati) { r.IdentificativoSdI = "1234567890123" }, "1 to 12 digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.mutate(r)
			err := c.RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", r)
			if !errors.As(err, &f) || f.Code != soap.CodeClient || !strings.Contains(f.String, tc.want) {
				t.Fatalf("want Client fault containing %q, got %v", tc.want, err)
			}
		})
	}
	if len(h.store.invoices) != 0 {
		t.Fatal("a refused invoice was stored")
	}

	// Unreadable metadata: the invoice is still taken (the SdI accepted it), flagged.
	r := good()
	r.Metadati = []byte("<not-mt/>")
	if err := c.RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", r); err != nil {
		t.Fatal(err)
	}
	if in := h.store.invoices["111"]; in.MT != nil || in.MTErr == nil {
		t.Fatalf("unreadable MT not flagged: %+v", in)
	}

	// A client certificate from another CA never reaches the handler.
	err = NewSdIClient(h.pki.Stranger, false, nil).RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", good())
	var te *soap.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("stranger: want a TLS failure, got %v", err)
	}
	// Nor does the hub's own client certificate (not the SdI's CN).
	err = NewSdIClient(h.pki.HubClient, false, nil).RiceviFatture(ctx, h.url+"/sdi/RicezioneFatture", good())
	if !errors.As(err, &te) {
		t.Fatalf("wrong CN: want a TLS failure, got %v", err)
	}
}

func TestTrasmissioneFatture(t *testing.T) {
	h := newHub(t)
	ctx := context.Background()
	for _, inline := range []bool{false, true} {
		c := NewSdIClient(h.pki.SdIClient, inline, nil)
		for _, tc := range []struct {
			tipo sdi.Tipo
			file string
		}{
			{sdi.RC, "sdi-official/IT01234567890_11111_RC_001.xml"},
			{sdi.NS, "sdi-official/IT01234567890_11111_NS_001.xml"},
			{sdi.MC, "sdi-official/IT01234567890_11111_MC_001.xml"},
			{sdi.NE, "sdi-official/IT01234567890_11111_NE_001.xml"},
			{sdi.DT, "sdi-official/IT01234567890_11111_DT_001.xml"},
			{sdi.AT, "sdi-official/IT01234567890_11111_AT_001.zip"},
			{sdi.RC, "b2b/ITHVQWPH73P42H501Y_00022_RC_001.xml"},
			{sdi.NS, "b2b/ITHVQWPH73P42H501Y_00022_NS_001.xml"},
			{sdi.MC, "b2b/ITHVQWPH73P42H501Y_00022_MC_001.xml"},
		} {
			t.Run(fmt.Sprintf("%s inline=%v", tc.file, inline), func(t *testing.T) {
				data := sample(t, tc.file)
				name := filepath.Base(tc.file)
				id := sdi.IdentificativoSdI(fmt.Sprintf("7%d", len(name)))
				if inline {
					id += "1"
				}
				if err := c.Notifica(ctx, h.url+"/sdi/TrasmissioneFatture", tc.tipo, id, name, data); err != nil {
					t.Fatal(err)
				}
				n, ok := h.store.note(id, name)
				if !ok {
					t.Fatal("not delivered")
				}
				op, _ := TrasmissioneOperation(tc.tipo)
				if n.Service != ServiceTrasmissioneFatture || n.Operation != op || n.Tipo != tc.tipo || n.ParseErr != nil || n.Message.Tipo != tc.tipo {
					t.Fatalf("delivery %s/%s/%s err %v", n.Service, n.Operation, n.Tipo, n.ParseErr)
				}
				if !bytes.Equal(n.File, data) || n.Peer.MTOM == inline {
					t.Fatal("file altered or wrong encoding seen")
				}
				if tc.tipo == sdi.AT && len(n.Message.FileOriginale) != 4498 {
					t.Fatalf("AT original file: %d bytes", len(n.Message.FileOriginale))
				}
			})
		}
	}
	// The v1.0 element for the AT, with no SOAPAction: dispatched by element.
	at := sample(t, "sdi-official/IT01234567890_11111_AT_001.zip")
	old := &FileSdI{IdentificativoSdI: "996", NomeFile: "IT01234567890_11111_AT_001.zip", File: at}
	old.XMLName.Space, old.XMLName.Local = NSTrasmissione, "notificaFileNonRecapitabile"
	if err := (&soap.Client{HTTP: h.pki.SdIClient}).Call(ctx, h.url+"/sdi/TrasmissioneFatture", "", old, nil); err != nil {
		t.Fatal(err)
	}
	if n, ok := h.store.note("996", "IT01234567890_11111_AT_001.zip"); !ok || n.Tipo != sdi.AT || n.Operation != OpNotificaFileNonRecapitabile || n.ParseErr != nil {
		t.Fatalf("v1.0 AT: %+v", n)
	}
	// An NS on the RicevutaConsegna operation: delivered, flagged.
	c := NewSdIClient(h.pki.SdIClient, false, nil)
	if err := c.Notifica(ctx, h.url+"/sdi/TrasmissioneFatture", sdi.RC, "999", "IT01234567890_11111_NS_001.xml", sample(t, "sdi-official/IT01234567890_11111_NS_001.xml")); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.store.note("999", "IT01234567890_11111_NS_001.xml"); n.ParseErr == nil || !strings.Contains(n.ParseErr.Error(), "carries RC, got NS") {
		t.Fatalf("mismatch not flagged: %v", n.ParseErr)
	}
	// Garbage notification: delivered for an operator, flagged.
	if err := c.Notifica(ctx, h.url+"/sdi/TrasmissioneFatture", sdi.NE, "998", "IT01234567890_11111_NE_009.xml", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.store.note("998", "IT01234567890_11111_NE_009.xml"); n.Message != nil || n.ParseErr == nil {
		t.Fatal("garbage notification not flagged")
	}
	// The store fails: the SdI gets a fault and retries.
	h.store.fail = errors.New("disk full")
	err := c.Notifica(ctx, h.url+"/sdi/TrasmissioneFatture", sdi.RC, "997", "IT01234567890_11111_RC_001.xml", sample(t, "sdi-official/IT01234567890_11111_RC_001.xml"))
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.CodeServer {
		t.Fatalf("want Server fault, got %v", err)
	}
}

// sdiDouble serves SdIRiceviFile and SdIRiceviNotifica with canned answers, over mTLS.
type sdiDouble struct {
	mu       sync.Mutex
	files    []*FileSdIAccoglienza
	peers    []Peer
	esiti    []*FileSdI
	answerRF func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error)
	answerNE func(*FileSdI) (*RispostaSdINotificaEsito, error)
}

func (d *sdiDouble) serve(t *testing.T, p *sditest.PKI, enc soap.ResponseEncoding) (string, string) {
	rf, err := NewSdIRiceviFile(func(ctx context.Context, req *FileSdIAccoglienza, pe Peer) (*RispostaSdIRiceviFile, error) {
		d.mu.Lock()
		d.files, d.peers = append(d.files, req), append(d.peers, pe)
		d.mu.Unlock()
		return d.answerRF(req)
	}, SdIServerOptions{Encoding: enc})
	if err != nil {
		t.Fatal(err)
	}
	rn, err := NewSdIRiceviNotifica(func(ctx context.Context, req *FileSdI, pe Peer) (*RispostaSdINotificaEsito, error) {
		d.mu.Lock()
		d.esiti, d.peers = append(d.esiti, req), append(d.peers, pe)
		d.mu.Unlock()
		return d.answerNE(req)
	}, SdIServerOptions{Encoding: enc})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/SdIRiceviFile", rf)
	mux.Handle("/SdIRiceviNotifica", rn)
	base := sditest.Serve(t, p.SdIServer, mux)
	return base + "/SdIRiceviFile", base + "/SdIRiceviNotifica"
}

func TestClientRiceviFile(t *testing.T) {
	p := sditest.New(t)
	ctx := context.Background()
	now := sdi.DataOra{Time: time.Date(2026, 11, 25, 12, 0, 0, 0, sdi.Rome)}
	d := &sdiDouble{}
	rfURL, _ := d.serve(t, p, soap.AlwaysMTOM) // the SdI answers MTOM, as observed
	for _, tc := range []struct {
		name      string
		answer    func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error)
		code      string
		retryable bool
		unknown   bool
	}{
		{"accepted", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "999999999999", DataOraRicezione: now}, nil
		}, "", false, false},
		{"EI01", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now, Errore: EI01}, nil
		}, EI01, false, false},
		{"EI02", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now, Errore: EI02}, nil
		}, EI02, true, false},
		{"EI03", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now, Errore: EI03}, nil
		}, EI03, false, false},
		{"id and Errore together", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "5", DataOraRicezione: now, Errore: EI03}, nil
		}, EI03, false, false},
		{"id 0 without Errore", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return &RispostaSdIRiceviFile{IdentificativoSdI: "0", DataOraRicezione: now}, nil
		}, "", false, true},
		{"server fault", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return nil, errors.New("axis2 internal error")
		}, "", true, true},
		{"client fault", func(*FileSdIAccoglienza) (*RispostaSdIRiceviFile, error) {
			return nil, soap.ClientFault("richiesta non valida")
		}, "", false, false},
	} {
		for _, inline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s inline=%v", tc.name, inline), func(t *testing.T) {
				d.answerRF = tc.answer
				c, err := NewClient(ClientConfig{HTTP: p.HubClient, RiceviFileURL: rfURL, Inline: inline})
				if err != nil {
					t.Fatal(err)
				}
				res, err := c.RiceviFile(ctx, "IT01234567890_FPA01.xml", invoice(t))
				d.mu.Lock()
				last, lastPeer := d.files[len(d.files)-1], d.peers[len(d.peers)-1]
				d.mu.Unlock()
				if !bytes.Equal(last.File, invoice(t)) || last.NomeFile != "IT01234567890_FPA01.xml" || lastPeer.MTOM == inline {
					t.Fatalf("the SdI got %q, %d bytes, MTOM %v", last.NomeFile, len(last.File), lastPeer.MTOM)
				}
				if tc.name == "accepted" {
					if err != nil || res.IdentificativoSdI != "999999999999" || !res.DataOraRicezione.Equal(now.Time) {
						t.Fatalf("got %+v, %v", res, err)
					}
					return
				}
				var e *Error
				if !errors.As(err, &e) || res != nil {
					t.Fatalf("want *Error, got %+v, %v", res, err)
				}
				if e.Code != tc.code || e.Retryable != tc.retryable || e.OutcomeUnknown != tc.unknown || IsRetryable(err) != tc.retryable {
					t.Fatalf("error %+v; want code %q retryable %v unknown %v", e, tc.code, tc.retryable, tc.unknown)
				}
				if tc.code != "" && !strings.Contains(err.Error(), tc.code) {
					t.Fatalf("message %q does not name %s", err, tc.code)
				}
			})
		}
	}
	// Refused before sending: nothing reaches the SdI.
	c, _ := NewClient(ClientConfig{HTTP: p.HubClient, RiceviFileURL: rfURL})
	before := len(d.files)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"IT01234567890_FPA01.xml", nil, "empty file"},
		{"IT01234567890_FPA01.xml", bytes.Repeat([]byte("a"), sdi.MaxFileBytes+1), "exceeds the SdI limit"},
		{"bad name!.xml", []byte("<a/>"), "NomeFile"},
	} {
		_, err := c.RiceviFile(ctx, tc.name, tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) || IsRetryable(err) {
			t.Errorf("%s: want non-retryable %q, got %v", tc.name, tc.want, err)
		}
	}
	if len(d.files) != before {
		t.Fatal("an invalid file reached the SdI")
	}
	// The SdI is down: retryable, not sent.
	down, _ := NewClient(ClientConfig{HTTP: p.HubClient, RiceviFileURL: "https://127.0.0.1:1/SdIRiceviFile"})
	_, err := down.RiceviFile(ctx, "IT01234567890_FPA01.xml", invoice(t))
	var e *Error
	if !errors.As(err, &e) || !e.Retryable || e.OutcomeUnknown {
		t.Fatalf("SdI down: %+v", err)
	}
}

func ecFile(t testing.TB, id sdi.IdentificativoSdI, esito string) []byte {
	t.Helper()
	b, err := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: esito, Descrizione: "ok"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientNotificaEsito(t *testing.T) {
	p := sditest.New(t)
	ctx := context.Background()
	d := &sdiDouble{}
	_, rnURL := d.serve(t, p, soap.SameAsRequest)
	se := sample(t, "sdi-official/IT01234567890_11111_SE_001.xml")
	for _, inline := range []bool{false, true} {
		c, err := NewClient(ClientConfig{HTTP: p.HubClient, RiceviNotificaURL: rnURL, Inline: inline})
		if err != nil {
			t.Fatal(err)
		}
		d.answerNE = func(*FileSdI) (*RispostaSdINotificaEsito, error) { return &RispostaSdINotificaEsito{Esito: ES01}, nil }
		res, err := c.NotificaEsito(ctx, "111", "IT01234567890_11111_EC_001.xml", ecFile(t, "111", sdi.EC01))
		if err != nil || res.Esito != ES01 {
			t.Fatalf("ES01: %+v %v", res, err)
		}
		d.mu.Lock()
		got := d.esiti[len(d.esiti)-1]
		d.mu.Unlock()
		if got.IdentificativoSdI != "111" || got.XMLName.Local != "fileSdI" || got.XMLName.Space != NSRicezione {
			t.Fatalf("request %+v", got)
		}

		d.answerNE = func(*FileSdI) (*RispostaSdINotificaEsito, error) {
			return &RispostaSdINotificaEsito{Esito: ES00, ScartoEsito: &FileSdIBase{NomeFile: "IT01234567890_11111_SE_001.xml", File: se}}, nil
		}
		res, err = c.NotificaEsito(ctx, "111", "IT01234567890_11111_EC_001.xml", ecFile(t, "111", sdi.EC02))
		if err != nil || res.Esito != ES00 || res.Scarto == nil || res.Scarto.Scarto != sdi.EN00 || !bytes.Equal(res.FileScarto, se) {
			t.Fatalf("ES00: %+v %v", res, err)
		}

		d.answerNE = func(*FileSdI) (*RispostaSdINotificaEsito, error) { return &RispostaSdINotificaEsito{Esito: ES02}, nil }
		_, err = c.NotificaEsito(ctx, "111", "IT01234567890_11111_EC_001.xml", ecFile(t, "111", sdi.EC01))
		var e *Error
		if !errors.As(err, &e) || e.Code != ES02 || !e.Retryable {
			t.Fatalf("ES02: %v", err)
		}
	}
	// Not sent: a bad EC, or one about another invoice.
	c, _ := NewClient(ClientConfig{HTTP: p.HubClient, RiceviNotificaURL: rnURL})
	before := len(d.esiti)
	for _, tc := range []struct {
		id   sdi.IdentificativoSdI
		ec   []byte
		want string
	}{
		{"111", ecFile(t, "112", sdi.EC01), "names another IdentificativoSdI"},
		{"111", ecFile(t, "111", "EC09"), "EC01 or EC02"},
		{"111", sample(t, "sdi-official/IT01234567890_11111_RC_001.xml"), "the name says EC, the content is RC"},
		{"111", []byte("<x"), "XML"},
	} {
		_, err := c.NotificaEsito(ctx, tc.id, "IT01234567890_11111_EC_001.xml", tc.ec)
		if err == nil || !strings.Contains(err.Error(), tc.want) || IsRetryable(err) {
			t.Errorf("want non-retryable %q, got %v", tc.want, err)
		}
	}
	if len(d.esiti) != before {
		t.Fatal("an invalid EC reached the SdI")
	}
}

// On a listener shared with other clients (client certificates optional), the handlers
// themselves admit only the SdI's certificate.
func TestAllowedClientCNs(t *testing.T) {
	p := sditest.New(t)
	st := newStore()
	mux := http.NewServeMux()
	if err := Mount(mux, "/sdi", ServerConfig{Inbound: st, AllowedClientCNs: []string{sditest.SdICN}}); err != nil {
		t.Fatal(err)
	}
	cfg := p.SdIServer.Clone() // requires a certificate of the CA, any CN
	url := sditest.Serve(t, cfg, mux)
	ctx := context.Background()
	rc := sample(t, "sdi-official/IT01234567890_11111_RC_001.xml")
	if err := NewSdIClient(p.SdIClient, false, nil).Notifica(ctx, url+"/sdi/TrasmissioneFatture", sdi.RC, "1", "IT01234567890_11111_RC_001.xml", rc); err != nil {
		t.Fatalf("the SdI refused: %v", err)
	}
	err := NewSdIClient(p.HubClient, false, nil).Notifica(ctx, url+"/sdi/TrasmissioneFatture", sdi.RC, "2", "IT01234567890_11111_RC_001.xml", rc)
	var he *soap.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden || !strings.Contains(he.Snippet, "hub.ente.test") {
		t.Fatalf("another CN: %v", err)
	}
	if _, ok := st.note("2", "IT01234567890_11111_RC_001.xml"); ok {
		t.Fatal("a refused caller's notification was stored")
	}
}
