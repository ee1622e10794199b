package sdipec_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/passive"
	"snodo/pkg/flow/sdipec"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	pecsim "snodo/pkg/pec/sim"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/sdi/sim/pecfront"
	"snodo/pkg/store"
	"snodo/pkg/testpki"
)

// PEC boxes of the simulated provider: the hub's own box for the SdI, and the SdI's.
const (
	hubBox  = "fatture@pec.snodo.example"
	sdi01   = "sdi01@pec.fatturapa.it"
	sdi02   = "sdi02@pec.fatturapa.it"
	sdi03   = "sdi03@pec.fatturapa.it"
	pecPass = "segreta"
	pivaA   = "80012345676" // ente a's partita IVA (valid check digit)
)

var fastTiming = sim.Timing{Notify: 5 * time.Millisecond, EC: 30 * time.Millisecond, AT: 60 * time.Millisecond, DT: time.Hour,
	Retry: 50 * time.Millisecond}

// env is one end-to-end setup: the hub in-process with sdi.channel pec, the PEC
// provider simulator between it and the SdI, the SdI simulator behind its PEC
// front-end, ente a's systems as folders.
type env struct {
	t        testing.TB
	dir      string
	pec      *pecsim.Sim
	sim      atomic.Pointer[sim.Sim]
	simDir   string
	simURL   string
	sdiHTTP  *http.Client
	front    *pecfront.Front
	frontURL string

	mu   sync.Mutex
	h    *hub.Hub
	mod  *sdipec.Module
	act  *active.Module
	pas  *passive.Module
	stop context.CancelFunc
	done chan error
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

// envOptions change the hub's configuration.
type envOptions struct {
	receiptTimeout time.Duration // the wait for PEC delivery receipts (default 2m)
	storeYAML      string        // the store: section (default SQLite)
}

// newEnvWith is newEnv with options.
func newEnvWith(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.receiptTimeout == 0 {
		o.receiptTimeout = 2 * time.Minute
	}
	if o.storeYAML == "" {
		o.storeYAML = "store: {driver: sqlite}"
	}
	e := &env{t: t, dir: t.TempDir()}
	e.simDir = filepath.Join(e.dir, "sdi-sim")
	ps, err := pecsim.Start(context.Background(), pecsim.Config{Mailboxes: []pecsim.Mailbox{{Address: hubBox, Password: pecPass},
		{Address: sdi01, Password: pecPass}, {Address: sdi02, Password: pecPass}, {Address: sdi03, Password: pecPass}},
		Logger: testLogger(t, "pec-sim")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	e.pec = ps

	// HTTPS between the SdI simulator and its PEC front-end.
	ca, err := testpki.NewCA("CA di prova sdipec", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Server("127.0.0.1", testpki.Options{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	e.sdiHTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	serve := func(h http.Handler) string {
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert.TLS()}, MinVersion: tls.VersionTLS12}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL
	}
	e.simURL = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.sim.Load()
		if s == nil {
			http.Error(w, "simulatore non pronto", http.StatusServiceUnavailable)
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	var frontHandler atomic.Pointer[http.Handler]
	e.frontURL = serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := frontHandler.Load()
		if h == nil {
			http.Error(w, "front-end non pronto", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	front, err := pecfront.New(pecfront.Config{SMTPAddr: ps.SMTPAddr(), IMAPAddr: ps.IMAPAddr(), TLS: ps.ClientTLS(), Trust: ps.TrustStore(),
		Boxes:         []pecfront.Box{{Address: sdi01, Password: pecPass}, {Address: sdi02, Password: pecPass}, {Address: sdi03, Password: pecPass}},
		RiceviFileURL: e.simURL + "/SdIRiceviFile", RiceviNotificaURL: e.simURL + "/SdIRiceviNotifica", HTTP: e.sdiHTTP,
		DefaultRecipient: hubBox, ReceiptTimeout: 20 * time.Second, Poll: 100 * time.Millisecond, Logger: testLogger(t, "sdi-pec")})
	if err != nil {
		t.Fatal(err)
	}
	fh := front.Handler()
	frontHandler.Store(&fh)
	e.front = front
	ctx, cancel := context.WithCancel(context.Background())
	frontDone := make(chan error, 1)
	go func() { frontDone <- front.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-frontDone
	})
	e.startSim()

	// The hub.
	pecCA := filepath.Join(e.dir, "pec-ca.pem")
	os.WriteFile(pecCA, testpki.CertPEM(ps.TLSCA()), 0o644)
	trust := filepath.Join(e.dir, "gestori")
	os.Mkdir(trust, 0o755)
	os.WriteFile(filepath.Join(trust, "gestore.pem"), testpki.CertPEM(ps.SigningCA()), 0o644)
	cfg := fmt.Sprintf(`listen: {http: 127.0.0.1:0}
data_dir: data
routes_dir: routes
engine: {workers: 4, poll: 20ms, lease: 5s, grace: 2s, retry: {initial: 20ms, max: 200ms, max_attempts: 8}}
sdi:
  channel: pec
  retry: {initial: 50ms, max: 300ms, max_attempts: 6}
  pec:
    url: "imaps://%s/INBOX"
    username: %s
    password: %s
    tls: {ca: pec-ca.pem}
    settings: {smtp: "smtps://%s", trust: gestori, poll: 100ms, receipt_timeout: %s}
%s
`, ps.IMAPAddr(), hubBox, pecPass, ps.SMTPAddr(), o.receiptTimeout, o.storeYAML)
	os.WriteFile(filepath.Join(e.dir, "snodo.yaml"), []byte(cfg), 0o644)
	os.MkdirAll(filepath.Join(e.dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(e.dir, "routes", "a.yaml"), []byte(fmt.Sprintf(`ente: {id: a, name: Comune A, codice_fiscale: "%s", offices: [UFA000]}
active:
  submit: {channel: fs, url: "file:a/in", settings: {poll: 20ms, min_age: 1ms}}
  notifications: {channel: fs, url: "file:a/out"}
passive:
  protocol: {channel: fs, url: "file:a/protocollo"}
  notifications: {channel: fs, url: "file:a/notifiche"}
  outcome: {channel: fs, url: "file:a/esiti", settings: {poll: 20ms, min_age: -1ns}}
`, pivaA)), 0o644)
	e.start()
	t.Cleanup(e.shutdown)
	return e
}

// startSim (re)starts the simulated SdI behind the same URL; its identifier counter
// and the names it received survive, the deliveries it made are forgotten.
func (e *env) startSim() {
	e.t.Helper()
	s, err := sim.New(sim.Config{StateDir: e.simDir, TrasmissioneURL: e.frontURL + "/TrasmissioneFatture", RicezioneURL: e.frontURL + "/RicezioneFatture",
		HTTP: e.sdiHTTP, Timing: fastTiming, Logger: testLogger(e.t, "sdi-sim")})
	if err != nil {
		e.t.Fatal(err)
	}
	if old := e.sim.Swap(s); old != nil {
		old.Close()
	}
	e.t.Cleanup(func() { s.Close() })
}

func (e *env) start() {
	e.t.Helper()
	kinds := channel.NewRegistry(fs.Kind(), pecchannel.Kind())
	l := &route.Loader{Channels: kinds, CheckRules: flowkit.CheckRules}
	cfg, err := l.LoadConfig(filepath.Join(e.dir, "snodo.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		e.t.Fatal(err)
	}
	mod := sdipec.New(sdipec.Options{})
	act := active.New(active.Options{SdIPEC: mod, UnknownOutcomeWait: time.Hour})
	pas := passive.New(passive.Options{SdIPEC: mod, AutoECDelay: 50 * time.Millisecond})
	mod.Connect(act, pas)
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: kinds, Modules: []hub.Module{mod, act, pas}, Logger: testLogger(e.t, "hub")})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-done:
		e.t.Fatalf("hub did not start: %v", err)
	case <-time.After(20 * time.Second):
		e.t.Fatal("hub did not start within 20s")
	}
	e.mu.Lock()
	e.h, e.mod, e.act, e.pas, e.stop, e.done = h, mod, act, pas, cancel, done
	e.mu.Unlock()
}

func (e *env) shutdown() {
	e.mu.Lock()
	stop, done := e.stop, e.done
	e.stop, e.done = nil, nil
	e.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	if err := <-done; err != nil {
		e.t.Errorf("hub Run: %v", err)
	}
}

func (e *env) hub() *hub.Hub {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.h
}

func (e *env) store() store.Store { return e.hub().Store }

func (e *env) module() *sdipec.Module {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mod
}

func (e *env) data(p ...string) string {
	return filepath.Join(append([]string{e.dir, "data"}, p...)...)
}

// drop writes a file into a folder the hub polls, atomically.
func drop(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits for a file to appear and returns its content.
func waitFile(t testing.TB, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("file %s did not appear", path)
	return nil
}

// messages lists the messages of a flow and kind, oldest first.
func (e *env) messages(flow message.Flow, kind message.Kind) []*message.Message {
	e.t.Helper()
	ms, err := e.store().List(context.Background(), store.Filter{Flow: string(flow), Kind: string(kind), Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// waitMessage waits for a message matching match.
func (e *env) waitMessage(what string, flow message.Flow, kind message.Kind, match func(*message.Message) bool) *message.Message {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []*message.Message
	for time.Now().Before(deadline) {
		last = e.messages(flow, kind)
		for _, m := range last {
			if match(m) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var b strings.Builder
	for _, m := range last {
		fmt.Fprintf(&b, "\n%s %s %s %v\n%s", m.ID, m.FileName, m.State, m.Headers, e.timeline(m.ID))
	}
	e.t.Fatalf("%s: not found among %d messages:%s", what, len(last), b.String())
	return nil
}

// waitState waits for message id to reach state.
func (e *env) waitState(id message.ID, state message.State) *message.Message {
	e.t.Helper()
	var m *message.Message
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if m, err = e.store().Get(context.Background(), id); err != nil {
			e.t.Fatal(err)
		}
		if m.State == state {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("message %s: state %s, want %s\n%s", id, m.State, state, e.timeline(id))
	return nil
}

// waitJobDone waits for message id's job of handler to be done.
func (e *env) waitJobDone(id message.ID, handler string) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		jobs, err := e.store().Jobs(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Handler == handler && j.State == store.JobDone {
				return j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("message %s: no %s job done\n%s", id, handler, e.timeline(id))
	return store.Job{}
}

func (e *env) timeline(id message.ID) string {
	evs, _ := e.store().Events(context.Background(), id)
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s %s\n", ev.Type, ev.Target, ev.Detail)
	}
	jobs, _ := e.store().Jobs(context.Background(), id)
	for _, j := range jobs {
		fmt.Fprintf(&b, "  job %s %s %s attempts=%d %s\n", j.Handler, j.Target, j.State, j.Attempts, j.LastError)
	}
	return b.String()
}

// hasEvent reports whether message id's timeline has an event of type typ whose target
// and detail contain the given strings.
func (e *env) hasEvent(id message.ID, typ message.EventType, target, detail string) bool {
	evs, _ := e.store().Events(context.Background(), id)
	for _, ev := range evs {
		if ev.Type == typ && strings.Contains(ev.Target, target) && strings.Contains(ev.Detail, detail) {
			return true
		}
	}
	return false
}

// frontEvent waits for an event of the SdI's PEC front-end.
func (e *env) frontEvent(what string, match func(pecfront.Event) bool) pecfront.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := e.front.WaitFor(ctx, match)
	if err != nil {
		var b strings.Builder
		for _, x := range e.front.Events() {
			fmt.Fprintf(&b, "\n  %+v", x)
		}
		e.t.Fatalf("%s: %v%s", what, err, b.String())
	}
	return ev
}

// submission waits for the active invoice submitted as name to reach state.
func (e *env) submission(name string, state message.State) *message.Message {
	e.t.Helper()
	m := e.waitMessage("active invoice "+name, message.FlowActive, message.KindInvoice, func(m *message.Message) bool {
		return m.Header(message.HeaderNomeFileOriginale) == name
	})
	return e.waitState(m.ID, state)
}

// passiveInvoice waits for the passive invoice with IdentificativoSdI id.
func (e *env) passiveInvoice(id sdi.IdentificativoSdI) *message.Message {
	e.t.Helper()
	return e.waitMessage("passive invoice "+string(id), message.FlowPassive, message.KindInvoice, func(m *message.Message) bool {
		return m.Header(message.HeaderIdentificativoSdI) == string(id)
	})
}

var (
	activeTemplate = readFile("../../../testdata/active/fattura.xml")
	fpa01          = readFile("../../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
)

func readFile(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

// activeInvoice is ente a's invoice to office codice (the SdI simulator's scenario), number n.
func activeInvoice(codice, n string) []byte {
	r := strings.NewReplacer("{{CEDENTE}}", pivaA, "{{DESTINATARIO}}", codice, "{{NUMERO}}", n, "{{DATA}}", "2025-03-14")
	return []byte(r.Replace(string(activeTemplate)))
}

// passiveInvoice is the official FPA01 sample addressed to office codice, numbered numero.
func supplierInvoice(codice, numero string) []byte {
	b := bytes.Replace(fpa01, []byte("<CodiceDestinatario>AAAAAA</CodiceDestinatario>"), []byte("<CodiceDestinatario>"+codice+"</CodiceDestinatario>"), 1)
	return bytes.Replace(b, []byte("<Numero>123</Numero>"), []byte("<Numero>"+numero+"</Numero>"), 1)
}

// ecFile is an Esito Committente as the ente's system writes it.
func ecFile(t testing.TB, id sdi.IdentificativoSdI, esito, numero string) []byte {
	t.Helper()
	b, err := sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: esito,
		RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: numero, AnnoFattura: 2017}, Descrizione: "esito dall'ente", MessageIdCommittente: "ENTE0001"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger writes to the test log when SNODO_TEST_LOG is set.
func testLogger(t testing.TB, who string) *slog.Logger {
	if os.Getenv("SNODO_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("who", who)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
