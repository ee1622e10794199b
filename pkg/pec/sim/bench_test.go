package sim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/sim"
	"snodo/pkg/testpki"
)

const (
	benchFrom = "protocollo@pec.comune.example.it"
	benchTo   = "sdi01@pec.fatturapa.it"
	benchPass = "segreta"
)

// benchMail is a PEC as the hub sends it: text and a 20 KB invoice.
func benchMail(b *testing.B) []byte {
	inv := bytes.Repeat([]byte("<DettaglioLinee><Descrizione>servizio</Descrizione></DettaglioLinee>\n"), 300)
	raw, _, err := compose.Build(compose.Mail{From: benchFrom, To: []string{benchTo}, Subject: "IT01234567890_00001.xml", Text: "In allegato.",
		Attachments: []compose.Attachment{{Name: "IT01234567890_00001.xml", Data: inv}}})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// fetchAll reads every message of a mailbox's INBOX over one IMAPS connection.
func fetchAll(b *testing.B, addr string, tc *tls.Config, user string) [][]byte {
	c, err := imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tc})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, benchPass).Wait(); err != nil {
		b.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: sel.NumMessages}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		b.Fatal(err)
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.FindBodySection(section))
	}
	return out
}

// BenchmarkRoundTrip sends messages from one mailbox to another and reads them back,
// two ways interleaved in 10 rounds so that both see the same machine load:
//   - pec: through the simulator (access point checks, signed busta di trasporto,
//     accettazione and avvenuta-consegna receipts), then the recipient's envelopes and
//     the sender's receipts fetched over IMAPS and parsed with pec.Parse, signatures
//     verified against the trust store;
//   - bare, the limit: the same submission (SMTPS, AUTH PLAIN, one connection per
//     message) and fetch with go-smtp and go-imap's in-memory server alone: no PEC
//     wrapping, no receipts, no parsing.
//
// b.N counts messages per way. Metrics: pec-msgs/s, bare-msgs/s and their ratio.
func BenchmarkRoundTrip(b *testing.B) {
	raw := benchMail(b)
	const rounds = 10
	per := max(b.N/rounds, 1)
	var pecT, bareT time.Duration
	for range rounds {
		pecT += pecRound(b, raw, per)
		bareT += bareRound(b, raw, per)
	}
	n := float64(per * rounds)
	b.ReportMetric(n/pecT.Seconds(), "pec-msgs/s")
	b.ReportMetric(n/bareT.Seconds(), "bare-msgs/s")
	b.ReportMetric(bareT.Seconds()/pecT.Seconds(), "pec/bare")
}

func pecRound(b *testing.B, raw []byte, n int) time.Duration {
	s, err := sim.Start(context.Background(), sim.Config{Mailboxes: []sim.Mailbox{{Address: benchFrom, Password: benchPass}, {Address: benchTo, Password: benchPass}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: s.SMTPAddr(), Security: mailbox.ImplicitTLS,
		TLS: s.ClientTLS(), Username: benchFrom, Password: benchPass}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	trust := s.TrustStore()
	start := time.Now()
	for range n {
		if _, err := sub.Submit(context.Background(), raw); err != nil {
			b.Fatal(err)
		}
	}
	envs := fetchAll(b, s.IMAPAddr(), s.ClientTLS(), benchTo)
	receipts := fetchAll(b, s.IMAPAddr(), s.ClientTLS(), benchFrom)
	for _, m := range append(envs, receipts...) {
		if _, err := pec.Parse("bench", m, pec.Options{Trust: trust}); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	if len(envs) != n || len(receipts) != 2*n {
		b.Fatalf("%d envelopes and %d receipts for %d messages", len(envs), len(receipts), n)
	}
	return el
}

func bareRound(b *testing.B, raw []byte, n int) time.Duration {
	addrSMTP, addrIMAP, tc, stop := bareServers(b)
	defer stop()
	start := time.Now()
	for range n {
		c, err := smtp.DialTLS(addrSMTP, tc)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Auth(sasl.NewPlainClient("", benchFrom, benchPass)); err != nil {
			b.Fatal(err)
		}
		if err := c.SendMail(benchFrom, []string{benchTo}, bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
		c.Quit()
	}
	msgs := fetchAll(b, addrIMAP, tc, benchTo)
	el := time.Since(start)
	if len(msgs) != n {
		b.Fatalf("%d messages for %d", len(msgs), n)
	}
	return el
}

// bareServers runs go-smtp and go-imap's in-memory server on TLS, delivering every
// submission as it is into the recipient's INBOX.
func bareServers(b *testing.B) (smtpAddr, imapAddr string, client *tls.Config, stop func()) {
	ca := testpki.MustCA("bench")
	srv, err := ca.Server("127.0.0.1", testpki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	stc := &tls.Config{Certificates: []tls.Certificate{srv.TLS()}}
	mem := imapmemserver.New()
	var to *imapmemserver.User
	for _, a := range []string{benchFrom, benchTo} {
		u := imapmemserver.NewUser(a, benchPass)
		u.Create("INBOX", nil)
		mem.AddUser(u)
		if a == benchTo {
			to = u
		}
	}
	is := imapserver.New(&imapserver.Options{NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
		return mem.NewSession(), nil, nil
	}, Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}, Logger: discard{}})
	iln, err := tls.Listen("tcp", "127.0.0.1:0", stc)
	if err != nil {
		b.Fatal(err)
	}
	go is.Serve(iln)
	ss := smtp.NewServer(bareBackend{to})
	ss.ErrorLog = discard{}
	ss.MaxMessageBytes = 64 << 20
	sln, err := tls.Listen("tcp", "127.0.0.1:0", stc)
	if err != nil {
		b.Fatal(err)
	}
	go ss.Serve(sln)
	return sln.Addr().String(), iln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"},
		func() { ss.Close(); sln.Close(); is.Close(); iln.Close() }
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}

type bareBackend struct{ to *imapmemserver.User }

func (be bareBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &bareSession{to: be.to}, nil
}

type bareSession struct{ to *imapmemserver.User }

func (s *bareSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *bareSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error { return nil }), nil
}
func (s *bareSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *bareSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *bareSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, err = s.to.Append("INBOX", bytes.NewReader(b), &imap.AppendOptions{Time: time.Now()})
	return err
}
func (s *bareSession) Reset()        {}
func (s *bareSession) Logout() error { return nil }
