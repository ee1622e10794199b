package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/pec/sim"
)

const (
	ente     = "protocollo@pec.comune.example.it"
	entePass = "segreta-ente"
	sdi      = "sdi01@pec.fatturapa.it"
	sdiPass  = "segreta-sdi"
)

func logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startSim(t testing.TB, mod func(*sim.Config)) *sim.Sim {
	t.Helper()
	cfg := sim.Config{Mailboxes: []sim.Mailbox{{Address: ente, Password: entePass}, {Address: sdi, Password: sdiPass}}, Logger: logger(t)}
	if mod != nil {
		mod(&cfg)
	}
	s, err := sim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func endpoint(s *sim.Sim, addr, user, pass string) mailbox.Endpoint {
	return mailbox.Endpoint{Addr: addr, Security: mailbox.Security(s.Security()), TLS: s.ClientTLS(), Username: user, Password: pass, DialTimeout: 5 * time.Second}
}

func submitter(t testing.TB, s *sim.Sim, user, pass string) *mailbox.Submitter {
	t.Helper()
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: endpoint(s, s.SMTPAddr(), user, pass), Timeout: 10 * time.Second}, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func mail(t testing.TB, from string, to ...string) []byte {
	t.Helper()
	raw, _, err := compose.Build(compose.Mail{From: from, To: to, Subject: "Invio file IT01234567890_00001.xml", Text: "In allegato.",
		Attachments: []compose.Attachment{pectest.Invoice}})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// store is a handler's committed state: what a hub's store would hold.
type store struct {
	mu      sync.Mutex
	byKey   map[string]*mailbox.Delivery
	calls   []*mailbox.Delivery
	failFor func(d *mailbox.Delivery) error
	after   func(d *mailbox.Delivery) // runs after commit, before returning
}

func newStore() *store { return &store{byKey: map[string]*mailbox.Delivery{}} }

func (s *store) handle(ctx context.Context, d *mailbox.Delivery) error {
	s.mu.Lock()
	s.calls = append(s.calls, d)
	fail := s.failFor
	s.mu.Unlock()
	if fail != nil {
		if err := fail(d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if _, dup := s.byKey[d.Key()]; !dup {
		s.byKey[d.Key()] = d
	}
	after := s.after
	s.mu.Unlock()
	if after != nil {
		after(d)
	}
	return nil
}

func (s *store) known(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byKey[id]
	return ok, nil
}

func (s *store) count() (committed, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey), len(s.calls)
}

func (s *store) all() []*mailbox.Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*mailbox.Delivery
	for _, d := range s.byKey {
		out = append(out, d)
	}
	return out
}

func consumer(t testing.TB, s *sim.Sim, user, pass string, st *store, mod func(*mailbox.IMAPConfig)) (*mailbox.Consumer, context.CancelFunc, chan struct{}) {
	t.Helper()
	cfg := mailbox.IMAPConfig{Endpoint: endpoint(s, s.IMAPAddr(), user, pass), PollInterval: 200 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := mailbox.NewConsumer(cfg, st.handle, logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c, cancel, done
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parsed returns the committed messages parsed as PEC, by kind.
func parsed(t testing.TB, s *sim.Sim, st *store) map[pec.Kind][]*pec.Envelope {
	t.Helper()
	out := map[pec.Kind][]*pec.Envelope{}
	for _, d := range st.all() {
		e, err := pec.Parse(fmt.Sprintf("UID %d", d.UID), d.Raw, pec.Options{Trust: s.TrustStore()})
		if err != nil {
			t.Fatalf("UID %d: %v", d.UID, err)
		}
		out[e.Kind] = append(out[e.Kind], e)
	}
	return out
}

// imapFlags lists the messages of a folder: Message-ID → flags.
func imapFlags(t testing.TB, s *sim.Sim, user, pass, folder string) map[string][]imap.Flag {
	t.Helper()
	flags, _ := imapFolder(t, s, user, pass, folder)
	return flags
}

// imapFolder lists the messages of a folder: Message-ID → flags and → raw bytes.
func imapFolder(t testing.TB, s *sim.Sim, user, pass, folder string) (map[string][]imap.Flag, map[string][]byte) {
	t.Helper()
	opts := &imapclient.Options{TLSConfig: s.ClientTLS()}
	var c *imapclient.Client
	var err error
	switch s.Security() {
	case sim.ImplicitTLS:
		c, err = imapclient.DialTLS(s.IMAPAddr(), opts)
	case sim.StartTLS:
		c, err = imapclient.DialStartTLS(s.IMAPAddr(), opts)
	default:
		c, err = imapclient.DialInsecure(s.IMAPAddr(), opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(folder, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	out, bodies := map[string][]imap.Flag{}, map[string][]byte{}
	if sel.NumMessages == 0 {
		return out, bodies
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(seq(sel.NumMessages)...), &imap.FetchOptions{Flags: true, Envelope: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		id := pec.NormalizeMessageID(m.Envelope.MessageID)
		out[id] = m.Flags
		bodies[id] = m.FindBodySection(section)
	}
	return out, bodies
}

func seq(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i + 1)
	}
	return out
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// TestSendReceiveOverEverySecurityMode: submit → accettazione + avvenuta-consegna to the
// sender, busta di trasporto with the invoice to the recipient, over SMTPS/IMAPS,
// STARTTLS and plain loopback, with PLAIN and LOGIN.
func TestSendReceiveOverEverySecurityMode(t *testing.T) {
	for _, tc := range []struct {
		sec  sim.Security
		auth string
	}{{sim.ImplicitTLS, "PLAIN"}, {sim.StartTLS, "LOGIN"}, {sim.Plain, "PLAIN"}} {
		t.Run(string(tc.sec)+"-"+tc.auth, func(t *testing.T) {
			s := startSim(t, func(c *sim.Config) { c.Security = tc.sec })
			sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: endpoint(s, s.SMTPAddr(), ente, entePass), Auth: tc.auth}, logger(t))
			if err != nil {
				t.Fatal(err)
			}
			id, err := sub.Submit(context.Background(), mail(t, ente, sdi))
			if err != nil {
				t.Fatal(err)
			}
			enteStore, sdiStore := newStore(), newStore()
			consumer(t, s, ente, entePass, enteStore, nil)
			consumer(t, s, sdi, sdiPass, sdiStore, nil)
			waitFor(t, "two receipts", func() bool { n, _ := enteStore.count(); return n == 2 })
			waitFor(t, "the envelope", func() bool { n, _ := sdiStore.count(); return n == 1 })
			got := parsed(t, s, enteStore)
			acc, cons := got[pec.KindAccettazione], got[pec.KindAvvenutaConsegna]
			if len(acc) != 1 || len(cons) != 1 || acc[0].Riferimento != id || cons[0].Riferimento != id || cons[0].Daticert.Consegna != sdi {
				t.Fatalf("receipts %v", got)
			}
			env := parsed(t, s, sdiStore)[pec.KindPostaCertificata]
			if len(env) != 1 || env[0].Postacert == nil || env[0].Postacert.MessageID != id ||
				len(env[0].Postacert.Attachments) != 1 || !bytes.Equal(env[0].Postacert.Attachments[0].Data, pectest.Invoice.Data) {
				t.Fatalf("envelope %+v", env)
			}
			if env[0].ReplyTo != ente || env[0].Daticert.Mittente != ente {
				t.Fatalf("envelope sender %q / %q", env[0].ReplyTo, env[0].Daticert.Mittente)
			}
		})
	}
}

func TestSubmitRefusals(t *testing.T) {
	s := startSim(t, nil)
	sub := submitter(t, s, ente, entePass)
	withBcc := bytes.Replace(mail(t, ente, sdi), []byte("To: "), []byte("Bcc: spia@pec.comune.example.it\r\nTo: "), 1)
	noID := bytes.Replace(mail(t, ente, sdi), []byte("Message-Id:"), []byte("X-Old-Id:"), 1)
	for _, tc := range []struct {
		name      string
		sub       *mailbox.Submitter
		raw       []byte
		ctx       func() context.Context
		permanent bool
		reason    string
	}{
		{"Bcc", sub, withBcc, nil, true, "Bcc not allowed"},
		{"no Message-ID", sub, noID, nil, true, "Message-ID missing"},
		{"From is another mailbox", sub, mail(t, sdi, ente), nil, true, "From differs from the mailbox"},
		{"wrong password", submitter(t, s, ente, "sbagliata"), mail(t, ente, sdi), nil, true, "authentication"},
		{"cancelled", sub, mail(t, ente, sdi), func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, false, "canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			_, err := tc.sub.Submit(ctx, tc.raw)
			if err == nil || mailbox.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err %v (permanent %v), want permanent=%v with %q", err, mailbox.IsPermanent(err), tc.permanent, tc.reason)
			}
		})
	}
	// A server that is not there: temporary.
	down, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: mailbox.Endpoint{Addr: "127.0.0.1:1", Security: mailbox.Plain, Username: ente}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Submit(context.Background(), mail(t, ente, sdi)); err == nil || mailbox.IsPermanent(err) {
		t.Fatalf("unreachable server: %v", err)
	}
	// Config refusals.
	for _, cfg := range []mailbox.SMTPConfig{
		{Endpoint: mailbox.Endpoint{Addr: "pec.example.it:25", Security: mailbox.Plain, Username: "u"}},
		{Endpoint: mailbox.Endpoint{Addr: "nohost", Security: mailbox.ImplicitTLS, Username: "u"}},
		{Endpoint: mailbox.Endpoint{Addr: "h:1", Security: "ssl", Username: "u"}},
		{Endpoint: mailbox.Endpoint{Addr: "h:1", Security: mailbox.ImplicitTLS}},
		{Endpoint: mailbox.Endpoint{Addr: "h:1", Security: mailbox.ImplicitTLS, Username: "u"}, Auth: "CRAM-MD5"},
	} {
		if _, err := mailbox.NewSubmitter(cfg, nil); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

// TestProviderOutcomes drives every receipt path of the simulator.
func TestProviderOutcomes(t *testing.T) {
	other := "altro@pec.comune.example.it"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s *sim.Sim)
		to    string
		raw   func(t testing.TB) []byte
		want  []pec.Kind // receipts to the sender, in any order
		check func(t *testing.T, got map[pec.Kind][]*pec.Envelope, delivered int)
	}{
		{name: "delivered", to: sdi, want: []pec.Kind{pec.KindAccettazione, pec.KindAvvenutaConsegna}},
		{name: "unknown mailbox", to: "nessuno@pec.fatturapa.it", want: []pec.Kind{pec.KindAccettazione, pec.KindErroreConsegna},
			check: func(t *testing.T, got map[pec.Kind][]*pec.Envelope, _ int) {
				if got[pec.KindErroreConsegna][0].Daticert.Errore != daticert.NoDest {
					t.Fatalf("errore %q", got[pec.KindErroreConsegna][0].Daticert.Errore)
				}
			}},
		{name: "unknown domain", to: "x@pec.sconosciuto.it", want: []pec.Kind{pec.KindNonAccettazione}},
		{name: "injected errore-consegna", to: sdi, setup: func(t *testing.T, s *sim.Sim) { s.SetFault(sdi, sim.Fault{Kind: sim.FaultErroreConsegna}) },
			want: []pec.Kind{pec.KindAccettazione, pec.KindErroreConsegna}},
		{name: "injected virus", to: sdi, setup: func(t *testing.T, s *sim.Sim) { s.SetFault(sdi, sim.Fault{Kind: sim.FaultVirus}) },
			want: []pec.Kind{pec.KindAccettazione, pec.KindErroreConsegna},
			check: func(t *testing.T, got map[pec.Kind][]*pec.Envelope, delivered int) {
				e := got[pec.KindErroreConsegna][0]
				if e.Daticert.Errore != daticert.Virus || e.VerificaSicurezza != "errore" || delivered != 0 {
					t.Fatalf("virus: errore %q X-VerificaSicurezza %q delivered %d", e.Daticert.Errore, e.VerificaSicurezza, delivered)
				}
			}},
		{name: "no receipt", to: sdi, setup: func(t *testing.T, s *sim.Sim) { s.SetFault(sdi, sim.Fault{Kind: sim.FaultNoReceipt}) },
			want: []pec.Kind{pec.KindAccettazione},
			check: func(t *testing.T, _ map[pec.Kind][]*pec.Envelope, delivered int) {
				if delivered != 1 {
					t.Fatalf("delivered %d", delivered)
				}
			}},
		{name: "delayed receipt", to: sdi, setup: func(t *testing.T, s *sim.Sim) {
			s.SetFault(sdi, sim.Fault{Kind: sim.FaultDelay, Delay: 300 * time.Millisecond})
		},
			want: []pec.Kind{pec.KindAccettazione, pec.KindAvvenutaConsegna}},
		{name: "timeout notices", to: sdi, setup: func(t *testing.T, s *sim.Sim) {
			s.SetFault(sdi, sim.Fault{Kind: sim.FaultPreavviso, Delay: 100 * time.Millisecond})
		},
			want: []pec.Kind{pec.KindAccettazione, pec.KindPreavvisoErroreConsegna, pec.KindErroreConsegna}},
		{name: "fault spent after one message", to: sdi, setup: func(t *testing.T, s *sim.Sim) {
			s.SetFault(sdi, sim.Fault{Kind: sim.FaultErroreConsegna, Times: 1})
			// a first message consumes the fault
			if _, err := submitterFor(s).Submit(context.Background(), mail(t, ente, sdi)); err != nil {
				t.Fatal(err)
			}
		}, want: []pec.Kind{pec.KindAccettazione, pec.KindErroreConsegna, pec.KindAccettazione, pec.KindAvvenutaConsegna}},
		{name: "EICAR in the attachment", to: sdi, raw: func(t testing.TB) []byte {
			raw, _, _ := compose.Build(compose.Mail{From: ente, To: []string{sdi}, Subject: "x", Text: "x",
				Attachments: []compose.Attachment{{Name: "eicar.txt", ContentType: "text/plain", Data: []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)}}})
			return raw
		}, want: []pec.Kind{pec.KindNonAccettazione},
			check: func(t *testing.T, got map[pec.Kind][]*pec.Envelope, _ int) {
				if e := got[pec.KindNonAccettazione][0]; e.Daticert.Errore != daticert.Virus || !strings.HasPrefix(e.Subject, "AVVISO DI NON ACCETTAZIONE PER VIRUS") {
					t.Fatalf("%q %q", e.Daticert.Errore, e.Subject)
				}
			}},
		{name: "two recipients, one unknown", to: sdi + "," + other, want: []pec.Kind{pec.KindAccettazione, pec.KindAvvenutaConsegna, pec.KindErroreConsegna}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, func(c *sim.Config) { c.Security = sim.Plain })
			if tc.setup != nil {
				tc.setup(t, s)
			}
			raw := mail(t, ente, strings.Split(tc.to, ",")...)
			if tc.raw != nil {
				raw = tc.raw(t)
			}
			if _, err := submitterFor(s).Submit(context.Background(), raw); err != nil {
				t.Fatal(err)
			}
			st := newStore()
			consumer(t, s, ente, entePass, st, nil)
			waitFor(t, fmt.Sprintf("%d receipts", len(tc.want)), func() bool { n, _ := st.count(); return n >= len(tc.want) })
			time.Sleep(50 * time.Millisecond)
			if n, _ := st.count(); n != len(tc.want) {
				t.Fatalf("%d receipts, want %d", n, len(tc.want))
			}
			got := parsed(t, s, st)
			want := map[pec.Kind]int{}
			for _, k := range tc.want {
				want[k]++
			}
			for k, n := range want {
				if len(got[k]) != n {
					t.Fatalf("%s: %d, want %d (got %v)", k, len(got[k]), n, got)
				}
			}
			if tc.check != nil {
				tc.check(t, got, s.Stats().Delivered)
			}
		})
	}
}

func submitterFor(s *sim.Sim) *mailbox.Submitter {
	sub, err := mailbox.NewSubmitter(mailbox.SMTPConfig{Endpoint: endpoint(s, s.SMTPAddr(), ente, entePass)}, nil)
	if err != nil {
		panic(err)
	}
	return sub
}

func TestAckModes(t *testing.T) {
	for _, ack := range []mailbox.Ack{mailbox.AckFlag, mailbox.AckMove} {
		t.Run(string(ack), func(t *testing.T) {
			s := startSim(t, nil)
			for i := range 3 {
				raw, _, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: fmt.Sprint(i), Text: "t"})
				if err := s.Deliver(ente, raw); err != nil {
					t.Fatal(err)
				}
			}
			st := newStore()
			c, _, _ := consumer(t, s, ente, entePass, st, func(c *mailbox.IMAPConfig) { c.Ack = ack })
			waitFor(t, "3 committed", func() bool { n, _ := st.count(); return n == 3 })
			waitFor(t, "3 acknowledged", func() bool { _, _, h := c.Status(); return h == 3 })
			inbox := imapFlags(t, s, ente, entePass, "INBOX")
			if ack == mailbox.AckMove {
				if len(inbox) != 0 || len(imapFlags(t, s, ente, entePass, "Processed")) != 3 {
					t.Fatalf("after move: INBOX %v", inbox)
				}
				return
			}
			for id, fs := range inbox {
				if !hasFlag(fs, imap.FlagSeen) || !hasFlag(fs, mailbox.KeywordProcessed) {
					t.Fatalf("%s flags %v", id, fs)
				}
			}
			if _, calls := st.count(); calls != 3 {
				t.Fatalf("%d calls for 3 messages", calls)
			}
		})
	}
}

