package passive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"snodo/pkg/channel"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
	"snodo/pkg/xsd"
	sdixsd "snodo/xsd/sdi"
)

// Engine handlers of the module.
const (
	HandlerCheck   = "passive.check"   // checks an invoice and plans what follows
	HandlerDeliver = "passive.deliver" // delivers an invoice on a phase (protocol, accounting)
	HandlerOutcome = "passive.outcome" // checks an EC the ente sent
	HandlerSendEC  = "passive.ec.send" // sends an EC to the SdI

	// TargetSdINotificaEsito is the target of EC sends: jobs whose target starts with
	// "sdi." follow the hub's sdi.retry policy.
	TargetSdINotificaEsito = "sdi.NotificaEsito"
	HandlerDT              = "passive.dt"         // correlates a DT to its invoice
	HandlerAutoAccept      = "passive.autoaccept" // sends EC01 after auto_accept_days
)

// Headers the module sets (besides message.HeaderIdentificativoSdI and
// message.HeaderCodiceDestinatario).
const (
	HeaderNomeFile         = "NomeFile"           // the SdI file name of the invoice
	HeaderNomeFileMetadati = "NomeFileMetadati"   // the MT file name
	HeaderFormato          = "Formato"            // FPA12, FPR12
	HeaderCedente          = "Cedente"            // the supplier's name
	HeaderBusta            = "Busta"              // envelope: xml, xades, cades
	HeaderFirmatario       = "Firmatario"         // signer's certificate subject
	HeaderRiferimenti      = "RiferimentiFattura" // NumeroFattura/AnnoFattura[/Posizione] of each invoice, "; "-separated
	HeaderPrevalidazione   = "Prevalidazione"     // one of the Prevalidation* values
	HeaderEsito            = "EsitoCommittente"   // EC01/EC02 once the SdI accepted an EC
	HeaderFattura          = "Fattura"            // on EC, DT, SE messages: the invoice's message id
	HeaderOrigine          = "Origine"            // on EC messages: ente, api, prevalidazione, automatico
	HeaderEsitoEC          = "Esito"              // on EC messages: EC01 or EC02
	HeaderRispostaSdI      = "RispostaSdI"        // on EC messages: ES01, ES00 <Scarto>
	HeaderRiferimento      = "Riferimento"        // on EC messages: the RiferimentoFattura
	HeaderCodice           = "Codice"             // on refusal notices: the refusal code
	HeaderRicevutaSdI      = "DataRicezioneSdI"   // when the hub received the invoice (RFC 3339)
	HeaderTentativiInvio   = "TentativiInvio"     // from the MT
	HeaderSdIPEC           = "IndirizzoPECSdI"    // the SdI address an invoice came from by PEC
)

// Origins of an EC message.
const (
	OriginEnte          = "ente"
	OriginAPI           = "api"
	OriginPrevalidation = "prevalidazione"
	OriginAuto          = "automatico"
)

// SdIPECSender sends an Esito Committente to the SdI by PEC (sdi.channel: pec), to the
// SdI address the invoice came from. The PEC channel implements it; until it is
// wired, a hub configured for the SdI over PEC dead-letters its ECs with a clear error.
type SdIPECSender interface {
	SendEC(ctx context.Context, to, nomeFile string, ec []byte) error
}

// Options configure the module.
type Options struct {
	// SdIPEC sends ECs by PEC when sdi.channel is pec.
	SdIPEC SdIPECSender
	// SdIClient overrides the SDICoop client built from sdi: in snodo.yaml.
	SdIClient *sdicoop.Client
	// AutoECDelay is how long after receipt the EC02 of a failed pre-validation waits
	// before it goes to the SdI (default 10s): an EC sent while the SdI has not yet
	// recorded the delivery (the ER01 still on its way back) is refused with EN01.
	AutoECDelay time.Duration
}

// Module is the passive cycle as a hub module.
type Module struct {
	opts Options
	h    *hub.Hub
	log  *slog.Logger
	ex   *Examiner

	clientOnce sync.Once
	client     *sdicoop.Client
	clientErr  error

	schemaOnce sync.Once
	schema     *xsd.Schema
	schemaErr  error

	metrics *metrics
}

var _ hub.Module = (*Module)(nil)

// New returns the passive cycle module. Creating it is cheap; Init does the work.
func New(o Options) *Module {
	if o.AutoECDelay <= 0 {
		o.AutoECDelay = 10 * time.Second
	}
	return &Module{opts: o}
}

// Name is "passive".
func (m *Module) Name() string { return "passive" }

// Migrations: the module keeps everything in the journal.
func (m *Module) Migrations() []store.Migration { return nil }

