// Package sdisim runs the project's SdI simulator (snodo/pkg/sdi/sim) inside the hub
// process, for `make run` and for integrators trying the hub on their machine: with
// simulators.sdi.enabled in snodo.yaml the hub talks to a simulated SdI and the
// simulated SdI to the hub, with nothing else to start.
//
// The simulator's services (SdIRiceviFile, SdIRiceviNotifica) and its control API are
// served under /sim/sdi/ on the hub's plain HTTP listener, or on their own address
// (simulators.sdi.listen). When sdi.ricevi_file_url and sdi.ricevi_notifica_url are
// empty, the module points the hub's SdI client at the simulator; the simulator calls
// the hub's own /sdi/RicezioneFatture and /sdi/TrasmissioneFatture. Invoices to deliver
// to the hub come from a drop folder (<data_dir>/sdi-sim/in by default) or from the
// control API (POST /sim/sdi/fatture?NomeFile=...). Times are short (a DT after two
// minutes instead of fifteen days) and set in simulators.sdi.options.
//
// Register it before the flows in the module list: its Init sets the SdI URLs the flows
// read.
package sdisim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/hub"
	"snodo/pkg/route"
	"snodo/pkg/sdi/sim"
	"snodo/pkg/store"
	"snodo/pkg/tlsconf"
)

// Prefix is where the simulator is mounted on the hub's mux.
const Prefix = "/sim/sdi"

// Options are the simulator's settings, simulators.sdi.options in snodo.yaml.
type Options struct {
	// Times of the simulated SdI (Go durations: 500ms, 2m).
	Notify time.Duration `yaml:"notify"` // before RC/NS/MC (default 1s)
	EC     time.Duration `yaml:"ec"`     // the simulated buyer's outcome (default 2s)
	AT     time.Duration `yaml:"at"`     // MC → AT (default 30s)
	DT     time.Duration `yaml:"dt"`     // delivery → DT without an EC (default 2m)
	Retry  time.Duration `yaml:"retry"`  // between delivery attempts (default 2s)
	// Rules map CodiceDestinatario to a scenario (see `snodo sdi-sim --help`); Default is
	// the scenario of other codes.
	Rules   map[string]string `yaml:"rules"`
	Default string            `yaml:"default"`
	// DropDir is the drop folder (default <data_dir>/sdi-sim/in); StateDir keeps the
	// IdentificativoSdI counter (default <data_dir>/sdi-sim/stato).
	DropDir  string `yaml:"drop_dir"`
	StateDir string `yaml:"state_dir"`
	FirstID  int64  `yaml:"first_id"`
}

