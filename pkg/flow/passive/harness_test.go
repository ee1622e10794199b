package passive_test

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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/flowtest"
	"snodo/pkg/flow/passive"
	"snodo/pkg/hub"
	"snodo/pkg/hub/hubtest"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/testpki"
)

// pki holds the certificates of a test: one CA for everyone, the hub's server and
// client certificates (files, as snodo.yaml names them) and the SdI's.
type pki struct {
	ca                      *testpki.CA
	caFile                  string
	hubCert, hubKey         string
	hubClient, hubClientKey string
	sdiServer, sdiClient    *testpki.Issued
	sdiHTTP                 *http.Client
}

func newPKI(t testing.TB, dir string) *pki {
	t.Helper()
	f := flowtest.NewPKI(t, dir)
	return &pki{ca: f.CA, caFile: f.CAFile, hubCert: f.HubCert, hubKey: f.HubKey, hubClient: f.HubClient,
		hubClientKey: f.HubClientKey, sdiServer: f.SdIServer, sdiClient: f.SdIClient, sdiHTTP: f.SdIHTTP}
}

// env is one end-to-end setup: the SdI simulator on its own mTLS listener, the hub
// in-process on another, an ente's systems as folders (fs) or an FTP server.
type env struct {
	t       testing.TB
	dir     string
	data    string
	pki     *pki
	simURL  string
	sim     atomic.Pointer[sim.Sim]
	simDir  string
	hubAddr string // fixed across restarts
	cfgPath string
	ftp     *ftpServer
	extra   []*channel.Kind
	now     func() time.Time
	api     bool

	mu  sync.Mutex
	h   *hub.Hub
	mod *passive.Module
	run *hubtest.Running
}

type ftpServer struct {
	addr, root, user, password string
}

// options of newEnv.
type envOptions struct {
	storeYAML string // store: section; SQLite by default
	routes    map[string]string
	timing    sim.Timing
	ftp       *ftpServer
	kinds     []*channel.Kind
	workers   int    // engine workers (default 4)
	lease     string // engine lease (default 10s)
	sdiYAML   string // extra keys under sdi:
	now       func() time.Time
	api       bool // mount the API for enti, wired to the passive module
	noHub     bool // do not start a hub in-process (the crash test runs it as a child process)
}

