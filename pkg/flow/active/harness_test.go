package active_test

import (
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

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/flowtest"
	"snodo/pkg/hub"
	"snodo/pkg/hub/hubtest"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/testpki"
)

// Partite IVA with a valid check digit, for the enti of the tests.
const (
	pivaA = "80012345676"
	pivaB = "80001112228"
)

// pki holds the certificates of a test: one CA for everyone, the hub's server and
// client certificates, the SdI's (client CN "SDI"), and an ente's signing certificate.
type pki struct {
	ca                      *testpki.CA
	dir                     string
	caFile                  string
	hubCert, hubKey         string
	hubClient, hubClientKey string
	signCert, signKey       string
	sdiServer, sdiClient    *testpki.Issued
	sdiHTTP                 *http.Client
}

func newPKI(t testing.TB, dir string) *pki {
	t.Helper()
	f := flowtest.NewPKI(t, dir)
	return &pki{ca: f.CA, dir: dir, caFile: f.CAFile, hubCert: f.HubCert, hubKey: f.HubKey, hubClient: f.HubClient,
		hubClientKey: f.HubClientKey, signCert: f.SignCert, signKey: f.SignKey, sdiServer: f.SdIServer, sdiClient: f.SdIClient,
		sdiHTTP: f.SdIHTTP}
}

// env is one end-to-end setup: the SdI simulator on its own mTLS listener, the hub
// in-process on another, the enti's systems as folders.
type env struct {
	t       testing.TB
	dir     string
	pki     *pki
	simURL  string
	sim     atomic.Pointer[sim.Sim]
	simDir  string
	timing  sim.Timing
	hubAddr string // fixed across restarts
	cfgPath string
	opts    envOptions
	// front, when set, sees every call to the simulator first (fault injection).
	front atomic.Pointer[func(w http.ResponseWriter, r *http.Request, next http.Handler)]
	proxy *proxy

	mu  sync.Mutex
	h   *hub.Hub
	mod *active.Module
	run *hubtest.Running
}

type envOptions struct {
	storeYAML string // store: section; SQLite by default
	routes    map[string]string
	timing    sim.Timing
	wait      time.Duration // Options.UnknownOutcomeWait
	modules   func() []hub.Module
	kinds     []*channel.Kind
	rules     map[string]sim.Scenario
	viaProxy  bool // the hub reaches the SdI through a relay the test can cut (env.proxy)
	external  bool // no hub in this process: the test runs it as a child process
	api       bool // mount the API for enti with the module as its ActiveSubmitter
	// transmitters, when set, are the only client CNs the simulated SdI accepts (EI03 for others).
	transmitters []string
	// sdiPEC, when set, makes the hub talk to the SdI by PEC through it (sdi.channel: pec).
	sdiPEC active.SdIPECSender
}