// TestReadByAPersonIsStillConsumed: \Seen set by a webmail does not hide a message.
func TestReadByAPersonIsStillConsumed(t *testing.T) {
	s := startSim(t, nil)
	raw, _, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "letto", Text: "t"})
	s.Deliver(ente, raw)
	_ = imapFlags(t, s, ente, entePass, "INBOX")
	// mark \Seen as a person would
	c, err := imapclient.DialTLS(s.IMAPAddr(), &imapclient.Options{TLSConfig: s.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	c.Login(ente, entePass).Wait()
	c.Select("INBOX", nil).Wait()
	c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	c.Close()
	st := newStore()
	consumer(t, s, ente, entePass, st, nil)
	waitFor(t, "the read message", func() bool { n, _ := st.count(); return n == 1 })
}

// TestServerRestart: the IMAP server goes down with the consumer connected; mail
// arrives meanwhile; the server comes back; the consumer reconnects and gets it.
func TestServerRestart(t *testing.T) {
	s := startSim(t, nil)
	st := newStore()
	c, _, _ := consumer(t, s, ente, entePass, st, func(c *mailbox.IMAPConfig) { c.PollInterval = time.Hour }) // IDLE only
	waitFor(t, "connected", func() bool { ok, _, _ := c.Status(); return ok })
	s.StopIMAP()
	waitFor(t, "disconnection seen", func() bool { ok, _, _ := c.Status(); return !ok })
	raw, id, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "durante il guasto", Text: "t"})
	s.Deliver(ente, raw)
	time.Sleep(100 * time.Millisecond) // a few failed reconnections
	if err := s.StartIMAP(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message after restart", func() bool { ok, _ := st.known(context.Background(), id); return ok })
	waitFor(t, "acknowledged", func() bool { return hasFlag(imapFlags(t, s, ente, entePass, "INBOX")[id], mailbox.KeywordProcessed) })
}

