// Package hub assembles the running hub: it opens the store, loads the routes, starts
// one receiver per receive phase of every ente, the delivery engine with the handlers of
// every module (flows), and the HTTP listeners (SdI and pagoPA web services, the API for
// enti, health and metrics), and shuts them down in order.
//
// Modules plug flows in: a Module brings its store migrations, engine handlers, sinks
// for receive phases and HTTP routes; the hub knows no flow itself. The one built-in
// flow is "forward": a plain relay from one endpoint to another, declared in a route.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"snodo/pkg/channel"
	"snodo/pkg/engine"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// Module is a flow or service plugged into the hub.
type Module interface {
	Name() string
	// Migrations of the module's own tables, applied when the store opens.
	Migrations() []store.Migration
	// Init registers handlers, sinks, HTTP routes and background tasks.
	Init(h *Hub) error
}

// SinkFactory makes the sink of one receive phase of one ente.
type SinkFactory func(e *route.Ente, phase string) channel.Sink

// Options configure a Hub.
type Options struct {
	Config   *route.Config
	Routes   *route.Routes
	Channels *channel.Registry
	Modules  []Module
	Logger   *slog.Logger
	// Store, when set, is used instead of opening the configured one (tests).
	Store store.Store
	Now   func() time.Time
	// OnReady is called once every listener, receiver and the engine run (tests).
	OnReady func(h *Hub)
}

// Hub is a running hub.
type Hub struct {
	Config   *route.Config
	Routes   *route.Routes
	Channels *channel.Registry
	Store    store.Store
	Engine   *engine.Engine
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	// Mux serves every HTTP route of the hub; modules add theirs in Init.
	Mux *http.ServeMux
	Now func() time.Time

	opts      Options
	handlers  map[string]engine.Handler
	sinks     map[string]SinkFactory // by phase, or by prefix ending in "."
	tasks     []func(ctx context.Context) error
	senders   sync.Map // endpoint name → channel.Sender
	sendersMu sync.Mutex
	ready     chan struct{}
	addrs     map[string]string
	addrsMu   sync.Mutex
	ownStore  bool
}

// New assembles a hub; Run starts it.
func New(o Options) (*Hub, error) {
	if o.Config == nil || o.Routes == nil || o.Channels == nil {
		return nil, errors.New("hub: Config, Routes and Channels are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := &Hub{Config: o.Config, Routes: o.Routes, Channels: o.Channels, Log: log, Metrics: reg, Mux: http.NewServeMux(),
		Now: now, opts: o, handlers: map[string]engine.Handler{}, sinks: map[string]SinkFactory{}, ready: make(chan struct{}),
		addrs: map[string]string{}}
	return h, nil
}

// Handle registers an engine handler.
func (h *Hub) Handle(name string, hd engine.Handler) {
	if _, dup := h.handlers[name]; dup {
		panic("hub: handler registered twice: " + name)
	}
	h.handlers[name] = hd
}

// SinkFor registers the sink factory of a receive phase ("passive.outcome") or of every
// phase with a prefix ("forward.").
func (h *Hub) SinkFor(phase string, f SinkFactory) { h.sinks[phase] = f }

// Go registers a background task started with the hub and stopped with it.
func (h *Hub) Go(task func(ctx context.Context) error) { h.tasks = append(h.tasks, task) }

// Ready is closed once the hub runs.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Addr returns the bound address of a listener ("http", "https") once ready.
func (h *Hub) Addr(name string) string {
	h.addrsMu.Lock()
	defer h.addrsMu.Unlock()
	return h.addrs[name]
}

func (h *Hub) setAddr(name, addr string) {
	h.addrsMu.Lock()
	h.addrs[name] = addr
	h.addrsMu.Unlock()
}

// OpenStore opens the store a configuration names, with the modules' migrations.
func OpenStore(ctx context.Context, cfg *route.Config, modules []Module, now func() time.Time) (store.Store, error) {
	var migs []store.Migration
	for _, m := range modules {
		migs = append(migs, m.Migrations()...)
	}
	o := store.Options{Migrations: migs, Now: now, MaxConns: cfg.Store.MaxConns, SynchronousFull: cfg.Store.Synchronous == "full"}
	switch cfg.Store.Driver {
	case "postgres":
		return store.OpenPostgres(ctx, cfg.Store.DSN.Value, o)
	default:
		return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "store"), o)
	}
}