// DecodeOptions reads simulators.sdi.options strictly: an unknown key is an error.
func DecodeOptions(n *yaml.Node) (Options, error) {
	var o Options
	if n == nil || n.Kind == 0 {
		return o, nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return o, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil {
		return o, fmt.Errorf("simulators.sdi.options: %v (see docs/passive.md for the keys)", err)
	}
	return o, nil
}

func (o *Options) timing() sim.Timing {
	def := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return sim.Timing{Notify: def(o.Notify, time.Second), EC: def(o.EC, 2*time.Second), AT: def(o.AT, 30*time.Second),
		DT: def(o.DT, 2*time.Minute), Retry: def(o.Retry, 2*time.Second)}
}

// Module runs the simulator in the hub.
type Module struct {
	sim   atomic.Pointer[running]
	ln    net.Listener // own listener (simulators.sdi.listen), nil when mounted on the hub
	base  string       // the simulator's URL as the hub's client reaches it, when known in Init
	ready chan struct{}
}

var _ hub.Module = (*Module)(nil)

// New returns the module; it does nothing unless simulators.sdi.enabled is true.
func New() *Module { return &Module{ready: make(chan struct{})} }

// Name is "sdi-sim".
func (m *Module) Name() string { return "sdi-sim" }

// Migrations: none.
func (m *Module) Migrations() []store.Migration { return nil }

// running is the simulator with its handlers, built once.
type running struct {
	s                 *sim.Sim
	services, control http.Handler
}

// Sim returns the running simulator, nil before it started.
func (m *Module) Sim() *sim.Sim {
	if r := m.sim.Load(); r != nil {
		return r.s
	}
	return nil
}

// Ready is closed once the simulator runs.
func (m *Module) Ready() <-chan struct{} { return m.ready }

// Init mounts the simulator and points the hub's SdI client at it.
func (m *Module) Init(h *hub.Hub) error {
	spec := h.Config.Simulators.SdI
	if !spec.Enabled {
		return nil
	}
	opts, err := DecodeOptions(&spec.Options)
	if err != nil {
		return err
	}
	scenario := sim.Scenario(opts.Default)
	if opts.Default != "" {
		if scenario, err = sim.ParseScenario(opts.Default); err != nil {
			return fmt.Errorf("simulators.sdi.options.default: %w", err)
		}
	}
	rules := map[string]sim.Scenario{}
	for code, sc := range opts.Rules {
		s, err := sim.ParseScenario(sc)
		if err != nil {
			return fmt.Errorf("simulators.sdi.options.rules.%s: %w", code, err)
		}
		rules[strings.ToUpper(code)] = s
	}
	if h.Config.Listen.HTTP == "" {
		return errors.New("simulators.sdi: il simulatore chiama l'hub in HTTP in chiaro: serve listen.http (es. 127.0.0.1:8080) (the simulator needs listen.http)")
	}
	if opts.DropDir == "" {
		opts.DropDir = filepath.Join(h.Config.DataDir, "sdi-sim", "in")
	}
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(h.Config.DataDir, "sdi-sim", "stato")
	}
	handler := http.HandlerFunc(m.serve)
	switch {
	case spec.Listen != "":
		if !tlsconf.Loopback(spec.Listen) {
			return fmt.Errorf("simulators.sdi.listen %s: il simulatore serve solo su 127.0.0.1 o localhost (loopback only)", spec.Listen)
		}
		ln, err := net.Listen("tcp", spec.Listen)
		if err != nil {
			return fmt.Errorf("simulators.sdi.listen %s: %w", spec.Listen, err)
		}
		m.ln = ln
		m.base = "http://" + ln.Addr().String()
	default:
		h.Mux.Handle(Prefix+"/", http.StripPrefix(Prefix, handler))
		if _, port, err := net.SplitHostPort(h.Config.Listen.HTTP); err != nil || port == "0" {
			return errors.New("simulators.sdi: con listen.http su una porta scelta dal sistema (:0) indicare simulators.sdi.listen (set simulators.sdi.listen when listen.http has port 0)")
		}
		m.base = "http://" + h.Config.Listen.HTTP + Prefix
	}
	sdiCfg := &h.Config.SdI
	if sdiCfg.RiceviFileURL == "" && sdiCfg.RiceviNotificaURL == "" {
		sdiCfg.RiceviFileURL = m.base + "/SdIRiceviFile"
		sdiCfg.RiceviNotificaURL = m.base + "/SdIRiceviNotifica"
		sdiCfg.TLS = route.TLSSpec{}
	} else {
		h.Log.Warn("simulatore SdI attivo ma sdi.ricevi_file_url/ricevi_notifica_url sono impostati: l'hub parla con l'SdI configurato, non col simulatore "+
			"(simulator on, but the hub's SdI URLs point elsewhere)", "ricevi_notifica_url", sdiCfg.RiceviNotificaURL)
	}
	// The simulator names itself in its log lines (component=sdi-sim).
	h.Go(func(ctx context.Context) error { return m.run(ctx, h, opts, rules, scenario, h.Log, handler) })
	return nil
}

// run starts the simulator once the hub's listeners are bound, and stops it with the hub.
func (m *Module) run(ctx context.Context, h *hub.Hub, opts Options, rules map[string]sim.Scenario, def sim.Scenario, log *slog.Logger, handler http.Handler) error {
	hubURL := "http://" + h.Addr("http")
	s, err := sim.New(sim.Config{Logger: log, StateDir: opts.StateDir, FirstID: opts.FirstID,
		RicezioneURL: hubURL + "/sdi/RicezioneFatture", TrasmissioneURL: hubURL + "/sdi/TrasmissioneFatture",
		HTTP: &http.Client{Timeout: 30 * time.Second}, Rules: rules, Default: def, Timing: opts.timing(), DropDir: opts.DropDir})
	if err != nil {
		if m.ln != nil {
			m.ln.Close()
		}
		return fmt.Errorf("simulatore SdI: %w", err)
	}
	defer s.Close()
	if err := s.Start(ctx); err != nil {
		return fmt.Errorf("simulatore SdI: %w", err)
	}
	var srv *http.Server
	if m.ln != nil {
		srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go srv.Serve(m.ln)
	}
	m.sim.Store(&running{s: s, services: s.Handler(), control: s.ControlHandler()})
	close(m.ready)
	control := m.base + "/"
	log.Info("simulatore SdI attivo (SdI simulator running)", "component", "sdi-sim", "servizi", m.base, "controllo", control, "deposito", opts.DropDir,
		"decorrenza_termini", opts.timing().DT.String())
	<-ctx.Done()
	if srv != nil {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}
	return nil
}

// serve dispatches to the simulator's SdI services or its control API.
func (m *Module) serve(w http.ResponseWriter, r *http.Request) {
	run := m.sim.Load()
	if run == nil {
		http.Error(w, "simulatore SdI in avvio: riprovare (SdI simulator starting)", http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/SdIRiceviFile", "/SdIRiceviNotifica":
		run.services.ServeHTTP(w, r)
	default:
		run.control.ServeHTTP(w, r)
	}
}