// TestKilledBetweenCommitAndAck: the hub stops after the store committed and before
// the flag: nothing is acknowledged, the message comes again with the same key, and
// the store does not import it twice.
func TestKilledBetweenCommitAndAck(t *testing.T) {
	for _, how := range []string{"context cancelled", "connection dropped"} {
		t.Run(how, func(t *testing.T) {
			s := startSim(t, nil)
			raw, id, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "una volta", Text: "t"})
			s.Deliver(ente, raw)
			st := newStore()
			var cancel context.CancelFunc
			var once sync.Once
			st.after = func(*mailbox.Delivery) {
				once.Do(func() {
					if how == "context cancelled" {
						cancel()
					} else {
						s.StopIMAP()
					}
				})
			}
			_, cancel, done := consumer(t, s, ente, entePass, st, nil)
			waitFor(t, "first hand-over", func() bool { _, calls := st.count(); return calls >= 1 })
			if how == "context cancelled" {
				<-done
			} else {
				time.Sleep(50 * time.Millisecond)
				cancel()
				<-done
				if err := s.StartIMAP(); err != nil {
					t.Fatal(err)
				}
			}
			if fs := imapFlags(t, s, ente, entePass, "INBOX")[id]; hasFlag(fs, mailbox.KeywordProcessed) {
				t.Fatalf("acknowledged although the consumer died before the flag: %v", fs)
			}
			st.after = nil
			c2, _, _ := consumer(t, s, ente, entePass, st, nil)
			waitFor(t, "second hand-over", func() bool { _, calls := st.count(); return calls >= 2 })
			waitFor(t, "acknowledged by the second consumer", func() bool { _, _, h := c2.Status(); return h == 1 })
			committed, _ := st.count()
			st.mu.Lock()
			keys := []string{st.calls[0].Key(), st.calls[1].Key()}
			st.mu.Unlock()
			if committed != 1 || keys[0] != id || keys[1] != id {
				t.Fatalf("committed %d, keys %v, want one %s", committed, keys, id)
			}
		})
	}
}

