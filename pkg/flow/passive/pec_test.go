package passive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"snodo/pkg/channel"
	"snodo/pkg/channel/pec"
	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/testpki"
)

// PEC mailboxes of the test provider.
const (
	pecHubOut = "hub-out@pec.snodo.example"          // the hub sends from here and reads its receipts
	pecHubIn  = "hub-in@pec.snodo.example"           // the hub reads the ente's ECs here
	pecEnte   = "protocollo@pec.comune-p.example.it" // the ente's protocol mailbox
	pecPass   = "segreta"
)

// pecProvider is the PEC provider simulator with its CA files on disk.
type pecProvider struct {
	sim      *pecsim.Sim
	tlsCA    string
	trustDir string
}

func newPECProvider(t *testing.T) *pecProvider {
	t.Helper()
	s, err := pecsim.Start(context.Background(), pecsim.Config{Mailboxes: []pecsim.Mailbox{
		{Address: pecHubOut, Password: pecPass}, {Address: pecHubIn, Password: pecPass}, {Address: pecEnte, Password: pecPass}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	p := &pecProvider{sim: s, tlsCA: filepath.Join(dir, "pec-ca.pem"), trustDir: filepath.Join(dir, "trust")}
	os.WriteFile(p.tlsCA, testpki.CertPEM(s.TLSCA()), 0o644)
	os.Mkdir(p.trustDir, 0o755)
	os.WriteFile(filepath.Join(p.trustDir, "gestore.pem"), testpki.CertPEM(s.SigningCA()), 0o644)
	return p
}

func (p *pecProvider) route() string {
	out := fmt.Sprintf(`{channel: pec, url: "mailto:%s", username: %s, password: %s, tls: {ca: %q}, settings: {smtp: "smtps://%s", imap: "imaps://%s/INBOX", trust: %q, poll: 100ms}}`,
		pecEnte, pecHubOut, pecPass, p.tlsCA, p.sim.SMTPAddr(), p.sim.IMAPAddr(), p.trustDir)
	in := fmt.Sprintf(`{channel: pec, url: "imaps://%s/INBOX", username: %s, password: %s, tls: {ca: %q}, settings: {trust: %q, poll: 100ms}}`,
		p.sim.IMAPAddr(), pecHubIn, pecPass, p.tlsCA, p.trustDir)
	return fmt.Sprintf(`ente: {id: p, name: Comune P, codice_fiscale: "00000000000", offices: [UFP000], pec: %s}
passive:
  protocol: %s
  notifications: %s
  outcome: %s
`, pecEnte, out, out, in)
}

// inbox returns the PEC messages (buste di trasporto) in the ente's mailbox.
func (p *pecProvider) inbox(t *testing.T) []*pecmail.Envelope {
	t.Helper()
	c, err := imapclient.DialTLS(p.sim.IMAPAddr(), &imapclient.Options{TLSConfig: p.sim.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(pecEnte, pecPass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []*pecmail.Envelope
	for _, m := range msgs {
		env, err := pecmail.Parse("casella dell'ente", m.FindBodySection(section), pecmail.Options{Trust: p.sim.TrustStore()})
		if err != nil {
			t.Fatalf("the ente got an invalid PEC: %v", err)
		}
		if env.Kind == pecmail.KindPostaCertificata {
			out = append(out, env)
		}
	}
	return out
}

func (p *pecProvider) waitPEC(t *testing.T, subject string) *pecmail.Envelope {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, env := range p.inbox(t) {
			if strings.Contains(env.Postacert.Subject, subject) {
				return env
			}
		}
	}
	t.Fatalf("no PEC with subject %q in the ente's mailbox", subject)
	return nil
}

// sendEC is the ente's system sending its EC to the hub by PEC.
func (p *pecProvider) sendEC(t *testing.T, name string, ec []byte) {
	t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: pecEnte, To: []string{pecHubIn}, Subject: "Esito " + name, Text: "In allegato l'esito.",
		Attachments: []compose.Attachment{{Name: name, Data: ec}}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: p.sim.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: p.sim.ClientTLS(), Username: pecEnte, Password: pecPass}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Submit(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

// An ente on PEC: the invoice arrives by PEC with the subject IntermediaMarche's enti
// know, the MT and the HTML rendering; its EC comes back by PEC and goes to the SdI;
// the DT of another invoice goes to it by PEC.
func TestEnteOnPEC(t *testing.T) {
	p := newPECProvider(t)
	e := newEnv(t, envOptions{kinds: []*channel.Kind{pec.Kind()}, routes: map[string]string{"p": p.route()}})

	id := e.deliver("IT01234567890_E0001.xml", invoiceFor("UFP000", "E1"), "UFP000")
	env := p.waitPEC(t, string(id)+" - IT01234567890_E0001.xml - Fattura ALPHA SRL - Data Ricezione SDI ")
	var names []string
	for _, a := range env.Postacert.Attachments {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "IT01234567890_E0001.xml,IT01234567890_E0001_MT_001.xml,IT01234567890_E0001.html" {
		t.Fatalf("attachments %v", names)
	}
	inv := e.waitState(id, passive.Consegnata)
	// The delivery completes with the ente provider's receipt.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		jobs, _ := e.store().Jobs(context.Background(), inv.ID)
		done := false
		for _, j := range jobs {
			done = done || j.Handler == passive.HandlerDeliver && j.State == "done"
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the PEC delivery is not completed by its receipt:\n%s", e.timeline(inv.ID))
		}
	}

	p.sendEC(t, "IT01234567890_E0001_EC_001.xml", ecFile(t, id, sdi.EC01, "E1", 2017))
	ev := e.simEvent("EC at the SdI", func(ev sim.Event) bool { return ev.Azione == "NotificaEsito" && ev.IdentificativoSdI == id })
	if ev.Dettaglio != "ES01 EC01" {
		t.Fatalf("the SdI answered %s %s", ev.Dettaglio, ev.Err)
	}
	if inv := e.waitState(id, passive.EsitoAccettato); inv.Header(passive.HeaderEsito) != sdi.EC01 {
		t.Fatalf("EsitoCommittente %q", inv.Header(passive.HeaderEsito))
	}

	id2 := e.deliver("IT01234567890_E0002.xml", invoiceFor("UFP000", "E2"), "UFP000")
	e.waitState(id2, passive.Consegnata)
	if err := e.sim.Load().FireDT(context.Background(), id2); err != nil {
		t.Fatal(err)
	}
	dt := p.waitPEC(t, string(id2)+" - IT01234567890_E0002.xml - Decorrenza Termini ALPHA SRL")
	if len(dt.Postacert.Attachments) != 1 || dt.Postacert.Attachments[0].Name != "IT01234567890_E0002_DT_001.xml" {
		t.Fatalf("DT PEC attachments %+v", dt.Postacert.Attachments)
	}
	e.waitState(id2, passive.DecorrenzaTermini)
	ec := e.waitMessage("the EC by PEC", func(m *message.Message) bool { return m.FileName == "IT01234567890_E0001_EC_001.xml" })
	if ec.Ente != "p" || ec.State != passive.EsitoAccettato {
		t.Fatalf("EC message %s %s", ec.Ente, ec.State)
	}
}
