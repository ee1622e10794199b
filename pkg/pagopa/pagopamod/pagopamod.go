// Package pagopamod plugs pagoPA into the hub (a hub.Module): the paForNode service the
// Node calls at /pagopa/paForNode, the enti's positions API at /api/v1/positions and its
// SOAP twin modelled on MPay's IntegraEcDifferito at
// /api/soap/v1/pagopa/IntegraEcDifferito (bearer tokens of the route files), the loading of debt-position files that arrive on an ente's
// payments.positions phase (outcome file delivered on payments.outcomes), and the
// delivery of every receipt on payments.receipts.
//
// Add it to the binary's modules: hub.Options{Modules: []hub.Module{pagopamod.New(pagopamod.Options{})}}.
// Without a pagopa section in the configuration and payments in the routes it does nothing.
package pagopamod

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"snodo/pkg/channel"
	"snodo/pkg/engine"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/csvload"
	"snodo/pkg/pagopa/csvparse"
	"snodo/pkg/pagopa/ecdifferito"
	"snodo/pkg/pagopa/pagopaconf"
	"snodo/pkg/pagopa/paserver"
	"snodo/pkg/pagopa/posapi"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/receiptmsg"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// Paths and handler names.
const (
	PaForNodePath   = "/pagopa/paForNode"
	PositionsPath   = "/api/v1/positions"
	EcDifferitoPath = "/api/soap/v1/pagopa/IntegraEcDifferito"
	LoadHandler     = "pagopa.load" // engine handler that loads a positions file
	OutcomeSuffix   = ".esito.csv"
	KindPositions   = message.KindPositions
	KindLoadResult  = message.Kind("positions-outcome")
)

// Options tune the module.
type Options struct {
	Demand paserver.DemandHandler // spontaneous payments; nil answers PAA_SEMANTICA
	// EnteFromRequest authenticates the callers of the positions API; nil accepts the
	// bearer tokens of the route files (auth.tokens).
	EnteFromRequest posapi.EnteFromRequest
}

// Module is the pagoPA hub module.
type Module struct {
	o   Options
	cfg *pagopa.Config
	db  *posdb.DB
}

// New returns the module.
func New(o Options) *Module { return &Module{o: o} }

func (m *Module) Name() string                  { return "pagopa" }
func (m *Module) Migrations() []store.Migration { return posdb.Migrations }

// Config is the pagoPA configuration in force (nil before Init or when not configured).
func (m *Module) Config() *pagopa.Config { return m.cfg }

// DB is the positions repository (nil before Init).
func (m *Module) DB() *posdb.DB { return m.db }

// Init mounts the services and registers the loader.
func (m *Module) Init(h *hub.Hub) error {
	cfg, err := pagopaconf.FromRoutes(h.Config, h.Routes)
	if err != nil {
		return fmt.Errorf("pagopa: %w", err)
	}
	if len(cfg.Enti) == 0 {
		h.Log.Info("pagopa: nessun ente con pagamenti configurati: servizi pagoPA non attivi (no ente has payments)")
		return nil
	}
	m.cfg = cfg
	m.db = posdb.New(h.Store, posdb.Options{Now: h.Now, OnReceipt: receiptmsg.Hook(cfg, receiptmsg.Options{})})
	srv, err := paserver.New(cfg, m.db, paserver.Options{Logger: h.Log, Demand: m.o.Demand})
	if err != nil {
		return fmt.Errorf("pagopa: %w", err)
	}
	h.Mux.Handle(PaForNodePath, srv)
	auth := m.o.EnteFromRequest
	if auth == nil {
		auth = bearer(h.Routes)
	}
	api := posapi.New(cfg, m.db, auth, posapi.Options{Prefix: PositionsPath, Logger: h.Log})
	h.Mux.Handle(PositionsPath, api)
	h.Mux.Handle(PositionsPath+"/", api)
	ec, err := ecdifferito.New(cfg, m.db, auth, h.Log)
	if err != nil {
		return fmt.Errorf("pagopa: %w", err)
	}
	h.Mux.Handle(EcDifferitoPath, ec)
	h.SinkFor(route.PaymentsPositions, func(e *route.Ente, phase string) channel.Sink {
		return channel.SinkFunc(func(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
			id, created, err := h.Ingest(ctx, e.ID(), phase, in, message.FlowPayment, KindPositions,
				[]store.JobSpec{{Handler: LoadHandler, Target: phase}})
			return channel.Accepted{MessageID: id, Duplicate: !created}, err
		})
	})
	h.Handle(LoadHandler, m.loader(h))
	h.Log.Info("pagopa: servizi attivi (services on)", "paForNode", PaForNodePath, "positions", PositionsPath, "enti", len(cfg.Enti))
	return nil
}