// TestHandlerFailureDoesNotBlock: a message whose commit fails is retried with backoff
// and does not hold back the others.
func TestHandlerFailureDoesNotBlock(t *testing.T) {
	s := startSim(t, nil)
	bad, badID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "store giù", Text: "t"})
	good, goodID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "ok", Text: "t"})
	s.Deliver(ente, bad)
	s.Deliver(ente, good)
	st := newStore()
	var mu sync.Mutex
	failures := 0
	st.failFor = func(d *mailbox.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if d.MessageID == badID && failures < 3 {
			failures++
			return errors.New("database non disponibile")
		}
		return nil
	}
	consumer(t, s, ente, entePass, st, nil)
	waitFor(t, "good message", func() bool { ok, _ := st.known(context.Background(), goodID); return ok })
	waitFor(t, "bad message after retries", func() bool { ok, _ := st.known(context.Background(), badID); return ok })
	mu.Lock()
	defer mu.Unlock()
	if failures != 3 {
		t.Fatalf("failures %d", failures)
	}
	waitFor(t, "both acknowledged", func() bool {
		fl := imapFlags(t, s, ente, entePass, "INBOX")
		return hasFlag(fl[badID], mailbox.KeywordProcessed) && hasFlag(fl[goodID], mailbox.KeywordProcessed)
	})
}

