package sim

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
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/signature"
	"snodo/pkg/soap"
	"snodo/pkg/testpki"
)

// receiver is a test hub store: the Inbound behind the real sdicoop handlers. It keeps
// each invoice once (by IdentificativoSdI) and each notification once (by
// IdentificativoSdI and file name), and can fail the next deliveries.
type receiver struct {
	mu           sync.Mutex
	invoices     map[sdi.IdentificativoSdI]sdicoop.InvoiceDelivery
	invoiceCalls map[sdi.IdentificativoSdI]int
	notes        []sdicoop.NotificationDelivery
	noteKeys     map[string]bool
	failNext     int
	changed      chan struct{}
}

func newReceiver() *receiver {
	return &receiver{invoices: map[sdi.IdentificativoSdI]sdicoop.InvoiceDelivery{}, invoiceCalls: map[sdi.IdentificativoSdI]int{},
		noteKeys: map[string]bool{}, changed: make(chan struct{})}
}

func (r *receiver) bump() { close(r.changed); r.changed = make(chan struct{}) }

func (r *receiver) ReceiveInvoice(ctx context.Context, in sdicoop.InvoiceDelivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invoiceCalls[in.IdentificativoSdI]++
	if r.failNext > 0 {
		r.failNext--
		return errors.New("archivio non disponibile")
	}
	if _, dup := r.invoices[in.IdentificativoSdI]; !dup {
		r.invoices[in.IdentificativoSdI] = in
	}
	r.bump()
	return nil
}

func (r *receiver) ReceiveNotification(ctx context.Context, n sdicoop.NotificationDelivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := string(n.IdentificativoSdI) + "/" + n.NomeFile
	if !r.noteKeys[key] {
		r.noteKeys[key] = true
		r.notes = append(r.notes, n)
	}
	r.bump()
	return nil
}

func (r *receiver) wait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		done, ch := ok(), r.changed
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timeout waiting for %s", what)
		}
	}
}

// note waits for a notification of type tipo about id.
func (r *receiver) note(t *testing.T, id sdi.IdentificativoSdI, tipo sdi.Tipo) sdicoop.NotificationDelivery {
	t.Helper()
	var found sdicoop.NotificationDelivery
	r.wait(t, fmt.Sprintf("%s for %s", tipo, id), func() bool {
		for _, n := range r.notes {
			if n.IdentificativoSdI == id && n.Tipo == tipo {
				found = n
				return true
			}
		}
		return false
	})
	if found.ParseErr != nil {
		t.Fatalf("%s for %s unreadable: %v", tipo, id, found.ParseErr)
	}
	return found
}

func (r *receiver) notesFor(id sdi.IdentificativoSdI) []sdi.Tipo {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sdi.Tipo
	for _, n := range r.notes {
		if n.IdentificativoSdI == id {
			out = append(out, n.Tipo)
		}
	}
	return out
}

type env struct {
	pki    *sditest.PKI
	recv   *receiver
	sim    *Sim
	hub    *sdicoop.Client
	hubURL string
	simURL string
}

var fastTiming = Timing{Notify: 5 * time.Millisecond, EC: 20 * time.Millisecond, AT: 20 * time.Millisecond, DT: time.Hour, Retry: 10 * time.Millisecond}