// Init mounts RicezioneFatture at /sdi/RicezioneFatture, the sink of the
// passive.outcome phase, and the engine handlers.
func (m *Module) Init(h *hub.Hub) error {
	m.h = h
	m.log = h.Log.With("flow", "passive")
	ex, err := NewExaminer(h.Config, h.Routes, m.log)
	if err != nil {
		return err
	}
	m.ex = ex
	m.metrics = newMetrics(h.Metrics)
	rf, err := sdicoop.NewRicezioneFatture(sdicoop.ServerConfig{Inbound: m, Logger: m.log, MaxFileBytes: h.Config.SdI.MaxFileSize,
		AllowedClientCNs: h.Config.SdI.ClientCNs})
	if err != nil {
		return err
	}
	h.Mux.Handle("/sdi/"+sdicoop.ServiceRicezioneFatture, rf)
	h.SinkFor(route.PassiveOutcome, func(e *route.Ente, phase string) channel.Sink { return &outcomeSink{m: m, ente: e.ID(), phase: phase} })
	h.Handle(HandlerCheck, jobFunc(m.check))
	h.Handle(HandlerDeliver, jobFunc(m.deliver))
	h.Handle(HandlerOutcome, jobFunc(m.outcome))
	h.Handle(HandlerSendEC, jobFunc(m.sendEC))
	h.Handle(HandlerDT, jobFunc(m.dt))
	h.Handle(HandlerAutoAccept, jobFunc(m.autoAccept))
	if h.Config.SdI.Channel == "pec" && m.opts.SdIPEC == nil {
		m.log.Warn("sdi.channel è pec ma nessun invio PEC verso l'SdI è configurato: gli esiti committente resteranno in dead letter " +
			"(sdi.channel is pec but no PEC sender to the SdI is wired: outcomes will be dead-lettered)")
	}
	return nil
}

// sdiClient builds the SDICoop client on first use (the built-in simulator may set the
// URLs during Init of an earlier module).
func (m *Module) sdiClient() (*sdicoop.Client, error) {
	m.clientOnce.Do(func() {
		if m.opts.SdIClient != nil {
			m.client = m.opts.SdIClient
			return
		}
		m.client, m.clientErr = flowkit.NewSdIClient(m.h.Config, m.log)
		if m.clientErr != nil {
			m.clientErr = fmt.Errorf("%w: impostare sdi.ricevi_notifica_url in snodo.yaml (set sdi.ricevi_notifica_url)", m.clientErr)
		}
	})
	return m.client, m.clientErr
}

// messaggiSchema compiles MessaggiTypes once.
func (m *Module) messaggiSchema() (*xsd.Schema, error) {
	m.schemaOnce.Do(func() { m.schema, m.schemaErr = xsd.Compile(sdixsd.FS, sdixsd.MessaggiTypes) })
	return m.schema, m.schemaErr
}

// jobFunc adapts a handler method.
type jobFunc func(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error)

func (f jobFunc) Handle(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	return f(ctx, j, msg)
}

// tx runs fn in a store transaction and wakes the engine afterwards.
func (m *Module) tx(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := m.h.Store.WithTx(ctx, fn); err != nil {
		return err
	}
	m.h.Notify()
	return nil
}

// setEnte binds a message stored without an ente (unroutable) to the ente that now
// serves it. The store has no method for it; this is the one column the module writes
// directly.
func setEnte(ctx context.Context, tx store.Tx, id message.ID, ente string) error {
	_, err := tx.SQL().ExecContext(ctx, tx.Rebind(`UPDATE messages SET ente = ? WHERE id = ?`), ente, string(id))
	if err != nil {
		return fmt.Errorf("passivo: assegnazione dell'ente a %s (binding the ente): %w", id, err)
	}
	return nil
}

// findInvoice returns the passive invoice with an IdentificativoSdI (the first stored).
func findInvoice(ctx context.Context, s store.Store, id sdi.IdentificativoSdI) (*message.Message, error) {
	ids, err := s.FindByKey(ctx, flowkit.SdIKey(string(id)))
	if err != nil {
		return nil, err
	}
	for _, mid := range ids {
		msg, err := s.Get(ctx, mid)
		if err != nil {
			return nil, err
		}
		if msg.Flow == message.FlowPassive && msg.Kind == message.KindInvoice {
			return msg, nil
		}
	}
	return nil, store.ErrNotFound
}

var errNoEnte = errors.New("fattura non instradata (unroutable invoice)")

type metrics struct {
	received   *prometheus.CounterVec
	unroutable prometheus.Counter
	rejected   prometheus.Counter
	outcomes   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_passive_invoices_received_total",
			Help: "Passive invoices received from the SdI, by result (stored, duplicate, unroutable)."}, []string{"result"}),
		unroutable: prometheus.NewCounter(prometheus.CounterOpts{Name: "snodo_passive_unroutable_total",
			Help: "Passive invoices and notifications no ente takes (state non-instradata)."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "snodo_passive_prevalidation_rejected_total",
			Help: "Passive invoices rejected by an ente's pre-validation rules (EC02 sent by the hub)."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_passive_outcomes_total",
			Help: "Esiti committente by esito (EC01, EC02) and result (ES01, ES00, refused by the hub)."}, []string{"esito", "result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.received, m.unroutable, m.rejected, m.outcomes} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
	}
	return m
}