// TestUIDValidityChange: the folder is rebuilt (new UIDVALIDITY, flags lost); nothing
// is imported twice, with and without the Known hook.
func TestUIDValidityChange(t *testing.T) {
	for _, withKnown := range []bool{true, false} {
		t.Run(fmt.Sprintf("known=%v", withKnown), func(t *testing.T) {
			s := startSim(t, nil)
			for i := range 2 {
				raw, _, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: fmt.Sprint(i), Text: "t"})
				s.Deliver(ente, raw)
			}
			st := newStore()
			state := &mailbox.MemoryState{}
			mod := func(c *mailbox.IMAPConfig) {
				c.State = state
				if withKnown {
					c.Known = st.known
				}
			}
			_, cancel, done := consumer(t, s, ente, entePass, st, mod)
			waitFor(t, "2 committed", func() bool { n, _ := st.count(); return n == 2 })
			cancel()
			<-done
			if err := s.ResetUIDValidity(ente); err != nil {
				t.Fatal(err)
			}
			processed := func() int {
				n := 0
				for _, f := range imapFlags(t, s, ente, entePass, "INBOX") {
					if hasFlag(f, mailbox.KeywordProcessed) {
						n++
					}
				}
				return n
			}
			if processed() != 0 {
				t.Fatal("flags survived the reset")
			}
			c2, _, _ := consumer(t, s, ente, entePass, st, mod)
			waitFor(t, "the 2 old messages acknowledged again", func() bool { return processed() == 2 })
			raw, newID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "nuovo", Text: "t"})
			s.Deliver(ente, raw)
			waitFor(t, "new message", func() bool { ok, _ := st.known(context.Background(), newID); return ok })
			waitFor(t, "all 3 acknowledged", func() bool { return processed() == 3 })
			committed, calls := st.count()
			if committed != 3 {
				t.Fatalf("committed %d, want 3", committed)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			last := st.calls[len(st.calls)-1]
			if last.MessageID != newID || last.Rescan {
				t.Fatalf("new message handed over as %+v", last)
			}
			_, _, handled := c2.Status()
			if withKnown {
				// The old messages were recognised by Message-ID, not handed over again.
				if calls != 3 || handled != 1 {
					t.Fatalf("%d calls, %d handled; want 3 and 1", calls, handled)
				}
				return
			}
			// Without the hook they come back marked Rescan and the store dedups them.
			if calls != 5 || handled != 3 || !st.calls[2].Rescan || !st.calls[3].Rescan {
				t.Fatalf("%d calls, %d handled, rescan flags %v %v", calls, handled, st.calls[2].Rescan, st.calls[3].Rescan)
			}
		})
	}
}