var fastTiming = sim.Timing{Notify: 5 * time.Millisecond, EC: 20 * time.Millisecond, AT: time.Hour, DT: time.Hour, Retry: 20 * time.Millisecond}

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
	e := &env{t: t, dir: t.TempDir(), ftp: o.ftp, extra: o.kinds, now: o.now, api: o.api}
	e.data = filepath.Join(e.dir, "data")
	e.simDir = filepath.Join(e.dir, "sdi-sim")
	e.pki = newPKI(t, e.dir)
	// The simulator's listener first: the hub's SdI client needs its URL.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.sim.Load()
		if s == nil {
			http.Error(w, "simulatore non pronto", http.StatusServiceUnavailable)
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.pki.sdiServer.TLS()}, ClientCAs: e.pki.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e.simURL = srv.URL
	e.hubAddr = freeAddr(t)
	routes := filepath.Join(e.dir, "routes")
	os.MkdirAll(routes, 0o755)
	for name, body := range o.routes {
		if err := os.WriteFile(filepath.Join(routes, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	workers := o.workers
	if workers <= 0 {
		workers = 4
	}
	lease := o.lease
	if lease == "" {
		lease = "10s"
	}
	storeYAML := o.storeYAML
	if storeYAML == "" {
		storeYAML = "store: {driver: sqlite}"
	}
	cfg := fmt.Sprintf(`listen:
  https: %s
  tls: {cert: %s, key: %s, client_ca: %s}
data_dir: data
routes_dir: routes
engine: {workers: %d, poll: 20ms, lease: %s, grace: 2s, retry: {initial: 20ms, max: 200ms, max_attempts: 8}}
sdi:
  ricevi_file_url: %s/SdIRiceviFile
  ricevi_notifica_url: %s/SdIRiceviNotifica
  timeout: 10s
  tls: {cert: %s, key: %s, ca: %s}
%s
%s
`, e.hubAddr, e.pki.hubCert, e.pki.hubKey, e.pki.caFile, workers, lease, e.simURL, e.simURL, e.pki.hubClient, e.pki.hubClientKey, e.pki.caFile, o.sdiYAML, storeYAML)
	e.cfgPath = filepath.Join(e.dir, "snodo.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	timing := o.timing
	if timing == (sim.Timing{}) {
		timing = fastTiming
	}
	e.startSim(timing)
	if o.noHub {
		return e
	}
	e.start()
	t.Cleanup(e.shutdown)
	return e
}

// startSim (re)starts the simulated SdI behind the same URL; its identifier counter
// survives, its in-flight state does not (as documented by package sim).
func (e *env) startSim(timing sim.Timing) {
	e.t.Helper()
	s, err := sim.New(sim.Config{StateDir: e.simDir, RicezioneURL: "https://" + e.hubAddr + "/sdi/RicezioneFatture",
		HTTP: e.pki.sdiHTTP, Timing: timing, Logger: testLogger(e.t, "sdi-sim")})
	if err != nil {
		e.t.Fatal(err)
	}
	if old := e.sim.Swap(s); old != nil {
		old.Close()
	}
	e.t.Cleanup(func() { s.Close() })
}

func (e *env) kinds() *channel.Registry {
	ks := append([]*channel.Kind{fs.Kind(), ftp.Kind()}, e.extra...)
	return channel.NewRegistry(ks...)
}

// load reads a configuration and its routes as the hub does.
func load(path string, kinds *channel.Registry) (*route.Config, *route.Routes, error) {
	l := &route.Loader{Channels: kinds, CheckRules: flowkit.CheckRules}
	cfg, err := l.LoadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		return nil, nil, err
	}
	return cfg, rs, nil
}

// start runs a hub on the environment's configuration and data folder.
func (e *env) start() {
	e.t.Helper()
	cfg, rs, err := load(e.cfgPath, e.kinds())
	if err != nil {
		e.t.Fatal(err)
	}
	mod := passive.New(passive.Options{AutoECDelay: 300 * time.Millisecond})
	modules := []hub.Module{mod}
	if e.api {
		modules = append(modules, apiModule{mod})
	}
	r := hubtest.Start(e.t, hub.Options{Config: cfg, Routes: rs, Channels: e.kinds(), Modules: modules,
		Logger: testLogger(e.t, "hub"), Now: e.now})
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

func (e *env) module() *passive.Module {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mod
}

// deliver has the simulated SdI deliver an invoice to office codice.
func (e *env) deliver(name string, data []byte, codice string) sdi.IdentificativoSdI {
	e.t.Helper()
	id, err := e.sim.Load().DeliverInvoice(context.Background(), name, data, codice)
	if err != nil {
		e.t.Fatalf("DeliverInvoice %s: %v", name, err)
	}
	return id
}

// invoice returns the stored invoice with IdentificativoSdI id.
func (e *env) invoice(id sdi.IdentificativoSdI) *message.Message {
	e.t.Helper()
	ctx := context.Background()
	ids, err := e.store().FindByKey(ctx, flowkit.SdIKey(string(id)))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mid := range ids {
		m, err := e.store().Get(ctx, mid)
		if err != nil {
			e.t.Fatal(err)
		}
		if m.Kind == message.KindInvoice {
			return m
		}
	}
	e.t.Fatalf("no invoice stored for IdentificativoSdI %s", id)
	return nil
}

// waitState waits for the invoice id to reach state.
func (e *env) waitState(id sdi.IdentificativoSdI, state message.State) *message.Message {
	e.t.Helper()
	var m *message.Message
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ids, _ := e.store().FindByKey(context.Background(), flowkit.SdIKey(string(id)))
		for _, mid := range ids {
			if x, err := e.store().Get(context.Background(), mid); err == nil && x.Kind == message.KindInvoice {
				m = x
			}
		}
		if m != nil && m.State == state {
			return m
		}
		time.Sleep(15 * time.Millisecond)
	}
	if m == nil {
		e.t.Fatalf("invoice %s: not stored (waiting for %s)", id, state)
	}
	e.t.Fatalf("invoice %s: state %s, want %s\n%s", id, m.State, state, e.timeline(m.ID))
	return nil
}

// waitMessage waits for a message of the ente matching match.
func (e *env) waitMessage(what string, match func(*message.Message) bool) *message.Message {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := e.store().List(context.Background(), store.Filter{Limit: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range ms {
			if match(m) {
				return m
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	e.t.Fatalf("no message: %s", what)
	return nil
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

// simEvent waits for a simulator event.
func (e *env) simEvent(what string, match func(sim.Event) bool) sim.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev, err := e.sim.Load().WaitFor(ctx, match)
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	return ev
}

func waitFile(t testing.TB, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		time.Sleep(15 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
	return nil
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

var fpa01 = readFile("../../../testdata/sdi/invoices/IT01234567890_FPA01.xml")
var fpa03 = readFile("../../../testdata/sdi/invoices/IT01234567890_FPA03.xml")

func readFile(p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		panic(err)
	}
	return b
}

// invoiceFor is the official FPA01 sample addressed to office codice, numbered numero.
func invoiceFor(codice, numero string) []byte {
	b := bytes.Replace(fpa01, []byte("<CodiceDestinatario>AAAAAA</CodiceDestinatario>"), []byte("<CodiceDestinatario>"+codice+"</CodiceDestinatario>"), 1)
	return bytes.Replace(b, []byte("<Numero>123</Numero>"), []byte("<Numero>"+numero+"</Numero>"), 1)
}

// ecFile writes an Esito Committente as an ente's system would.
func ecFile(t testing.TB, id sdi.IdentificativoSdI, esito, numero string, anno int) []byte {
	t.Helper()
	ec := &sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, Esito: esito,
		RiferimentoFattura: &sdi.RiferimentoFattura{NumeroFattura: numero, AnnoFattura: anno}, Descrizione: "esito dall'ente", MessageIdCommittente: "ENTE0001"}}
	b, err := sdi.Marshal(ec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testLogger writes the hub's log to the test log when -v, else discards it.
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

// apiModule mounts the API for enti with the passive module as its OutcomeSubmitter,
// as cmd/snodo wires it.
type apiModule struct{ passive *passive.Module }

func (apiModule) Name() string                  { return "api" }
func (apiModule) Migrations() []store.Migration { return nil }
func (m apiModule) Init(h *hub.Hub) error {
	a, err := api.New(api.Config{Store: h.Store, Routes: h.Routes, Passive: m.passive, Logger: h.Log})
	if err != nil {
		return err
	}
	a.Mount(h.Mux)
	return nil
}
