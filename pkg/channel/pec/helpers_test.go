package pec

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"snodo/pkg/channel"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/sim"
	"snodo/pkg/testpki"
)

// Mailboxes of the test provider.
const (
	hubOut  = "hub-out@pec.snodo.example" // the hub sends from here (and reads its receipts)
	hubIn   = "hub-in@pec.snodo.example"  // the hub reads inbound PEC here
	ente    = "protocollo@pec.comune.example.it"
	peer    = "peer@pec.comune.example.it" // someone who writes to the hub
	sdi01   = "sdi01@pec.fatturapa.it"
	sdi23   = "sdi23@pec.fatturapa.it"
	pass    = "segreta"
	waitFor = 20 * time.Second
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// env is a running simulator with its certificates on disk, as a route file names them.
type env struct {
	sim      *sim.Sim
	tlsCA    string // file
	trustDir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s, err := sim.Start(context.Background(), sim.Config{Logger: testLogger(), Mailboxes: []sim.Mailbox{
		{Address: hubOut, Password: pass}, {Address: hubIn, Password: pass}, {Address: ente, Password: pass},
		{Address: peer, Password: pass}, {Address: sdi01, Password: pass}, {Address: sdi23, Password: pass}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	ca := filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(ca, testpki.CertPEM(s.TLSCA()), 0o644); err != nil {
		t.Fatal(err)
	}
	trust := filepath.Join(dir, "trust")
	os.Mkdir(trust, 0o755)
	if err := os.WriteFile(filepath.Join(trust, "gestore.pem"), testpki.CertPEM(s.SigningCA()), 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{sim: s, tlsCA: ca, trustDir: trust}
}

func (e *env) senderEndpoint(t *testing.T, to string, set *Settings) *channel.Endpoint {
	t.Helper()
	if set == nil {
		set = &Settings{}
	}
	if set.SMTP == "" {
		set.SMTP = "smtps://" + e.sim.SMTPAddr()
	}
	ep := &channel.Endpoint{Name: "comune-a/passive.protocol", Kind: "pec", URL: &url.URL{Scheme: "mailto", Opaque: to},
		Username: hubOut, Password: pass, TLS: channel.TLS{CAFile: e.tlsCA}, Settings: set}
	if err := set.Check(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

func (e *env) receiverEndpoint(t *testing.T, user string, set *Settings) *channel.Endpoint {
	t.Helper()
	if set == nil {
		set = &Settings{}
	}
	if set.Trust == "" {
		set.Trust = e.trustDir
	}
	if set.Poll == 0 {
		set.Poll = 100 * time.Millisecond
	}
	u, _ := url.Parse("imaps://" + e.sim.IMAPAddr() + "/INBOX")
	ep := &channel.Endpoint{Name: "comune-a/passive.outcome", Kind: "pec", URL: u, Username: user, Password: pass,
		TLS: channel.TLS{CAFile: e.tlsCA}, Settings: set}
	if err := set.Check(ep); err != nil {
		t.Fatal(err)
	}
	return ep
}

// send submits a PEC from one simulator mailbox to another, with attachments.
func (e *env) send(t *testing.T, from, to string, atts ...compose.Attachment) string {
	t.Helper()
	raw, id, err := compose.Build(compose.Mail{From: from, To: []string{to}, Subject: "Invio", Text: "In allegato.", Attachments: atts})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: e.sim.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: e.sim.ClientTLS(), Username: from, Password: pass}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Submit(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	return id
}

type folderMsg struct {
	flags []imap.Flag
	raw   []byte
}

// folder lists a folder of a mailbox.
func (e *env) folder(t *testing.T, user, name string) []folderMsg {
	t.Helper()
	c, err := imapclient.DialTLS(e.sim.IMAPAddr(), &imapclient.Options{TLSConfig: e.sim.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(name, nil).Wait()
	if err != nil || sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(seqs(sel.NumMessages)...), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []folderMsg
	for _, m := range msgs {
		out = append(out, folderMsg{flags: m.Flags, raw: m.FindBodySection(section)})
	}
	return out
}

func seqs(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

func processed(m folderMsg) bool {
	for _, f := range m.flags {
		if strings.EqualFold(string(f), string(mailbox.KeywordProcessed)) || strings.EqualFold(string(f), string(mailbox.KeywordQuarantined)) {
			return true
		}
	}
	return false
}

// envelopes parses the PEC envelopes in a folder (receipts left out), with their
// attachments.
func (e *env) envelopes(t *testing.T, user string) []*pecmail.Envelope {
	t.Helper()
	var out []*pecmail.Envelope
	for _, m := range e.folder(t, user, "INBOX") {
		env, err := pecmail.Parse("target", m.raw, pecmail.Options{Trust: e.sim.TrustStore()})
		if err != nil {
			t.Fatalf("target holds an invalid PEC: %v", err)
		}
		if env.Kind == pecmail.KindPostaCertificata {
			out = append(out, env)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