func TestPollingWithoutIdle(t *testing.T) {
	s := startSim(t, func(c *sim.Config) { c.NoIdle = true })
	st := newStore()
	consumer(t, s, ente, entePass, st, func(c *mailbox.IMAPConfig) { c.PollInterval = 50 * time.Millisecond })
	raw, id, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "poll", Text: "t"})
	time.Sleep(100 * time.Millisecond)
	s.Deliver(ente, raw)
	waitFor(t, "polled message", func() bool { ok, _ := st.known(context.Background(), id); return ok })
}

func TestIdleWakesUp(t *testing.T) {
	s := startSim(t, nil)
	st := newStore()
	c, _, _ := consumer(t, s, ente, entePass, st, func(c *mailbox.IMAPConfig) { c.PollInterval = time.Hour })
	waitFor(t, "connected", func() bool { ok, _, _ := c.Status(); return ok })
	time.Sleep(200 * time.Millisecond) // IDLE established
	raw, id, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "idle", Text: "t"})
	s.Deliver(ente, raw)
	waitFor(t, "message via IDLE", func() bool { ok, _ := st.known(context.Background(), id); return ok })
}

// TestHostileMailKeepsConsumerRunning: oversize, malformed and bomb messages are
// handed over (truncated when oversize) and the consumer goes on.
func TestHostileMailKeepsConsumerRunning(t *testing.T) {
	s := startSim(t, nil)
	big, bigID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "40 MB", Text: "t",
		Attachments: []compose.Attachment{{Name: "grande.bin", Data: bytes.Repeat([]byte("A"), 40<<20)}}})
	var bomb strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&bomb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	msgs := [][]byte{big, []byte("\x00\xff garbage without header"), []byte(bomb.String())}
	for _, m := range msgs {
		if err := s.Deliver(ente, m); err != nil {
			t.Fatal(err)
		}
	}
	good, goodID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "dopo", Text: "t"})
	s.Deliver(ente, good)
	st := newStore()
	c, _, _ := consumer(t, s, ente, entePass, st, nil)
	waitFor(t, "all 4", func() bool { _, _, h := c.Status(); return h == 4 })
	if ok, _ := st.known(context.Background(), goodID); !ok {
		t.Fatal("message after the hostile ones not committed")
	}
	st.mu.Lock()
	d := st.byKey[bigID]
	st.mu.Unlock()
	if d == nil || !d.Oversize || len(d.Raw) != 64<<10 || d.Size < 40<<20 {
		t.Fatalf("oversize delivery %+v", d)
	}
	if _, err := pec.Parse("big", d.Raw, pec.Options{}); err == nil {
		t.Fatal("truncated oversize message parsed as valid")
	}
	for _, dd := range st.all() {
		if _, err := pec.Parse("x", dd.Raw, pec.Options{}); err == nil {
			t.Fatalf("hostile message UID %d parsed as a valid PEC", dd.UID)
		}
	}
}

