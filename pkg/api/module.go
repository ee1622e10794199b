package api

import (
	"fmt"
	"net/http"

	"snodo/pkg/hub"
	"snodo/pkg/store"
)

// Module mounts the API on a hub's HTTP listeners. List it after the flows it serves:
//
//	act, pas := active.New(...), passive.New(...)
//	modules := []hub.Module{act, pas, api.NewModule(act, pas)}
//
// Either flow may be nil: its submissions then answer "service not available".
type Module struct {
	active  ActiveSubmitter
	passive OutcomeSubmitter
	// API is the running API once the hub initialised the module.
	API *API
}

var _ hub.Module = (*Module)(nil)

// NewModule returns the API module over the given flows.
func NewModule(active ActiveSubmitter, passive OutcomeSubmitter) *Module {
	return &Module{active: active, passive: passive}
}

// Name implements hub.Module.
func (m *Module) Name() string { return "api" }

// Migrations implements hub.Module: the API keeps no tables of its own.
func (m *Module) Migrations() []store.Migration { return nil }

// Init implements hub.Module: it indexes the enti's credentials and mounts the routes.
func (m *Module) Init(h *hub.Hub) error {
	a, err := New(Config{Store: h.Store, Routes: h.Routes, Active: m.active, Passive: m.passive, Logger: h.Log, Now: h.Now,
		TrustedProxies: h.Config.Listen.TrustedProxies})
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	a.Mount(h.Mux)
	m.API = a
	return nil
}

// EnteFromRequest authenticates a request with the API's credentials (bearer tokens,
// client certificates, HTTP Basic, with the failure bound) and returns the ente's route
// id: other modules' HTTP services for enti (the pagoPA positions API) use it so that
// every API of the hub accepts the same credentials. It is false before Init.
func (m *Module) EnteFromRequest(r *http.Request) (string, bool) {
	if m.API == nil {
		return "", false
	}
	c, err := m.API.authenticate(r)
	if err != nil {
		return "", false
	}
	return c.ente.ID(), true
}