// bearer authenticates an ente by one of the tokens of its route file.
func bearer(routes *route.Routes) posapi.EnteFromRequest {
	type tok struct{ value, ente string }
	var toks []tok
	for _, e := range routes.Enti {
		for _, t := range e.Auth.Tokens {
			if t.Value != "" {
				toks = append(toks, tok{t.Value, e.ID()})
			}
		}
	}
	return func(r *http.Request) (string, bool) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			return "", false
		}
		found := ""
		for _, t := range toks { // every token compared, in constant time
			if subtle.ConstantTimeCompare([]byte(got), []byte(t.value)) == 1 {
				found = t.ente
			}
		}
		return found, found != ""
	}
}

// loader loads a positions file received on payments.positions and answers with the
// outcome file, delivered on payments.outcomes when the ente has that phase. Loading is
// idempotent, so a retried job finds the rows already loaded ("INVARIATA") and reports
// the same notice numbers.
func (m *Module) loader(h *hub.Hub) engine.Handler {
	return engine.HandlerFunc(func(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
		re, ok := h.Routes.Ente(msg.Ente)
		if !ok {
			return store.Outcome{}, fmt.Errorf("pagopa: ente %s non più nelle route (ente no longer routed)", msg.Ente)
		}
		e := m.cfg.Ente(re.Ente.CodiceFiscale)
		if e == nil {
			return store.Outcome{}, fmt.Errorf("pagopa: ente %s senza pagamenti configurati (payments not configured)", msg.Ente)
		}
		data, err := h.Store.ReadFile(ctx, msg.ID, msg.FileName)
		if err != nil {
			return store.Outcome{}, err
		}
		var out bytes.Buffer
		sum, err := csvload.Load(ctx, m.db, e, bytes.NewReader(data), &out, csvload.Options{Options: csvparse.Options{Name: msg.FileName}, Logger: h.Log})
		var fe *csvparse.FileError
		var detail string
		switch {
		case err != nil && ctx.Err() != nil:
			return store.Outcome{}, err // shutting down: the job runs again
		case errors.As(err, &fe):
			if sum == nil {
				out.Reset()
				out.WriteString(strings.Join(csvload.OutcomeHeader, ",") + "\n")
			}
			fmt.Fprintf(&out, "%d,,,,KO,SCARTATA,%q\n", fe.Line, fe.Reason)
			detail = fe.Error()
		case err != nil:
			return store.Outcome{}, err // the store failed: retry
		default:
			detail = fmt.Sprintf("%d righe: %d caricate, %d aggiornate, %d invariate, %d annullate, %d scartate (rows loaded)", sum.Rows, sum.Created,
				sum.Updated, sum.Unchanged, sum.Cancelled, sum.Rejected)
		}
		h.Log.Info("pagopa: file di posizioni elaborato (positions file loaded)", "message", msg.ID, "ente", msg.Ente, "file", msg.FileName, "detail", detail)
		o := store.Outcome{Events: []message.Event{{Type: "loaded", Target: j.Target, Detail: detail}}, State: message.StateDelivered}
		if _, ok := h.Routes.Endpoint(msg.Ente, route.PaymentsOutcomes); ok {
			name := strings.TrimSuffix(msg.FileName, ".csv") + OutcomeSuffix
			o.Messages = []store.NewMessage{{
				Message: &message.Message{Ente: msg.Ente, Flow: message.FlowPayment, Kind: KindLoadResult, FileName: name,
					CorrelationID: string(msg.ID), ParentID: msg.ID, DedupKey: "pagopa:outcome:" + string(msg.ID),
					Files: []message.File{{Name: name, Role: message.RoleMain, Data: out.Bytes()}}},
				Jobs: []store.JobSpec{hub.DeliverJob(msg.Ente, route.PaymentsOutcomes, nil)},
			}}
		}
		return o, nil
	})
}