// TestQuarantine: a message the handler quarantines is moved aside with a note that
// says why (or flagged where MOVE is missing), and the consumer goes on.
func TestQuarantine(t *testing.T) {
	for _, noMove := range []bool{false, true} {
		t.Run(fmt.Sprintf("noMove=%v", noMove), func(t *testing.T) {
			s := startSim(t, func(c *sim.Config) { c.NoMove = noMove })
			bad, badID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "sospetto", Text: "t"})
			good, goodID, _ := compose.Build(compose.Mail{From: "x@pec.fatturapa.it", To: []string{ente}, Subject: "buono", Text: "t"})
			s.Deliver(ente, bad)
			s.Deliver(ente, good)
			st := newStore()
			st.failFor = func(d *mailbox.Delivery) error {
				if d.MessageID == badID {
					return mailbox.Quarantine("firma non valida (invalid signature)")
				}
				return nil
			}
			c, _, _ := consumer(t, s, ente, entePass, st, nil)
			waitFor(t, "good message", func() bool { ok, _ := st.known(context.Background(), goodID); return ok })
			waitFor(t, "quarantined", func() bool { return c.Quarantined() == 1 })
			time.Sleep(300 * time.Millisecond) // more poll cycles: the quarantined one must not come back
			if _, calls := st.count(); calls != 2 {
				t.Fatalf("%d hand-overs, want 2", calls)
			}
			inbox := imapFlags(t, s, ente, entePass, "INBOX")
			if noMove {
				if !hasFlag(inbox[badID], mailbox.KeywordQuarantined) {
					t.Fatalf("INBOX flags %v", inbox)
				}
				return
			}
			if _, still := inbox[badID]; still {
				t.Fatal("quarantined message still in INBOX")
			}
			q, bodies := imapFolder(t, s, ente, entePass, "Quarantena")
			if _, ok := q[badID]; !ok || len(q) != 2 {
				t.Fatalf("quarantine folder %v", q)
			}
			if !bytes.Equal(bodies[badID], bad) {
				t.Fatal("quarantined message altered")
			}
			var note []byte
			for id, b := range bodies {
				if id != badID {
					note = b
				}
			}
			for _, want := range []string{"QUARANTENA", badID, "firma non valida (invalid signature)", "X-Snodo-Quarantena: " + badID} {
				if !bytes.Contains(note, []byte(want)) {
					t.Errorf("note lacks %q:\n%s", want, note)
				}
			}
		})
	}
}