var fastTiming = sim.Timing{Notify: 5 * time.Millisecond, EC: 20 * time.Millisecond, AT: 60 * time.Millisecond, DT: 60 * time.Millisecond,
	Retry: 20 * time.Millisecond}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), opts: o}
	e.simDir = filepath.Join(e.dir, "sdi-sim")
	e.pki = newPKI(t, e.dir)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.sim.Load()
		if s == nil {
			http.Error(w, "simulatore non pronto", http.StatusServiceUnavailable)
			return
		}
		if f := e.front.Load(); f != nil {
			(*f)(w, r, s.Handler())
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.pki.sdiServer.TLS()}, ClientCAs: e.pki.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.simURL = srv.URL
	if o.viaProxy {
		e.proxy = newProxy(t, strings.TrimPrefix(srv.URL, "https://"))
		e.simURL = "https://" + e.proxy.addr
	}
	e.hubAddr = freeAddr(t)
	routes := filepath.Join(e.dir, "routes")
	os.MkdirAll(routes, 0o755)
	for name, body := range o.routes {
		body = strings.ReplaceAll(body, "{{SIGNCERT}}", e.pki.signCert)
		body = strings.ReplaceAll(body, "{{SIGNKEY}}", e.pki.signKey)
		if err := os.WriteFile(filepath.Join(routes, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.cfgPath = filepath.Join(e.dir, "snodo.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(e.config()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.timing = o.timing
	if e.timing == (sim.Timing{}) {
		e.timing = fastTiming
	}
	e.startSim()
	if !o.external {
		e.start()
		t.Cleanup(e.shutdown)
	}
	return e
}

// config is snodo.yaml: mTLS listener admitting the SdI's CN, the SdI's URLs, SQLite
// unless told otherwise.
func (e *env) config() string {
	storeYAML := e.opts.storeYAML
	if storeYAML == "" {
		storeYAML = "store: {driver: sqlite}"
	}
	return fmt.Sprintf(`listen:
  https: %s
  tls: {cert: %s, key: %s, client_ca: %s}
data_dir: data
routes_dir: routes
engine: {workers: 4, poll: 20ms, lease: 3s, grace: 2s, retry: {initial: 20ms, max: 200ms, max_attempts: 8}}
sdi:
  ricevi_file_url: %s/SdIRiceviFile
  ricevi_notifica_url: %s/SdIRiceviNotifica
  timeout: 10s
  client_cns: [SDI]
  tls: {cert: %s, key: %s, ca: %s}
%s
`, e.hubAddr, e.pki.hubCert, e.pki.hubKey, e.pki.caFile, e.simURL, e.simURL, e.pki.hubClient, e.pki.hubClientKey, e.pki.caFile, storeYAML)
}

// startSim (re)starts the simulated SdI behind the same URL; its identifier counter
// and the names it received survive.
func (e *env) startSim() {
	e.t.Helper()
	s, err := sim.New(sim.Config{StateDir: e.simDir, TrasmissioneURL: "https://" + e.hubAddr + "/sdi/TrasmissioneFatture",
		RicezioneURL: "https://" + e.hubAddr + "/sdi/RicezioneFatture", HTTP: e.pki.sdiHTTP, Timing: e.timing, Rules: e.opts.rules, AllowedTransmitters: e.opts.transmitters,
		Logger: testLogger(e.t, "sdi-sim")})
	if err != nil {
		e.t.Fatal(err)
	}
	if old := e.sim.Swap(s); old != nil {
		old.Close()
	}
	e.t.Cleanup(func() { s.Close() })
}

func (e *env) kinds() *channel.Registry {
	return channel.NewRegistry(append([]*channel.Kind{fs.Kind(), ftp.Kind()}, e.opts.kinds...)...)
}

// load reads the environment's configuration and routes.
func (e *env) load() (*route.Config, *route.Routes, *channel.Registry) {
	e.t.Helper()
	l := &route.Loader{Channels: e.kinds(), CheckRules: flowkit.CheckRules}
	cfg, err := l.LoadConfig(e.cfgPath)
	if err != nil {
		e.t.Fatal(err)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg, rs, l.Channels
}

// start runs a hub on the environment's configuration and data folder.
func (e *env) start() {
	e.t.Helper()
	cfg, rs, kinds := e.load()
	wait := e.opts.wait
	if wait == 0 {
		wait = time.Hour
	}
	if e.opts.sdiPEC != nil {
		cfg.SdI.Channel = "pec"
	}
	mod := active.New(active.Options{UnknownOutcomeWait: wait, SdIPEC: e.opts.sdiPEC})
	mods := []hub.Module{mod}
	if e.opts.api {
		mods = append(mods, apiModule{active: mod})
	}
	if e.opts.modules != nil {
		mods = append(mods, e.opts.modules()...)
	}
	r := hubtest.Start(e.t, hub.Options{Config: cfg, Routes: rs, Channels: kinds, Modules: mods, Logger: testLogger(e.t, "hub")})
	e.mu.Lock()
	e.h, e.mod, e.run = r.Hub, mod, r
	e.mu.Unlock()
}

// shutdown stops the hub (two-phase, as on SIGTERM) and waits for it.
func (e *env) shutdown() {
	e.mu.Lock()
	r := e.run
	e.run = nil
	e.mu.Unlock()
	if r != nil {
		r.Stop()
	}
}

func (e *env) hub() *hub.Hub {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.h
}

func (e *env) store() store.Store { return e.hub().Store }

func (e *env) module() *active.Module {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mod
}

func (e *env) data(p ...string) string {
	return filepath.Join(append([]string{e.dir, "data"}, p...)...)
}

// submit drops a file in an ente's submission folder, as the ente's system does.
func (e *env) submit(ente, name string, data []byte) {
	e.t.Helper()
	drop(e.t, e.data(ente, "in"), name, data)
}

// waitSubmission waits for the active invoice received as file name (the ente's
// name) to reach state.
func (e *env) waitSubmission(ente, name string, state message.State) *message.Message {
	e.t.Helper()
	var last *message.Message
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.invoices(ente) {
			if m.Header(message.HeaderNomeFileOriginale) == name {
				last = m
				if m.State == state {
					return m
				}
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	if last == nil {
		e.t.Fatalf("submission %s of %s: not stored (waiting for %s)", name, ente, state)
	}
	e.t.Fatalf("submission %s of %s: state %s, want %s\n%s", name, ente, last.State, state, e.timeline(last.ID))
	return nil
}

// invoices lists the active invoices of an ente, oldest first.
func (e *env) invoices(ente string) []*message.Message {
	e.t.Helper()
	ms, err := e.store().List(context.Background(), store.Filter{Ente: ente, Flow: string(message.FlowActive), Kind: string(message.KindInvoice), Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

// notifications lists the active notifications correlated to invoice id.
func (e *env) notifications(id message.ID) []*message.Message {
	e.t.Helper()
	ms, err := e.store().List(context.Background(), store.Filter{Flow: string(message.FlowActive), Kind: string(message.KindNotification), Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*message.Message
	for _, m := range ms {
		if m.Header(active.HeaderFattura) == string(id) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (e *env) get(id message.ID) *message.Message {
	e.t.Helper()
	m, err := e.store().Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) timeline(id message.ID) string {
	evs, _ := e.store().Events(context.Background(), id)
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %s %s\n", ev.Type, ev.Target, ev.Detail)
	}
	jobs, _ := e.store().Jobs(context.Background(), id)
	for _, j := range jobs {
		fmt.Fprintf(&b, "  job %s %s %s %s\n", j.Handler, j.Target, j.State, j.LastError)
	}
	return b.String()
}

// states lists the SetState targets of a message's timeline, in order.
func (e *env) states(id message.ID) []string {
	e.t.Helper()
	evs, err := e.store().Events(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Type == message.EventState {
			out = append(out, ev.Target)
		}
	}
	return out
}

// simEvents returns the simulator's events matching match.
func (e *env) simEvents(match func(sim.Event) bool) []sim.Event {
	var out []sim.Event
	for _, ev := range e.sim.Load().Events() {
		if match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// received counts the files the simulated SdI took in (RiceviFile answered with an id).
func (e *env) received(nome string) int {
	return len(e.simEvents(func(ev sim.Event) bool {
		return ev.Azione == "RiceviFile" && ev.NomeFile == nome && ev.Err == "" && !ev.IdentificativoSdI.IsZero()
	}))
}

// simEvent waits for a simulator event.
func (e *env) simEvent(what string, match func(sim.Event) bool) sim.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := e.sim.Load().WaitFor(ctx, match)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return ev
}

// outFiles lists the files an ente's notifications folder holds.
func (e *env) outFiles(ente string) []string {
	entries, _ := os.ReadDir(e.data(ente, "out"))
	var out []string
	for _, en := range entries {
		if !en.IsDir() && !strings.HasPrefix(en.Name(), ".") {
			out = append(out, en.Name())
		}
	}
	sort.Strings(out)
	return out
}

// waitOut waits for a file whose name matches in an ente's notifications folder.
func (e *env) waitOut(ente string, match func(string) bool) (string, []byte) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range e.outFiles(ente) {
			if match(n) {
				b, err := os.ReadFile(e.data(ente, "out", n))
				if err == nil {
					return n, b
				}
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	e.t.Fatalf("no file of %s matches in %s: %v", ente, e.data(ente, "out"), e.outFiles(ente))
	return "", nil
}

// outcomeOf waits for the outcome file of a submission and reads it.
func (e *env) outcomeOf(ente string, m *message.Message) *active.Receipt {
	e.t.Helper()
	n, b := e.waitOut(ente, func(n string) bool { return strings.Contains(n, ".esito-"+string(m.ID)) })
	r, err := active.ParseOutcome(n, b)
	if err != nil {
		e.t.Fatalf("outcome %s: %v\n%s", n, err, b)
	}
	return r
}

// drop writes a file atomically, as a well-behaved peer does.
func drop(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	tmp := filepath.Join(dir, "."+name+".part")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

var template = readFile("../../../testdata/active/fattura.xml")

func readFile(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

// invoice is the test invoice of cedente (a partita IVA) to office codice, number n.
func invoice(cedente, codice, n string) []byte {
	r := strings.NewReplacer("{{CEDENTE}}", cedente, "{{DESTINATARIO}}", codice, "{{NUMERO}}", n, "{{DATA}}", "2025-03-14")
	return []byte(r.Replace(string(template)))
}

// enteRoute is the route file of an ente with its folders under data/<id>: in (submit),
// out (notifications), and the passive cycle's when passive is set.
func enteRoute(id, piva, office, extra string) string {
	return fmt.Sprintf(`ente:
  id: %s
  name: Comune %s
  codice_fiscale: "%s"
  offices: [%s]
  pec: protocollo@pec.%s.example
active:
  submit:
    channel: fs
    url: file:%s/in
    settings: {poll: 20ms, min_age: 1ms}
  notifications:
    channel: fs
    url: file:%s/out
%s`, id, strings.ToUpper(id), piva, office, id, id, id, extra)
}

// testLogger writes the hub's log to the test log when SNODO_TEST_LOG is set.
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

// sdiID is the IdentificativoSdI of an invoice, failing the test when it has none.
func sdiID(t testing.TB, m *message.Message) sdi.IdentificativoSdI {
	t.Helper()
	id := m.Header(message.HeaderIdentificativoSdI)
	if id == "" {
		t.Fatalf("invoice %s has no IdentificativoSdI", m.ID)
	}
	return sdi.IdentificativoSdI(id)
}

func sleepShort() { time.Sleep(15 * time.Millisecond) }

// waitState waits for message id to reach state.
func (e *env) waitState(id message.ID, state message.State) *message.Message {
	e.t.Helper()
	var m *message.Message
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		m = e.get(id)
		if m.State == state {
			return m
		}
		sleepShort()
	}
	e.t.Fatalf("message %s: state %s, want %s\n%s", id, m.State, state, e.timeline(id))
	return nil
}

// waitSubmissionFinal waits for the submission of name to reach a state no
// notification changes (accepted or refused by the recipient, refused by the hub...).
func (e *env) waitSubmissionFinal(ente, name string) *message.Message {
	e.t.Helper()
	var last *message.Message
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.invoices(ente) {
			if m.Header(message.HeaderNomeFileOriginale) == name {
				last = m
				if active.Final(m.State) {
					return m
				}
			}
		}
		sleepShort()
	}
	if last == nil {
		e.t.Fatalf("submission %s of %s: not stored", name, ente)
	}
	e.t.Fatalf("submission %s of %s: state %s, not final\n%s", name, ente, last.State, e.timeline(last.ID))
	return nil
}

// setFront puts fn in front of the simulator's handler.
func (e *env) setFront(fn func(w http.ResponseWriter, r *http.Request, next http.Handler)) {
	e.front.Store(&fn)
}

// otherClient is an HTTPS client with a certificate of the same CA that is not the SdI's.
func (e *env) otherClient(t testing.TB) *http.Client {
	t.Helper()
	c, err := e.pki.ca.Client("intruso", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.pki.ca.Pool(), Certificates: []tls.Certificate{c.TLS()}, MinVersion: tls.VersionTLS12}}}
}

// apiModule mounts the API for enti with the active module as its ActiveSubmitter, as
// the hub wires it.
type apiModule struct{ active *active.Module }

func (apiModule) Name() string                  { return "api" }
func (apiModule) Migrations() []store.Migration { return nil }
func (m apiModule) Init(h *hub.Hub) error {
	a, err := api.New(api.Config{Store: h.Store, Routes: h.Routes, Active: m.active, Logger: h.Log})
	if err != nil {
		return err
	}
	a.Mount(h.Mux)
	return nil
}
