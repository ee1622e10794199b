package pecfront_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/mailbox"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/pec/smime"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/sdi/sim/pecfront"
	"snodo/pkg/testpki"
)

const (
	sdi01 = "sdi01@pec.fatturapa.it"
	sdi02 = "sdi02@pec.fatturapa.it"
	tx    = "trasmittente@pec.ente.example" // a transmitter (and, for the passive cycle, a recipient)
	pass  = "segreta"
)

// rig is the simulated SdI behind its PEC front-end, on the PEC provider simulator.
type rig struct {
	t     *testing.T
	pec   *pecsim.Sim
	sim   atomic.Pointer[sim.Sim]
	front *pecfront.Front
}

func newRig(t *testing.T, recipients map[string]string) *rig {
	t.Helper()
	r := &rig{t: t}
	ps, err := pecsim.Start(context.Background(), pecsim.Config{Mailboxes: []pecsim.Mailbox{{Address: sdi01, Password: pass},
		{Address: sdi02, Password: pass}, {Address: tx, Password: pass}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	r.pec = ps
	ca := testpki.MustCA("CA di prova pecfront")
	srvCert, err := ca.Server("127.0.0.1", testpki.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	serve := func(h http.Handler) string {
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert.TLS()}, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	simURL := serve(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.sim.Load().Handler().ServeHTTP(w, req) }))
	var fh atomic.Pointer[http.Handler]
	frontURL := serve(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { (*fh.Load()).ServeHTTP(w, req) }))
	front, err := pecfront.New(pecfront.Config{SMTPAddr: ps.SMTPAddr(), IMAPAddr: ps.IMAPAddr(), TLS: ps.ClientTLS(), Trust: ps.TrustStore(),
		Boxes:         []pecfront.Box{{Address: sdi01, Password: pass}, {Address: sdi02, Password: pass}},
		RiceviFileURL: simURL + "/SdIRiceviFile", RiceviNotificaURL: simURL + "/SdIRiceviNotifica", HTTP: hc,
		Recipients: recipients, ReceiptTimeout: 5 * time.Second, Poll: 100 * time.Millisecond, Simulazione: true, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := front.Handler()
	fh.Store(&h)
	r.front = front
	s, err := sim.New(sim.Config{TrasmissioneURL: frontURL + "/TrasmissioneFatture", RicezioneURL: frontURL + "/RicezioneFatture", HTTP: hc,
		Timing: sim.Timing{Notify: 5 * time.Millisecond, EC: 20 * time.Millisecond, DT: time.Hour, Retry: 50 * time.Millisecond}, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r.sim.Store(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- front.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func logger(t *testing.T) *slog.Logger {
	if os.Getenv("SNODO_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// send sends a PEC from the transmitter to box.
func (r *rig) send(box, subject string, files ...compose.Attachment) {
	r.t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: tx, To: []string{box}, Subject: subject, Text: "prova", Attachments: files})
	if err != nil {
		r.t.Fatal(err)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: r.pec.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: r.pec.ClientTLS(), Username: tx, Password: pass}}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := sub.Submit(context.Background(), raw); err != nil {
		r.t.Fatal(err)
	}
}

// waitPEC waits for a certified message whose subject starts with prefix in the
// transmitter's INBOX.
func (r *rig) waitPEC(prefix string) *pec.Envelope {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var subjects []string
	for time.Now().Before(deadline) {
		subjects = nil
		for _, e := range r.inbox() {
			if e.Kind != pec.KindPostaCertificata || e.Postacert == nil {
				continue
			}
			subjects = append(subjects, e.Postacert.Subject)
			if strings.HasPrefix(e.Postacert.Subject, prefix) {
				return e
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	r.t.Fatalf("no PEC %q in %s; got %q", prefix, tx, subjects)
	return nil
}

func (r *rig) inbox() []*pec.Envelope {
	r.t.Helper()
	c, err := imapclient.DialTLS(r.pec.IMAPAddr(), &imapclient.Options{TLSConfig: r.pec.ClientTLS()})
	if err != nil {
		r.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(tx, pass).Wait(); err != nil {
		r.t.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		r.t.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	sec := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		r.t.Fatal(err)
	}
	var out []*pec.Envelope
	for _, m := range msgs {
		e, err := pec.Parse("inbox", m.FindBodySection(sec), pec.Options{Trust: r.pec.TrustStore()})
		if e != nil && err == nil {
			out = append(out, e)
		}
	}
	return out
}

func (r *rig) event(what string, match func(pecfront.Event) bool) pecfront.Event {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := r.front.WaitFor(ctx, match)
	if err != nil {
		r.t.Fatalf("%s: %v; events %+v", what, err, r.front.Events())
	}
	return ev
}

var template = func() []byte {
	b, err := os.ReadFile("../../../../testdata/active/fattura.xml")
	if err != nil {
		panic(err)
	}
	return b
}()

func invoice(codice, n string) []byte {
	return []byte(strings.NewReplacer("{{CEDENTE}}", "80012345676", "{{DESTINATARIO}}", codice, "{{NUMERO}}", n, "{{DATA}}", "2025-03-14").
		Replace(string(template)))
}

func attachment(e *pec.Envelope) pec.Attachment {
	if len(e.Postacert.Attachments) != 1 {
		panic(fmt.Sprintf("%d attachments", len(e.Postacert.Attachments)))
	}
	return e.Postacert.Attachments[0]
}

func TestFrontTransmitter(t *testing.T) {
	r := newRig(t, nil)
	assigned := r.front.Assigned(tx)
	if assigned != sdi02 {
		t.Fatalf("assigned %s: with two boxes the second answers", assigned)
	}

	t.Run("invoice: RC then NE from the assigned box", func(t *testing.T) {
		r.send(sdi01, "IT80012345676_00001.xml", compose.Attachment{Name: "IT80012345676_00001.xml", Data: invoice("AAAAAA", "1")})
		rf := r.event("RiceviFile", func(e pecfront.Event) bool { return e.Azione == "RiceviFile" && e.File == "IT80012345676_00001.xml" })
		if rf.Casella != sdi01 || rf.Err != "" || rf.IdentificativoSdI == "" {
			t.Fatalf("%+v", rf)
		}
		for _, tc := range []struct {
			subject string
			tipo    sdi.Tipo
		}{{"Ricevuta di consegna", sdi.RC}, {"Notifica esito", sdi.NE}} {
			e := r.waitPEC(tc.subject + " " + string(rf.IdentificativoSdI) + " (SIMULAZIONE)")
			if e.Daticert.Mittente != assigned {
				t.Fatalf("%s from %s, want %s", tc.tipo, e.Daticert.Mittente, assigned)
			}
			a := attachment(e)
			m, err := sdi.Parse(a.Name, a.Data)
			if err != nil || m.Tipo != tc.tipo || m.Body.Identificativo() != rf.IdentificativoSdI {
				t.Fatalf("%s: %v", a.Name, err)
			}
		}
	})

	t.Run("the SdI out of service: the PEC is handed over again", func(t *testing.T) {
		r.sim.Load().Unavailable("RiceviFile", 1)
		r.send(sdi02, "IT80012345676_00002.xml", compose.Attachment{Name: "IT80012345676_00002.xml", Data: invoice("EEEEEE", "2")})
		ok := r.event("RiceviFile", func(e pecfront.Event) bool {
			return e.Azione == "RiceviFile" && e.File == "IT80012345676_00002.xml" && e.Err == ""
		})
		if ok.Casella != sdi02 {
			t.Fatalf("%+v", ok)
		}
		failed, arrived := 0, 0
		for _, e := range r.front.Events() {
			if e.Azione == "RiceviFile" && e.File == "IT80012345676_00002.xml" && strings.Contains(e.Err, "EI02") {
				failed++
			}
			if e.Azione == "PEC" && e.File == "IT80012345676_00002.xml" {
				arrived++
			}
		}
		if failed != 1 || arrived != 1 {
			t.Fatalf("%d EI02 attempts, %d arrivals; want 1 and 1", failed, arrived)
		}
		e := r.waitPEC("Notifica di scarto " + string(ok.IdentificativoSdI))
		if a := attachment(e); !strings.HasSuffix(a.Name, "_NS_001.xml") {
			t.Fatalf("NS attached as %s", a.Name)
		}
	})

	t.Run("two files in one PEC: refused with a plain reply", func(t *testing.T) {
		r.send(sdi01, "due file", compose.Attachment{Name: "IT80012345676_00003.xml", Data: invoice("AAAAAA", "3")},
			compose.Attachment{Name: "IT80012345676_00004.xml", Data: invoice("AAAAAA", "4")})
		e := r.waitPEC("Messaggio non elaborato: due file")
		if len(e.Postacert.Attachments) != 0 || !strings.Contains(e.Postacert.Text, "un solo file") {
			t.Fatalf("reply %q with %d attachments", e.Postacert.Text, len(e.Postacert.Attachments))
		}
	})

	t.Run("an SdI message instead of an invoice: refused", func(t *testing.T) {
		r.send(sdi01, "un RC", compose.Attachment{Name: "IT80012345676_00001_RC_001.xml", Data: []byte("<x/>")})
		r.waitPEC("Messaggio non elaborato: un RC")
	})
}

func TestFrontRecipient(t *testing.T) {
	r := newRig(t, map[string]string{"UFA000": tx})
	ctx := context.Background()
	fpa01, err := os.ReadFile("../../../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
	if err != nil {
		t.Fatal(err)
	}
	ecFor := func(id sdi.IdentificativoSdI, esito string) []byte {
		b, err := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: esito,
			RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: "123", AnnoFattura: 2017}, MessageIdCommittente: "E1"}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("invoice delivered with its MT after a failed delivery; EC01 accepted, no answer", func(t *testing.T) {
		r.pec.SetFault(tx, pecsim.Fault{Kind: pecsim.FaultErroreConsegna, Times: 1})
		id, err := r.sim.Load().DeliverInvoice(ctx, "IT01234567890_FPA01.xml", fpa01, "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		e := r.waitPEC("Invio File " + string(id))
		if e.Daticert.Mittente != r.front.Assigned(tx) || len(e.Postacert.Attachments) != 2 {
			t.Fatalf("from %s with %d attachments", e.Daticert.Mittente, len(e.Postacert.Attachments))
		}
		mt := e.Postacert.Attachments[1]
		m, err := sdi.Parse(mt.Name, mt.Data)
		if err != nil || m.Body.(*sdi.MetadatiInvioFile).TentativiInvio != 2 {
			t.Fatalf("MT %s: %v (the first attempt failed, the second is the delivery)", mt.Name, err)
		}
		r.send(r.front.Assigned(tx), "esito", compose.Attachment{Name: "IT01234567890_FPA01_EC_001.xml", Data: ecFor(id, sdi.EC01)})
		ev := r.event("EC", func(e pecfront.Event) bool { return e.Azione == "NotificaEsito" && e.IdentificativoSdI == id })
		if ev.Dettaglio != "ES01 EC01" {
			t.Fatalf("%+v", ev)
		}
		// A second EC for the same invoice: ES00 EN01, an SE by PEC.
		r.send(r.front.Assigned(tx), "esito bis", compose.Attachment{Name: "IT01234567890_FPA01_EC_002.xml", Data: ecFor(id, sdi.EC02)})
		se := r.waitPEC("Notifica di scarto esito committente " + string(id))
		a := attachment(se)
		m, err = sdi.Parse(a.Name, a.Data)
		if err != nil || m.Body.(*sdi.ScartoEsitoCommittente).Scarto != sdi.EN01 {
			t.Fatalf("SE %s: %v", a.Name, err)
		}
		// The DT goes where the invoice went.
		if err := r.sim.Load().FireDT(ctx, id); err == nil {
			t.Fatal("DT fired after an accepted EC")
		}
	})

	t.Run("a non-conforming EC: SE EN00 made by the front-end", func(t *testing.T) {
		id, err := r.sim.Load().DeliverInvoice(ctx, "IT01234567890_FPA02.xml", fpa01, "UFA000")
		if err != nil {
			t.Fatal(err)
		}
		r.waitPEC("Invio File " + string(id))
		bad := strings.Replace(string(ecFor(id, sdi.EC01)), "EC01", "EC09", 1)
		r.send(sdi01, "esito", compose.Attachment{Name: "IT01234567890_FPA02_EC_001.xml", Data: []byte(bad)})
		se := r.waitPEC("Notifica di scarto esito committente " + string(id))
		a := attachment(se)
		m, err := sdi.Parse(a.Name, a.Data)
		if err != nil || m.Body.(*sdi.ScartoEsitoCommittente).Scarto != sdi.EN00 || a.Name != "IT01234567890_FPA02_SE_001.xml" {
			t.Fatalf("SE %s: %v", a.Name, err)
		}
		if err := r.sim.Load().FireDT(ctx, id); err != nil {
			t.Fatal(err)
		}
		r.waitPEC("Notifica di decorrenza termini " + string(id))
	})

	t.Run("an office without a PEC address: not delivered", func(t *testing.T) {
		id, err := r.sim.Load().DeliverInvoice(ctx, "IT01234567890_FPA03.xml", fpa01, "ZZZZZZ")
		if err == nil {
			t.Fatal("delivered to an office without an address")
		}
		ev := r.event("refused delivery", func(e pecfront.Event) bool { return e.Azione == "Invio" && e.IdentificativoSdI == id })
		if !strings.Contains(ev.Err, "ZZZZZZ") {
			t.Fatalf("%+v", ev)
		}
	})
}

func TestNewRefusesABadConfiguration(t *testing.T) {
	good := pecfront.Config{SMTPAddr: "127.0.0.1:1", IMAPAddr: "127.0.0.1:2", RiceviFileURL: "https://x/a", RiceviNotificaURL: "https://x/b",
		Boxes: []pecfront.Box{{Address: sdi01, Password: pass}}}
	for name, tc := range map[string]struct {
		mod  func(c *pecfront.Config)
		want string
	}{
		"no box":      {func(c *pecfront.Config) { c.Boxes = nil }, "nessuna casella"},
		"no password": {func(c *pecfront.Config) { c.Boxes = []pecfront.Box{{Address: sdi01}} }, "password"},
		"twice": {func(c *pecfront.Config) {
			c.Boxes = append(c.Boxes, pecfront.Box{Address: "SDI01@pec.fatturapa.it", Password: "x"})
		}, "ripetuta"},
		"no servers":   {func(c *pecfront.Config) { c.SMTPAddr = "" }, "SMTPAddr"},
		"no simulator": {func(c *pecfront.Config) { c.RiceviFileURL = "" }, "RiceviFileURL"},
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			c.Boxes = append([]pecfront.Box(nil), good.Boxes...)
			tc.mod(&c)
			if _, err := pecfront.New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if f, err := pecfront.New(good); err != nil || f.Assigned("chiunque@x.it") != sdi01 || f.Public() != sdi01 {
		t.Fatalf("one box answers everyone: %v", err)
	}
}

// FuzzReadInbound: whatever arrives at an SdI box, reading it never panics, and what
// is read as a request has a sender and at most one file.
func FuzzReadInbound(f *testing.F) {
	ca := testpki.MustCA("CA fuzz")
	iss, err := ca.Signing("Gestore fuzz", testpki.Options{Email: []string{"posta-certificata@pec.fuzz.example"}})
	if err != nil {
		f.Fatal(err)
	}
	p := &gestore.Provider{Name: "Gestore fuzz", Domain: "pec.fuzz.example", Signer: smime.Signer{Cert: iss.Cert, Key: iss.Key, Chain: iss.Chain}}
	raw, _, err := compose.Build(compose.Mail{From: tx, To: []string{sdi01}, Subject: "fattura",
		Attachments: []compose.Attachment{{Name: "IT80012345676_00001.xml", Data: invoice("AAAAAA", "1")}}})
	if err != nil {
		f.Fatal(err)
	}
	o, err := gestore.ReadOriginal(raw)
	if err != nil {
		f.Fatal(err)
	}
	env, err := p.Envelope(o, p.NewIdentificativo())
	if err != nil {
		f.Fatal(err)
	}
	rcpt, err := p.Receipt(o, gestore.Receipt{Tipo: daticert.AvvenutaConsegna, Identificativo: "x@pec.fuzz.example", Consegna: sdi01})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add(rcpt)
	f.Add(raw)
	f.Add([]byte("From: a@b\r\n\r\n"))
	trust := smime.NewTrustStore(ca.Cert)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, e, err := pecfront.ReadInbound("fuzz", b, pec.Options{Trust: trust, MaxSize: 1 << 20})
		if in == nil {
			return
		}
		if err != nil || e == nil {
			t.Fatalf("request with err %v", err)
		}
		if in.From == "" || (in.File != nil) != (in.Files == 1) {
			t.Fatalf("request %+v", in)
		}
	})
}
