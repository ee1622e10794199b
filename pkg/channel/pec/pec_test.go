package pec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/engine"
	"snodo/pkg/message"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/compose"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/gestore"
	"snodo/pkg/pec/pectest"
	"snodo/pkg/pec/sim"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

var _ channel.Sender = (*sender)(nil)
var _ channel.Receiver = (*receiver)(nil)

// TestConformance runs the suite every channel kind passes, against the simulator over
// TLS: the target of the sender is the recipient's mailbox, the source of the receiver
// the hub's.
func TestConformance(t *testing.T) {
	e := newEnv(t)
	channeltest.Run(t, channeltest.Harness{
		NewSender: func(t *testing.T) channel.Sender {
			s, err := newSender(e.senderEndpoint(t, ente, nil), channel.Deps{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Target: func(t *testing.T) map[string][]byte {
			out := map[string][]byte{}
			for _, env := range e.envelopes(t, ente) {
				for _, a := range env.Postacert.Attachments {
					out[a.Name] = a.Data
				}
			}
			return out
		},
		NewReceiver: func(t *testing.T) channel.Receiver {
			r, err := newReceiver(e.receiverEndpoint(t, hubIn, nil), channel.Deps{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
		Put: func(t *testing.T, name string, data []byte) {
			e.send(t, peer, hubIn, compose.Attachment{Name: name, Data: data})
		},
		Pending: func(t *testing.T) []string {
			var out []string
			for _, m := range e.folder(t, hubIn, "INBOX") {
				if !processed(m) {
					out = append(out, fmt.Sprintf("%d bytes", len(m.raw)))
				}
			}
			return out
		},
	})
}

// TestInboundInvoiceFromSdI: the SdI's PEC with an invoice and its metadata becomes one
// item: the invoice as main file, the MT as metadata, the signed envelope kept.
func TestInboundInvoiceFromSdI(t *testing.T) {
	e := newEnv(t)
	mt := compose.Attachment{Name: "IT01234567890_00001_MT_001.xml", Data: []byte("<MetadatiInvioFile/>")}
	id := e.send(t, sdi23, hubIn, mt, pectest.Invoice)
	rec := channeltest.NewRecorder()
	r, err := newReceiver(e.receiverEndpoint(t, hubIn, nil), channel.Deps{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, rec) }()
	items := rec.WaitFor(t, 1, waitFor)
	eventually(t, "acknowledged", func() bool { m := e.folder(t, hubIn, "INBOX"); return len(m) == 1 && processed(m[0]) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	in := items[0]
	if in.FileName != pectest.Invoice.Name || !bytes.Equal(in.Data, pectest.Invoice.Data) {
		t.Fatalf("main file %s", in.FileName)
	}
	if len(in.Files) != 2 || in.Files[0].Role != message.RoleMetadata || in.Files[0].Name != mt.Name || in.Files[1].Role != RoleEnvelope {
		t.Fatalf("files %+v", in.Files)
	}
	if _, err := pecmail.Parse("kept", in.Files[1].Data, pecmail.Options{Trust: e.sim.TrustStore()}); err != nil {
		t.Fatalf("kept envelope is not the valid signed original: %v", err)
	}
	h := in.Headers
	if h[HeaderMittente] != sdi23 || h[HeaderTipo] != "posta-certificata" || h[HeaderFirma] != "valid" || h[message.HeaderMessageID] != id ||
		h[HeaderIdentificativo] == "" || h[HeaderData] == "" {
		t.Fatalf("headers %v", h)
	}
	if !strings.HasPrefix(in.DedupKey, "pec:"+hubIn+":") || !strings.Contains(in.Source, "imaps://") {
		t.Fatalf("dedup key %q source %q", in.DedupKey, in.Source)
	}
}

// TestQuarantine: hostile and invalid mail is set aside with its reason; valid mail
// after it goes through; the consumer keeps running.
func TestQuarantine(t *testing.T) {
	e := newEnv(t)
	other, _ := pectest.Provider(t, "altro.example")
	o := pectest.Original(t, peer, hubIn)
	foreign, _ := other.Envelope(o, other.NewIdentificativo())
	genuine, _ := e.sim.Provider().Envelope(o, e.sim.Provider().NewIdentificativo())
	lying := bytes.Replace(genuine, []byte("Reply-To: "+peer), []byte("Reply-To: falso@pec.comune.example.it"), 1)
	plain, _, _ := compose.Build(compose.Mail{From: "chiunque@example.com", To: []string{hubIn}, Subject: "ordinaria", Text: "x"})
	anomalia, _ := e.sim.Provider().Anomalia(plain, hubIn, "non certificato")
	big := append(append([]byte{}, genuine...), bytes.Repeat([]byte("X"), 40<<20)...)
	var bomb strings.Builder
	bomb.WriteString("X-Trasporto: posta-certificata\r\n")
	for i := range 2000 {
		fmt.Fprintf(&bomb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	cases := []struct {
		name   string
		raw    []byte
		reason string
	}{
		{"ordinary mail", plain, "not a PEC"},
		{"unknown provider", foreign, "signer not trusted"},
		{"daticert contradicts headers", lying, "daticert sender differs"},
		{"anomaly envelope", anomalia, "anomaly envelope"},
		{"40 MB", big, "exceeds the"},
		{"MIME bomb", []byte(bomb.String()), "nesting"},
		{"garbage", []byte("\x00\x01 not mail at all \xff"), "not a PEC"},
	}
	for _, c := range cases {
		if err := e.sim.Deliver(hubIn, c.raw); err != nil {
			t.Fatal(err)
		}
	}
	e.send(t, peer, hubIn, pectest.Invoice) // a valid one after them
	rec := channeltest.NewRecorder()
	r, err := newReceiver(e.receiverEndpoint(t, hubIn, nil), channel.Deps{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, rec) }()
	rec.WaitFor(t, 1, waitFor)
	eventually(t, "all quarantined", func() bool { return len(e.folder(t, hubIn, "Quarantena")) == 2*len(cases) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Items()); n != 1 || rec.Items()[0].FileName != pectest.Invoice.Name {
		t.Fatalf("%d items accepted", n)
	}
	var notes []string
	for _, m := range e.folder(t, hubIn, "Quarantena") {
		if bytes.Contains(m.raw, []byte("X-Snodo-Quarantena:")) {
			notes = append(notes, string(m.raw))
		}
	}
	all := strings.Join(notes, "\n")
	for _, c := range cases {
		if !strings.Contains(all, c.reason) {
			t.Errorf("%s: no note says %q", c.name, c.reason)
		}
	}
	if left := e.folder(t, hubIn, "INBOX"); len(left) != 1 || !processed(left[0]) {
		t.Fatalf("INBOX holds %d messages", len(left))
	}
}

// hubSink is the part of the hub a PEC receiver talks to: it journals items and
// resolves awaited deliveries in the real store.
type hubSink struct {
	s     store.Store
	mu    sync.Mutex
	calls []string
}

func (h *hubSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	id, created, err := h.s.Ingest(ctx, store.NewMessage{Message: &message.Message{Flow: message.FlowForward, Kind: message.KindFile,
		FileName: in.FileName, DedupKey: in.DedupKey, Headers: in.Headers, Files: []message.File{{Name: in.FileName, Data: in.Data}}}})
	return channel.Accepted{MessageID: id, Duplicate: !created}, err
}

func (h *hubSink) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	h.mu.Lock()
	h.calls = append(h.calls, fmt.Sprintf("%s %v", key, ok))
	h.mu.Unlock()
	var o store.Outcome
	if ok {
		o = store.Outcome{State: message.StateDelivered, Events: []message.Event{{Type: message.EventDelivered, Detail: detail}}}
	}
	_, err := h.s.ResolveAwait(ctx, key, ok, detail, o)
	return err
}

// TestDeliveryLifecycle runs the real store and engine: a deliver job sends a PEC, the
// job waits for the receipt, and the receiver of the hub's box resolves it: done on
// avvenuta-consegna; on errore-consegna or non-accettazione the PEC is sent again and,
// after max_attempts, the job is dead-lettered for an operator.
func TestDeliveryLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name      string
		to        string
		fault     sim.FaultKind
		want      store.JobState
		submitted int
		detail    string
	}{
		{"delivered", ente, "", store.JobDone, 1, "avvenuta-consegna"},
		{"errore-consegna then dead letter", ente, sim.FaultErroreConsegna, store.JobDead, 3, "casella piena"},
		{"non-accettazione then dead letter", "x@pec.sconosciuto.it", "", store.JobDead, 3, "non-accettazione"},
		{"delivered late", ente, sim.FaultDelay, store.JobDone, 1, "avvenuta-consegna"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.fault != "" {
				e.sim.SetFault(tc.to, sim.Fault{Kind: tc.fault, Delay: 300 * time.Millisecond})
			}
			s := storetest.OpenSQLite(t, store.Options{})
			snd, err := newSender(e.senderEndpoint(t, tc.to, &Settings{MaxAttempts: 3}), channel.Deps{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			eng := engine.New(engine.Config{Store: s, Workers: 2, Poll: 20 * time.Millisecond, Logger: testLogger(),
				Handlers: map[string]engine.Handler{"deliver": engine.HandlerFunc(func(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
					data, err := s.ReadFile(ctx, m.ID, m.FileName)
					if err != nil {
						return store.Outcome{}, err
					}
					res, err := snd.Send(ctx, &channel.Delivery{MessageID: m.ID, Ente: "comune-a", Phase: j.Target, FileName: m.FileName,
						Files: []message.File{{Name: m.FileName, Role: message.RoleMain, Data: data}}, Subject: "Fattura " + m.FileName, Attempt: j.Attempts})
					if err != nil {
						return store.Outcome{}, err
					}
					return store.Outcome{Headers: res.Headers, Await: &store.Await{Key: res.Await.Key, Deadline: time.Now().Add(res.Await.Timeout)}}, nil
				})}})
			id, _, err := s.Ingest(context.Background(), store.NewMessage{Message: &message.Message{Ente: "comune-a", Flow: message.FlowForward,
				Kind: message.KindFile, FileName: pectest.Invoice.Name, Files: []message.File{{Name: pectest.Invoice.Name, Data: pectest.Invoice.Data}}},
				Jobs: []store.JobSpec{{Handler: "deliver", Target: "passive.protocol"}}})
			if err != nil {
				t.Fatal(err)
			}
			sink := &hubSink{s: s}
			// The receipts arrive in the sending mailbox: read it through the sender's endpoint.
			rep := e.senderEndpoint(t, tc.to, &Settings{MaxAttempts: 3, IMAP: "imaps://" + e.sim.IMAPAddr() + "/INBOX", Trust: e.trustDir, Poll: 100 * time.Millisecond})
			rcv, err := NewReceiptReceiver(rep, channel.Deps{Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); eng.Run(ctx) }()
			go func() { defer wg.Done(); rcv.Run(ctx, sink) }()
			defer func() { cancel(); wg.Wait() }()
			var job store.Job
			eventually(t, "job "+string(tc.want), func() bool {
				js, _ := s.Jobs(context.Background(), id)
				if len(js) == 1 {
					job = js[0]
				}
				return job.State == tc.want
			})
			if got := e.sim.Stats().Submitted; got != tc.submitted {
				t.Fatalf("%d PECs submitted, want %d", got, tc.submitted)
			}
			m, _ := s.Get(context.Background(), id)
			if m.Headers[HeaderMessageID] == "" || m.Headers[HeaderDestinatario] != tc.to {
				t.Fatalf("message headers %v", m.Headers)
			}
			evs, _ := s.Events(context.Background(), id)
			var timeline []string
			for _, ev := range evs {
				timeline = append(timeline, string(ev.Type)+": "+ev.Detail)
			}
			if !strings.Contains(strings.Join(timeline, "\n"), tc.detail) && !strings.Contains(job.LastError, tc.detail) {
				t.Fatalf("timeline lacks %q:\n%s\nlast error: %s", tc.detail, strings.Join(timeline, "\n"), job.LastError)
			}
			if tc.want == store.JobDead && !strings.Contains(job.LastError, "without a delivery receipt") {
				t.Fatalf("dead letter reason %q", job.LastError)
			}
		})
	}
}

// TestNoReceiptStaysAwaiting: without a delivery receipt the job stays awaiting (the
// engine alerts at the deadline); the acceptance alone does not complete it.
func TestNoReceiptStaysAwaiting(t *testing.T) {
	e := newEnv(t)
	e.sim.SetFault(ente, sim.Fault{Kind: sim.FaultNoReceipt})
	s := storetest.OpenSQLite(t, store.Options{})
	snd, err := newSender(e.senderEndpoint(t, ente, nil), channel.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := snd.Send(context.Background(), &channel.Delivery{MessageID: "m1", FileName: "a.xml", Files: []message.File{{Name: "a.xml", Data: []byte("<a/>")}}, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Await == nil || res.Await.Timeout != 24*time.Hour || res.Await.Key != AwaitKey(res.Headers[HeaderMessageID], ente) {
		t.Fatalf("result %+v", res)
	}
	sink := &hubSink{s: s}
	rcv, _ := newReceiver(e.receiverEndpoint(t, hubOut, nil), channel.Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rcv.Run(ctx, sink); close(done) }()
	eventually(t, "accettazione acknowledged", func() bool {
		m := e.folder(t, hubOut, "INBOX")
		return len(m) == 1 && processed(m[0])
	})
	cancel()
	<-done
	if len(sink.calls) != 0 {
		t.Fatalf("an acceptance resolved a delivery: %v", sink.calls)
	}
	if len(e.envelopes(t, ente)) != 1 {
		t.Fatal("not delivered")
	}
}

// TestReceiptsWithoutResolver: a sink that cannot resolve receives each receipt as an
// item, with the headers that say what it is about.
func TestReceiptsWithoutResolver(t *testing.T) {
	e := newEnv(t)
	snd, _ := newSender(e.senderEndpoint(t, ente, nil), channel.Deps{})
	res, err := snd.Send(context.Background(), &channel.Delivery{MessageID: "m1", FileName: "a.xml", Files: []message.File{{Name: "a.xml", Data: []byte("<a/>")}}, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec := channeltest.NewRecorder()
	rcv, _ := newReceiver(e.receiverEndpoint(t, hubOut, nil), channel.Deps{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rcv.Run(ctx, rec); close(done) }()
	items := rec.WaitFor(t, 2, waitFor)
	cancel()
	<-done
	kinds := map[string]channel.Inbound{}
	for _, in := range items {
		kinds[in.Headers[HeaderTipo]] = in
	}
	c, ok := kinds["avvenuta-consegna"]
	if !ok || c.Headers[HeaderRiferimento] != res.Headers[HeaderMessageID] || c.Headers[HeaderConsegna] != ente {
		t.Fatalf("receipts %v", kinds)
	}
	if !strings.HasPrefix(c.FileName, "ricevuta-avvenuta-consegna-") || channel.SafeFileName(c.FileName) != nil {
		t.Fatalf("file name %q", c.FileName)
	}
}

func TestSenderRules(t *testing.T) {
	e := newEnv(t)
	d := func() *channel.Delivery {
		return &channel.Delivery{MessageID: "m1", FileName: "IT01234567890_00001_EC_001.xml",
			Files: []message.File{{Name: "x", Data: []byte("<ec/>")}}, Attempt: 1}
	}
	snd, _ := newSender(e.senderEndpoint(t, sdi01, nil), channel.Deps{})
	over := d()
	over.Headers = map[string]string{HeaderDestinatario: sdi23}
	if _, err := snd.Send(context.Background(), over); err == nil || !channel.IsPermanent(err) || !strings.Contains(err.Error(), "allow_recipient_override") {
		t.Fatalf("override without permission: %v", err)
	}
	tooMany := d()
	tooMany.Attempt = 6
	if _, err := snd.Send(context.Background(), tooMany); err == nil || !channel.IsPermanent(err) {
		t.Fatalf("attempt beyond max_attempts: %v", err)
	}
	// The SdI sender goes where the invoice came from.
	sdiSnd, err := NewSdISender(e.senderEndpoint(t, sdi01, nil), channel.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sdiSnd.SendEC(context.Background(), sdi23, "IT01234567890_00001_EC_001.xml", []byte("<ec/>")); err != nil {
		t.Fatal(err)
	}
	envs := e.envelopes(t, sdi23)
	if len(envs) != 1 || envs[0].Postacert.Subject != "IT01234567890_00001_EC_001.xml" || envs[0].Postacert.Attachments[0].Name != "IT01234567890_00001_EC_001.xml" {
		t.Fatalf("EC envelope %+v", envs)
	}
	if len(e.envelopes(t, sdi01)) != 0 {
		t.Fatal("EC went to the default address")
	}
	// Same delivery attempt, same Message-ID: receipts of a repeated submission match.
	a, _ := snd.Send(context.Background(), d())
	b, _ := snd.Send(context.Background(), d())
	next := d()
	next.Attempt = 2
	c, _ := snd.Send(context.Background(), next)
	if a.Headers[HeaderMessageID] != b.Headers[HeaderMessageID] || a.Headers[HeaderMessageID] == c.Headers[HeaderMessageID] {
		t.Fatalf("message ids %s %s %s", a.Headers[HeaderMessageID], b.Headers[HeaderMessageID], c.Headers[HeaderMessageID])
	}
	// Bad credentials are permanent: an operator must fix them.
	bad := e.senderEndpoint(t, ente, nil)
	bad.Password = "sbagliata"
	bs, _ := newSender(bad, channel.Deps{})
	if _, err := bs.Send(context.Background(), d()); err == nil || !channel.IsPermanent(err) {
		t.Fatalf("bad password: %v", err)
	}
	// A server that is down is temporary.
	down := e.senderEndpoint(t, ente, &Settings{SMTP: "smtps://127.0.0.1:1"})
	ds, _ := newSender(down, channel.Deps{})
	if _, err := ds.Send(context.Background(), d()); err == nil || channel.IsPermanent(err) {
		t.Fatalf("server down: %v", err)
	}
}

func TestSettingsCheck(t *testing.T) {
	mk := func(raw string, set Settings, user string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		return set.Check(&channel.Endpoint{Name: "x", URL: u, Username: user})
	}
	for _, tc := range []struct {
		url    string
		set    Settings
		user   string
		reason string
	}{
		{"mailto:protocollo@pec.comune.it", Settings{SMTP: "smtps://smtps.pec.example.it"}, "hub@pec.example.it", ""},
		{"imaps://imaps.pec.example.it/INBOX", Settings{}, "hub@pec.example.it", ""},
		{"imap+plain://127.0.0.1:1143/INBOX", Settings{}, "hub@pec.example.it", ""},
		{"mailto:protocollo@pec.comune.it", Settings{}, "hub@pec.example.it", "SMTP server missing"},
		{"mailto:non un indirizzo", Settings{SMTP: "smtps://h"}, "hub@pec.example.it", "not a valid address"},
		{"mailto:a@b.it", Settings{SMTP: "smtp+plain://pec.example.it:25"}, "hub@pec.example.it", "loopback"},
		{"mailto:a@b.it", Settings{SMTP: "ftp://h"}, "hub@pec.example.it", "unknown scheme"},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h", TipoRicevuta: "lunga"}, "hub@pec.example.it", "allowed"},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h", Cc: []string{"@@"}}, "hub@pec.example.it", "invalid cc"},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h"}, "", "username missing"},
		{"imap+plain://10.0.0.1/INBOX", Settings{}, "u@x.it", "loopback"},
		{"imaps://h/INBOX", Settings{Ack: "delete"}, "u@x.it", "flag or move"},
		{"imaps://h/INBOX", Settings{Trust: "/nonexistent/trust"}, "u@x.it", "trust store unreadable"},
		{"imaps://h/INBOX", Settings{RequireTrust: true}, "u@x.it", "needs trust"},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h", IMAP: "imaps://h/INBOX"}, "hub@pec.example.it", ""},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h", IMAP: "pop3://h"}, "hub@pec.example.it", "unknown scheme"},
		{"mailto:a@b.it", Settings{SMTP: "smtps://h", Trust: "/nonexistent"}, "hub@pec.example.it", "trust store unreadable"},
	} {
		err := mk(tc.url, tc.set, tc.user)
		if tc.reason == "" && err != nil || tc.reason != "" && (err == nil || !strings.Contains(err.Error(), tc.reason)) {
			t.Errorf("%s %+v: %v, want %q", tc.url, tc.set, err, tc.reason)
		}
	}
}

// keep imports used by helpers in some builds
var (
	_ = errors.New
	_ = daticert.Accettazione
	_ = gestore.Provider{}
)