// Run starts the hub and blocks until ctx is cancelled, then shuts down: HTTP
// listeners stop taking requests (answering those in flight), receivers stop, the engine
// finishes or releases its jobs, the store closes.
func (h *Hub) Run(ctx context.Context) error {
	modules := append([]Module{forwardModule{}}, h.opts.Modules...)
	if h.opts.Store != nil {
		h.Store = h.opts.Store
	} else {
		s, err := OpenStore(ctx, h.Config, modules, h.Now)
		if err != nil {
			return err
		}
		h.Store = s
		h.ownStore = true
	}
	defer func() {
		h.closeSenders()
		if h.ownStore {
			h.Store.Close()
		}
	}()
	engineMetrics := engine.NewMetrics(h.Metrics)
	h.Metrics.MustRegister(newCountsCollector(h.Store))
	h.Handle("deliver", engine.HandlerFunc(h.deliver))
	for _, m := range modules {
		if err := m.Init(h); err != nil {
			return fmt.Errorf("hub: modulo %s: %w", m.Name(), err)
		}
	}
	ec := h.Config.Engine
	h.Engine = engine.New(engine.Config{Store: h.Store, Handlers: h.handlers, Policy: h.policy, Workers: ec.Workers,
		Lease: ec.Lease, Grace: ec.Grace, Poll: ec.Poll, Logger: h.Log, Metrics: engineMetrics, Now: h.Now})

	servers, err := h.listen()
	if err != nil {
		return err
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	var wg sync.WaitGroup
	engineDone := make(chan error, 1)
	go func() { engineDone <- h.Engine.Run(runCtx) }()

	rcvCtx, stopReceivers := context.WithCancel(runCtx)
	defer stopReceivers()
	if err := h.startReceivers(rcvCtx, &wg); err != nil {
		stopReceivers()
		stopRun()
		<-engineDone
		return err
	}
	for _, t := range h.tasks {
		wg.Add(1)
		go func(t func(context.Context) error) {
			defer wg.Done()
			if err := t(rcvCtx); err != nil && rcvCtx.Err() == nil {
				h.Log.Error("attività di sfondo terminata con errore (background task failed)", "err", err)
			}
		}(t)
	}
	for _, s := range servers {
		go s.serve(h.Log)
	}
	close(h.ready)
	h.Log.Info("snodo avviato (hub started)", "enti", len(h.Routes.Enti), "http", h.Addr("http"), "https", h.Addr("https"),
		"store", h.Store.Dialect().String(), "owner", h.Engine.Owner())
	if h.opts.OnReady != nil {
		h.opts.OnReady(h)
	}

	<-ctx.Done()
	h.Log.Info("arresto in corso (shutting down)")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range servers {
		s.srv.Shutdown(shutCtx)
	}
	stopReceivers()
	wg.Wait()
	stopRun()
	err = <-engineDone
	h.Log.Info("snodo fermato (hub stopped)")
	return err
}

// startReceivers starts one receiver per receive phase of every enabled ente. A
// receiver that fails is restarted with backoff; its failures are logged.
func (h *Hub) startReceivers(ctx context.Context, wg *sync.WaitGroup) error {
	for _, e := range h.Routes.Enti {
		if !e.Ente.IsEnabled() {
			continue
		}
		for _, p := range h.Routes.Plan(e.ID()) {
			if p.Direction != route.Receive {
				continue
			}
			sf := h.sinkFactory(p.Phase)
			if sf == nil {
				h.Log.Warn("fase di ricezione senza flusso che la gestisca: ignorata (no flow handles this phase)", "ente", e.ID(), "phase", p.Phase)
				continue
			}
			kind, _ := h.Channels.Lookup(p.Endpoint.Kind)
			deps := channel.Deps{Logger: h.Log.With("ente", e.ID(), "phase", p.Phase), Now: h.Now,
				DataDir: filepath.Join(h.Config.DataDir, "channels", e.ID(), p.Phase)}
			rcv, err := kind.NewReceiver(p.Endpoint, deps)
			if err != nil {
				return fmt.Errorf("hub: ricevitore %s: %w", p.Endpoint.Name, err)
			}
			sink := resolvingSink{Sink: sf(e, p.Phase), h: h}
			h.runReceiver(ctx, wg, rcv, sink, deps.Logger)
		}
	}
	if err := h.startReceiptReceivers(ctx, wg); err != nil {
		return err
	}
	return nil
}

func (h *Hub) sinkFactory(phase string) SinkFactory {
	if f, ok := h.sinks[phase]; ok {
		return f
	}
	for prefix, f := range h.sinks {
		if strings.HasSuffix(prefix, ".") && strings.HasPrefix(phase, prefix) {
			return f
		}
	}
	return nil
}

// policy returns the retry policy of a job: the endpoint's, over the hub's default.
func (h *Hub) policy(j *store.Job) engine.Policy {
	p := toPolicy(h.Config.Engine.Retry)
	if strings.HasPrefix(j.Target, "sdi.") {
		// Calls to the SdI (sdi.RiceviFile, sdi.NotificaEsito...) follow sdi.retry.
		r := h.Config.SdI.Retry
		if r.MaxAttempts > 0 {
			p.MaxAttempts = r.MaxAttempts
		}
		if r.Initial > 0 {
			p.Initial = r.Initial
		}
		if r.Max > 0 {
			p.Max = r.Max
		}
		if r.MaxAge > 0 {
			p.MaxAge = r.MaxAge
		}
		return p
	}
	ente := j.Params["ente"]
	if ente == "" {
		return p
	}
	if spec, ok := h.Routes.Spec(ente, j.Target); ok {
		r := spec.Retry
		if r.MaxAttempts > 0 {
			p.MaxAttempts = r.MaxAttempts
		}
		if r.Initial > 0 {
			p.Initial = r.Initial
		}
		if r.Max > 0 {
			p.Max = r.Max
		}
		if r.MaxAge > 0 {
			p.MaxAge = r.MaxAge
		}
	}
	return p
}

func toPolicy(r route.RetrySpec) engine.Policy {
	return engine.Policy{MaxAttempts: r.MaxAttempts, Initial: r.Initial, Max: r.Max, MaxAge: r.MaxAge}
}

// Notify wakes the engine after new jobs were committed.
func (h *Hub) Notify() {
	if h.Engine != nil {
		h.Engine.Notify()
	}
}