// newEnv starts a hub (the real sdicoop handlers over a test receiver) and a simulator,
// each on its own mTLS listener, wired to each other.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{pki: sditest.New(t), recv: newReceiver()}
	mux := http.NewServeMux()
	if err := sdicoop.Mount(mux, "/sdi", sdicoop.ServerConfig{Inbound: e.recv}); err != nil {
		t.Fatal(err)
	}
	e.hubURL = sditest.Serve(t, e.pki.HubServer, mux)
	cfg := Config{
		TrasmissioneURL: e.hubURL + "/sdi/TrasmissioneFatture",
		RicezioneURL:    e.hubURL + "/sdi/RicezioneFatture",
		HTTP:            e.pki.SdIClient,
		Timing:          fastTiming,
		Rules:           map[string]Scenario{"GGGGGG": Recapito},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.sim = s
	e.simURL = sditest.Serve(t, e.pki.SdIServer, s.Handler())
	e.hub, err = sdicoop.NewClient(sdicoop.ClientConfig{HTTP: e.pki.HubClient,
		RiceviFileURL: e.simURL + "/SdIRiceviFile", RiceviNotificaURL: e.simURL + "/SdIRiceviNotifica"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var fpa01 = func() []byte {
	b, err := os.ReadFile("../../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
	if err != nil {
		panic(err)
	}
	return b
}()

// invoiceFor is the official FPA01 sample addressed to codice.
func invoiceFor(codice string) []byte {
	return bytes.Replace(fpa01, []byte("<CodiceDestinatario>AAAAAA</CodiceDestinatario>"), []byte("<CodiceDestinatario>"+codice+"</CodiceDestinatario>"), 1)
}

func (e *env) send(t *testing.T, name string, data []byte) sdi.IdentificativoSdI {
	t.Helper()
	res, err := e.hub.RiceviFile(context.Background(), name, data)
	if err != nil {
		t.Fatalf("RiceviFile %s: %v", name, err)
	}
	return res.IdentificativoSdI
}

func TestActiveScenarios(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("AAAAAA: RC then NE EC01", func(t *testing.T) {
		id := e.send(t, "IT01234567890_A0001.xml", invoiceFor("AAAAAA"))
		rc := e.recv.note(t, id, sdi.RC)
		if r := rc.Message.Body.(*sdi.RicevutaConsegna); r.NomeFile != "IT01234567890_A0001.xml" || r.Destinatario.Codice != "AAAAAA" || rc.NomeFile != "IT01234567890_A0001_RC_001.xml" {
			t.Fatalf("RC %+v named %s", r, rc.NomeFile)
		}
		ne := e.recv.note(t, id, sdi.NE).Message.Body.(*sdi.NotificaEsito)
		if ne.EsitoCommittente.Esito != sdi.EC01 || ne.EsitoCommittente.RiferimentoFattura == nil || ne.EsitoCommittente.RiferimentoFattura.NumeroFattura != "123" {
			t.Fatalf("NE %+v", ne.EsitoCommittente)
		}
	})
	t.Run("BBBBBB: RC then NE EC02", func(t *testing.T) {
		id := e.send(t, "IT01234567890_B0001.xml", invoiceFor("BBBBBB"))
		e.recv.note(t, id, sdi.RC)
		if ne := e.recv.note(t, id, sdi.NE).Message.Body.(*sdi.NotificaEsito); ne.EsitoCommittente.Esito != sdi.EC02 {
			t.Fatalf("NE %+v", ne.EsitoCommittente)
		}
	})
	t.Run("CCCCCC: MC then AT with the original file", func(t *testing.T) {
		data := invoiceFor("CCCCCC")
		id := e.send(t, "IT01234567890_C0001.xml", data)
		e.recv.note(t, id, sdi.MC)
		at := e.recv.note(t, id, sdi.AT)
		if !at.Message.HashOriginaleOK || !bytes.Equal(at.Message.FileOriginale, data) || at.NomeFile != "IT01234567890_C0001_AT_001.zip" {
			t.Fatalf("AT zip: hash ok %v, %d bytes, name %s", at.Message.HashOriginaleOK, len(at.Message.FileOriginale), at.NomeFile)
		}
		if got := e.recv.notesFor(id); len(got) != 2 {
			t.Fatalf("notifications %v", got)
		}
	})
	t.Run("DDDDDD: RC then DT", func(t *testing.T) {
		id := e.send(t, "IT01234567890_D0001.xml", invoiceFor("DDDDDD"))
		e.recv.note(t, id, sdi.RC)
		if err := e.sim.FireDT(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if dt := e.recv.note(t, id, sdi.DT); dt.Message.Body.(*sdi.NotificaDecorrenzaTermini).NomeFile != "IT01234567890_D0001.xml" {
			t.Fatal("DT names another file")
		}
		if err := e.sim.FireDT(context.Background(), id); err == nil {
			t.Fatal("second DT allowed")
		}
	})
	t.Run("EEEEEE: NS 00311", func(t *testing.T) {
		id := e.send(t, "IT01234567890_E0001.xml", invoiceFor("EEEEEE"))
		ns := e.recv.note(t, id, sdi.NS).Message.Body.(*sdi.NotificaScarto)
		if len(ns.ListaErrori.Errore) != 1 || ns.ListaErrori.Errore[0].Codice != "00311" {
			t.Fatalf("NS %+v", ns.ListaErrori)
		}
	})
	t.Run("invalid file: NS with the schema errors", func(t *testing.T) {
		bad, _ := os.ReadFile("../../../testdata/sdi/invoices/ITAAABBB00C11D222E_12001.xml")
		id := e.send(t, "ITAAABBB00C11D222E_12001.xml", bad)
		ns := e.recv.note(t, id, sdi.NS).Message.Body.(*sdi.NotificaScarto)
		if len(ns.ListaErrori.Errore) < 1 || ns.ListaErrori.Errore[0].Codice != "00200" || !strings.Contains(ns.Errori(), "IdPaese") {
			t.Fatalf("NS %s", ns.Errori())
		}
	})
	t.Run("same name twice: NS 00002", func(t *testing.T) {
		first := e.send(t, "IT01234567890_A0002.xml", invoiceFor("AAAAAA"))
		e.recv.note(t, first, sdi.RC)
		id := e.send(t, "IT01234567890_A0002.xml", invoiceFor("AAAAAA"))
		ns := e.recv.note(t, id, sdi.NS).Message.Body.(*sdi.NotificaScarto)
		if ns.ListaErrori.Errore[0].Codice != "00002" {
			t.Fatalf("NS %s", ns.Errori())
		}
	})
	t.Run("FPR12: B2B receipt, no outcome", func(t *testing.T) {
		fpr, _ := os.ReadFile("../../../testdata/sdi/invoices/IT01234567890_FPR01.xml")
		id := e.send(t, "IT01234567890_R0001.xml", fpr)
		rc := e.recv.note(t, id, sdi.RC)
		if !rc.Message.B2B || rc.Message.Body.(*sdi.RicevutaConsegna).Hash == "" {
			t.Fatal("FPR12 receipt not in the B2B schema")
		}
		// The buyer step is skipped: wait past it, nothing else arrives.
		time.Sleep(10 * fastTiming.EC)
		if got := e.recv.notesFor(id); len(got) != 1 {
			t.Fatalf("FPR12 got %v", got)
		}
	})
	t.Run("GGGGGG: delivered to the hub itself, its EC becomes the NE", func(t *testing.T) {
		data := invoiceFor("GGGGGG")
		id := e.send(t, "IT01234567890_G0001.xml", data)
		e.recv.wait(t, "the invoice on RicezioneFatture", func() bool { _, ok := e.recv.invoices[id]; return ok })
		in := e.recv.invoices[id]
		if !bytes.Equal(in.File, data) || in.MT == nil || in.MT.CodiceDestinatario != "GGGGGG" {
			t.Fatalf("delivered %+v", in.MT)
		}
		e.recv.note(t, id, sdi.RC)
		ec, _ := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: sdi.EC02, Descrizione: "Importo errato"}})
		res, err := e.hub.NotificaEsito(context.Background(), id, "IT01234567890_G0001_EC_001.xml", ec)
		if err != nil || res.Esito != sdicoop.ES01 {
			t.Fatalf("EC: %+v %v", res, err)
		}
		ne := e.recv.note(t, id, sdi.NE).Message.Body.(*sdi.NotificaEsito)
		if ne.EsitoCommittente.Esito != sdi.EC02 || ne.EsitoCommittente.Descrizione != "Importo errato" {
			t.Fatalf("NE %+v", ne.EsitoCommittente)
		}
	})
}

func TestRiceviFileAnswers(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// An empty file: EI01 with IdentificativoSdI 0 (the hub's client refuses to send
	// one, so call the service directly).
	c := &soap.Client{HTTP: e.pki.HubClient}
	var resp sdicoop.RispostaSdIRiceviFile
	if err := c.Call(ctx, e.simURL+"/SdIRiceviFile", sdicoop.ActionRiceviFile, &sdicoop.FileSdIAccoglienza{NomeFile: "IT01234567890_X0001.xml"}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Errore != sdicoop.EI01 || !resp.IdentificativoSdI.IsZero() {
		t.Fatalf("empty file: %+v", resp)
	}
	// Out of service on demand: EI02, retryable; then back.
	e.sim.Unavailable("RiceviFile", 1)
	_, err := e.hub.RiceviFile(ctx, "IT01234567890_X0002.xml", invoiceFor("AAAAAA"))
	var se *sdicoop.Error
	if !errors.As(err, &se) || se.Code != sdicoop.EI02 || !se.Retryable {
		t.Fatalf("want EI02, got %v", err)
	}
	id1 := e.send(t, "IT01234567890_X0002.xml", invoiceFor("AAAAAA"))
	id2 := e.send(t, "IT01234567890_X0003.xml", invoiceFor("AAAAAA"))
	n1, _ := id1.Int64()
	n2, _ := id2.Int64()
	if n1 <= 1<<32 || n2 != n1+1 {
		t.Fatalf("identifiers %s, %s: want increasing, beyond 32 bits", id1, id2)
	}
}

func TestTransmitterNotEnabled(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedTransmitters = []string{"another hub"} })
	_, err := e.hub.RiceviFile(context.Background(), "IT01234567890_Y0001.xml", invoiceFor("AAAAAA"))
	var se *sdicoop.Error
	if !errors.As(err, &se) || se.Code != sdicoop.EI03 || se.Retryable {
		t.Fatalf("want EI03, got %v", err)
	}
}

func ec(t *testing.T, id sdi.IdentificativoSdI, esito string) []byte {
	t.Helper()
	b, err := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: esito, MessageIdCommittente: "EC1"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPassiveCycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	// Delivery, redelivered twice: one invoice in the store, three calls.
	id, err := e.sim.DeliverInvoice(ctx, "IT01234567890_FPA01.xml", fpa01, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.sim.Redeliver(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	e.recv.mu.Lock()
	in, calls, stored := e.recv.invoices[id], e.recv.invoiceCalls[id], len(e.recv.invoices)
	e.recv.mu.Unlock()
	if calls != 3 || stored != 1 {
		t.Fatalf("redelivery: %d calls, %d stored", calls, stored)
	}
	if in.MT.CodiceDestinatario != "AAAAAA" || in.MT.Formato != "FPA12" || in.MT.TentativiInvio != 1 || in.NomeFileMetadati != "IT01234567890_FPA01_MT_001.xml" {
		t.Fatalf("MT %+v", in.MT)
	}

	// The recipient's EC: accepted once, a second one refused (EN01).
	res, err := e.hub.NotificaEsito(ctx, id, "IT01234567890_FPA01_EC_001.xml", ec(t, id, sdi.EC01))
	if err != nil || res.Esito != sdicoop.ES01 {
		t.Fatalf("EC: %+v %v", res, err)
	}
	res, err = e.hub.NotificaEsito(ctx, id, "IT01234567890_FPA01_EC_002.xml", ec(t, id, sdi.EC02))
	if err != nil || res.Esito != sdicoop.ES00 || res.Scarto == nil || res.Scarto.Scarto != sdi.EN01 || !strings.Contains(res.Scarto.Note, "già notificato") {
		t.Fatalf("duplicate EC: %+v %v", res, err)
	}
	if res.NomeFileScarto != "IT01234567890_FPA01_SE_001.xml" {
		t.Fatalf("SE named %s", res.NomeFileScarto)
	}
	if err := e.sim.FireDT(ctx, id); err == nil {
		t.Fatal("DT after an accepted EC")
	}

	// Another invoice: no EC, the DT comes; an EC after it is refused (EN01).
	id2, err := e.sim.DeliverInvoice(ctx, "IT01234567890_FPA02.xml", fpa01, "AAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sim.FireDT(ctx, id2); err != nil {
		t.Fatal(err)
	}
	dt := e.recv.note(t, id2, sdi.DT)
	if dt.Service != sdicoop.ServiceRicezioneFatture || dt.NomeFile != "IT01234567890_FPA02_DT_001.xml" {
		t.Fatalf("DT %s %s", dt.Service, dt.NomeFile)
	}
	res, err = e.hub.NotificaEsito(ctx, id2, "IT01234567890_FPA02_EC_001.xml", ec(t, id2, sdi.EC01))
	if err != nil || res.Esito != sdicoop.ES00 || res.Scarto.Scarto != sdi.EN01 || !strings.Contains(res.Scarto.Note, "decorrenza") {
		t.Fatalf("EC after DT: %+v %v", res, err)
	}

	// Unknown invoice: EN01. ES02 on demand: retryable.
	res, err = e.hub.NotificaEsito(ctx, "4242", "IT01234567890_ZZZZZ_EC_001.xml", ec(t, "4242", sdi.EC01))
	if err != nil || res.Esito != sdicoop.ES00 || res.Scarto.Scarto != sdi.EN01 {
		t.Fatalf("unknown invoice: %+v %v", res, err)
	}
	e.sim.Unavailable("NotificaEsito", 1)
	_, err = e.hub.NotificaEsito(ctx, id2, "IT01234567890_FPA02_EC_002.xml", ec(t, id2, sdi.EC01))
	if !sdicoop.IsRetryable(err) {
		t.Fatalf("ES02: %v", err)
	}

	// A malformed EC (sent bypassing the hub client's own check): EN00.
	c := &soap.Client{HTTP: e.pki.HubClient}
	var resp sdicoop.RispostaSdINotificaEsito
	bad := bytes.Replace(ec(t, id2, sdi.EC01), []byte("EC01"), []byte("EC07"), 1)
	req := &sdicoop.FileSdI{IdentificativoSdI: id2, NomeFile: "IT01234567890_FPA02_EC_003.xml", File: bad}
	req.XMLName.Space, req.XMLName.Local = sdicoop.NSRicezione, "fileSdI"
	if err := c.Call(ctx, e.simURL+"/SdIRiceviNotifica", sdicoop.ActionNotificaEsito, req, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Esito != sdicoop.ES00 || resp.ScartoEsito == nil {
		t.Fatalf("malformed EC: %+v", resp)
	}
	m, err := sdi.Parse(resp.ScartoEsito.NomeFile, resp.ScartoEsito.File)
	if err != nil || m.Body.(*sdi.ScartoEsitoCommittente).Scarto != sdi.EN00 {
		t.Fatalf("SE %v %+v", err, m)
	}
}

func TestDeliveryRetries(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.recv.failNext = 2
	id, err := e.sim.DeliverInvoice(ctx, "IT01234567890_FPA01.xml", fpa01, "")
	if err != nil {
		t.Fatal(err)
	}
	if in := e.recv.invoices[id]; in.MT.TentativiInvio != 3 {
		t.Fatalf("TentativiInvio %d, want 3", in.MT.TentativiInvio)
	}
	e.recv.failNext = 3
	id, err = e.sim.DeliverInvoice(ctx, "IT01234567890_FPA03.xml", fpa01, "")
	if err == nil || id == "" || !strings.Contains(err.Error(), "3 tentativi") {
		t.Fatalf("want failure after 3 attempts with an id, got %q %v", id, err)
	}
	var f *soap.Fault
	if !errors.As(err, &f) || f.Code != soap.CodeServer {
		t.Fatalf("cause %v", err)
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	first := newEnv(t, func(c *Config) { c.StateDir = dir; c.FirstID = 100 })
	id := first.send(t, "IT01234567890_P0001.xml", invoiceFor("AAAAAA"))
	if id != "100" {
		t.Fatalf("first id %s", id)
	}
	first.sim.Close()
	second := newEnv(t, func(c *Config) { c.StateDir = dir; c.FirstID = 100 })
	id = second.send(t, "IT01234567890_P0001.xml", invoiceFor("AAAAAA"))
	if id != "101" {
		t.Fatalf("after restart id %s, want 101", id)
	}
	ns := second.recv.note(t, id, sdi.NS).Message.Body.(*sdi.NotificaScarto)
	if ns.ListaErrori.Errore[0].Codice != "00002" {
		t.Fatalf("name not remembered across restart: %s", ns.Errori())
	}
	os.WriteFile(filepath.Join(dir, counterFile), []byte("garbage"), 0o640)
	if _, err := New(Config{StateDir: dir}); err == nil || !strings.Contains(err.Error(), "unreadable counter") {
		t.Fatalf("corrupt counter: %v", err)
	}
}

func TestSignedNotifications(t *testing.T) {
	ca := testpki.MustCA("CA firma SdI (test)")
	iss, err := ca.Signing("Sistema Interscambio Fattura PA", testpki.Options{Key: testpki.RSA})
	if err != nil {
		t.Fatal(err)
	}
	signer := &signature.Signer{Key: iss.Key, Cert: iss.Cert}
	e := newEnv(t, func(c *Config) { c.Signer = signer })
	id := e.send(t, "IT01234567890_S0001.xml", invoiceFor("CCCCCC"))
	for _, tipo := range []sdi.Tipo{sdi.MC, sdi.AT} {
		n := e.recv.note(t, id, tipo)
		if !n.Message.Signed {
			t.Fatalf("%s not signed", tipo)
		}
		res, err := (&signature.Verifier{IntegrityOnly: true}).Verify(n.NomeFile, n.Message.Raw)
		if err != nil {
			t.Fatalf("%s signature: %v", tipo, err)
		}
		if res.Format != signature.FormatXAdES {
			t.Fatalf("%s format %v", tipo, res.Format)
		}
	}
}

func TestMTOMAndInline(t *testing.T) {
	for _, inline := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.Inline = inline })
		id, err := e.sim.DeliverInvoice(context.Background(), "IT01234567890_FPA01.xml", fpa01, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := e.recv.invoices[id].Peer.MTOM; got == inline {
			t.Fatalf("inline=%v: hub saw MTOM=%v", inline, got)
		}
	}
}

// The project's validator judges the files: with the tax-id checks on, the official
// sample (made-up partita IVA) is rejected with the SdI's codes.
func TestProjectValidator(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CheckTaxIDs = true })
	id := e.send(t, "IT01234567890_V0001.xml", invoiceFor("AAAAAA"))
	ns := e.recv.note(t, id, sdi.NS).Message.Body.(*sdi.NotificaScarto)
	if ns.ListaErrori.Errore[0].Codice != "00300" || !strings.Contains(ns.Errori(), "00301") {
		t.Fatalf("NS %s", ns.Errori())
	}
	for _, er := range ns.ListaErrori.Errore {
		if len([]rune(er.Descrizione)) > 255 {
			t.Fatalf("Descrizione over 255 characters: %q", er.Descrizione)
		}
	}
}
