package active_test

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
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/active"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/testpki"
)

// Mailboxes of the simulated PEC provider.
const (
	pecHubIn    = "fatture-attive@pec.snodo.example" // the hub reads the enti's invoices here
	pecHubOut   = "hub@pec.snodo.example"            // the hub writes to the enti from here
	pecEnte     = "protocollo@pec.a.example"         // ente a's ente.pec
	pecStranger = "chiunque@pec.altro.example"
	pecPass     = "segreta"
)

// TestPECSubmit: the ente sends its invoice by PEC from its own address; the hub
// identifies it by the sender, sends it to the SdI, and answers by PEC: the receipt,
// then each SdI notification. A PEC from an address no ente has is refused and gets no
// answer.
func TestPECSubmit(t *testing.T) {
	ps, err := pecsim.Start(context.Background(), pecsim.Config{Mailboxes: []pecsim.Mailbox{{Address: pecHubIn, Password: pecPass},
		{Address: pecHubOut, Password: pecPass}, {Address: pecEnte, Password: pecPass}, {Address: pecStranger, Password: pecPass}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "pec-ca.pem")
	os.WriteFile(ca, testpki.CertPEM(ps.TLSCA()), 0o644)
	trust := filepath.Join(dir, "gestori")
	os.Mkdir(trust, 0o755)
	os.WriteFile(filepath.Join(trust, "gestore.pem"), testpki.CertPEM(ps.SigningCA()), 0o644)
	route := fmt.Sprintf(`ente: {id: a, name: Comune A, codice_fiscale: "%s", offices: [UFA000], pec: %s}
active:
  submit:
    channel: pec
    url: "imaps://%s/INBOX"
    username: %s
    password: %s
    tls: {ca: %s}
    settings: {trust: %s, poll: 100ms}
  notifications:
    channel: pec
    url: "mailto:%s"
    username: %s
    password: %s
    tls: {ca: %s}
    settings: {smtp: "smtps://%s", imap: "imaps://%s/INBOX", trust: %s}
`, pivaA, pecEnte, ps.IMAPAddr(), pecHubIn, pecPass, ca, trust, pecEnte, pecHubOut, pecPass, ca, ps.SMTPAddr(), ps.IMAPAddr(), trust)
	e := newEnv(t, envOptions{routes: map[string]string{"a": route}, kinds: []*channel.Kind{pecchannel.Kind()}})

	sendPEC(t, ps, pecEnte, pecHubIn, "via-pec.xml", invoice(pivaA, "AAAAAA", "M1"))
	m := e.waitSubmission("a", "via-pec.xml", active.Accettata)
	if m.Header(active.HeaderPECMittente) != pecEnte {
		t.Errorf("PEC-Mittente %q", m.Header(active.HeaderPECMittente))
	}
	id := string(sdiID(t, m))
	want := []string{"Presa in carico - via-pec.xml", "Ricevuta Consegna - Identificativo SDI: " + id, "Notifica Esito - Identificativo SDI: " + id}
	got := waitPECs(t, ps, pecEnte, len(want))
	for _, w := range want {
		env, ok := got[w]
		if !ok {
			t.Errorf("no PEC %q to the ente; got %v", w, keys(got))
			continue
		}
		if len(env.Postacert.Attachments) == 0 {
			t.Errorf("PEC %q without attachments", w)
		}
	}
	if env := got[want[0]]; env != nil {
		r, err := active.ParseOutcome(env.Postacert.Attachments[0].Name, env.Postacert.Attachments[0].Data)
		if err != nil || r.Codice != active.FA00 || r.NomeFile != m.Header(active.HeaderNomeFile) {
			t.Errorf("receipt by PEC: %+v %v", r, err)
		}
	}

	// A stranger: refused (FA03), kept, never answered.
	sendPEC(t, ps, pecStranger, pecHubIn, "estranea.xml", invoice(pivaA, "AAAAAA", "M2"))
	s := e.waitSubmission("a", "estranea.xml", active.RifiutataValidazione)
	if s.Header(active.HeaderCodice) != active.FA03 {
		t.Errorf("stranger: Codice %q", s.Header(active.HeaderCodice))
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(readPECs(t, ps, pecStranger)); n != 0 {
		t.Errorf("the hub wrote %d PECs to a stranger", n)
	}
	if e.received(m.Header(active.HeaderNomeFile)) != 1 {
		t.Errorf("received %d", e.received(m.Header(active.HeaderNomeFile)))
	}
}

func sendPEC(t testing.TB, ps *pecsim.Sim, from, to, name string, data []byte) {
	t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: from, To: []string{to}, Subject: "Invio fattura " + name, Text: "In allegato la fattura.",
		Attachments: []compose.Attachment{{Name: name, Data: data}}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: ps.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: ps.ClientTLS(), Username: from, Password: pecPass}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Submit(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
}

// readPECs returns the certified messages (receipts left out) in a mailbox, by subject.
func readPECs(t testing.TB, ps *pecsim.Sim, user string) map[string]*pecmail.Envelope {
	t.Helper()
	c, err := imapclient.DialTLS(ps.IMAPAddr(), &imapclient.Options{TLSConfig: ps.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pecPass).Wait(); err != nil {
		t.Fatal(err)
	}
	out := map[string]*pecmail.Envelope{}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages == 0 {
		return out
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		env, err := pecmail.Parse(user, m.FindBodySection(section), pecmail.Options{Trust: ps.TrustStore()})
		if err != nil {
			t.Fatalf("%s holds an invalid PEC: %v", user, err)
		}
		if env.Kind == pecmail.KindPostaCertificata {
			subj := strings.TrimPrefix(env.Subject, "POSTA CERTIFICATA: ")
			if os.Getenv("SNODO_TEST_LOG") != "" {
				var names []string
				for _, a := range env.Postacert.Attachments {
					names = append(names, a.Name)
				}
				t.Logf("PEC %q: %v", subj, names)
			}
			out[subj] = env
		}
	}
	return out
}

func waitPECs(t *testing.T, ps *pecsim.Sim, user string, n int) map[string]*pecmail.Envelope {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := readPECs(t, ps, user)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func keys(m map[string]*pecmail.Envelope) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
