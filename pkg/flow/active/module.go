package active

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"snodo/pkg/channel"
	"snodo/pkg/fatturapa"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/signature"
	"snodo/pkg/store"
	"snodo/pkg/xslt"
	sdixsl "snodo/xsl/sdi"
)

// Engine handlers of the module.
const (
	HandlerCheck  = "active.check"  // checks, names and signs a submitted invoice
	HandlerSend   = "active.send"   // sends it to the SdI
	HandlerNotify = "active.notify" // correlates an SdI notification and relays it
)

// TargetSdI is the target of send jobs, as the timeline and the metrics show it.
const TargetSdI = "sdi.RiceviFile"

// Headers the module sets on invoices (besides message.HeaderIdentificativoSdI,
// message.HeaderCodiceDestinatario and message.HeaderNomeFileOriginale) and on
// notifications.
const (
	HeaderNomeFile          = "NomeFile"              // the name of the file at the SdI
	HeaderRicevuta          = "RicevutaComunicazione" // the receipt given to the ente
	HeaderFormato           = "Formato"               // FPA12, FPR12
	HeaderBusta             = "Busta"                 // envelope of the file sent: xml, xades, cades, zip
	HeaderFirma             = "Firma"                 // who signed: hub-cades, hub-xades, ente, nessuna
	HeaderCodice            = "Codice"                // FA00 accepted by the hub, FA02 refused, FA03 sender not enabled, FA05 no file
	HeaderErrori            = "Errori"                // the codes and messages of a refusal or an NS, for a person
	HeaderFatturaInterna    = "FatturaInterna"        // the ente that receives an internal invoice
	HeaderFatturaPassiva    = "FatturaPassiva"        // the passive message of an internal invoice
	HeaderInvioInCorso      = "InvioInCorso"          // RFC 3339 start of a send whose outcome is not known yet
	HeaderTentativiInvio    = "TentativiInvio"        // calls of SdIRiceviFile made for the file
	HeaderEsitoIncerto      = "EsitoIncerto"          // "si": a send's outcome was lost once (see send.go)
	HeaderDataRicezioneSdI  = "DataOraRicezioneSdI"   // when the SdI received the file (RFC 3339)
	HeaderEsitoCommittente  = "EsitoCommittente"      // EC01/EC02 of the NE
	HeaderIdentificativiSdI = "IdentificativiSdI"     // every IdentificativoSdI the file got, when more than one
	HeaderFattura           = "Fattura"               // on notifications: the invoice's message id
	HeaderNomeFileFattura   = "NomeFileFattura"       // on notifications: the invoice file they are about
	HeaderPECMittente       = "PEC-Mittente"          // set by the pec channel: the sender of a submission
)

// Internal names.
const (
	headerPECTipo              = "PEC-Tipo"           // set by the pec channel: posta-certificata or a receipt kind
	headerPECSenzaAllegati     = "PEC-Senza-Allegati" // set by the pec channel on a PEC without attachments
	pecPostaCertificata        = "posta-certificata"
	defaultUnknownOutcomeWait  = 2 * time.Hour
	defaultCheckSafetyDelay    = time.Minute
	maxGeneratedNameCollisions = 1000
	roleSent                   = "sdi" // the file as sent to the SdI, when it differs from the one received
	counterProgressivoPrefix   = "progressivo:"
	counterNomeFilePrefix      = "nomefile:"
	correlationPrefix          = "sdi:"
	dedupNotificationPrefix    = "attivo:sdi:"
	awaitKeyPrefix             = "attivo:invio:"
	outcomeContentType         = "application/xml"
	renderingContentType       = "text/html"
	notificationMaxDescription = 1500
)

// SdIPECSender hands an invoice file to the SdI by PEC (sdi.channel: pec): to the
// first SdI address (sdi.address) or the one the SdI assigned. It returns once the
// PEC was accepted by the hub's provider; the IdentificativoSdI then comes with the
// SdI's first notification, correlated by file name. Until the PEC channel wires it,
// a hub with sdi.channel pec dead-letters its active invoices with a clear error.
type SdIPECSender interface {
	SendInvoice(ctx context.Context, nomeFile string, data []byte) (pecMessageID string, err error)
}

// Options configure the module.
type Options struct {
	// SdIClient overrides the SDICoop client built from sdi: in snodo.yaml.
	SdIClient *sdicoop.Client
	// SdIPEC sends invoices by PEC when sdi.channel is pec.
	SdIPEC SdIPECSender
	// UnknownOutcomeWait is how long, after a send whose outcome was lost (the hub
	// stopped, or the SdI's answer did not arrive), the hub waits for an SdI
	// notification naming the file before it sends the same file again (default 2h).
	// Sending again is safe (the SdI refuses a known name with 00002, which the hub
	// recognises): the wait only spares a useless scarto.
	UnknownOutcomeWait time.Duration
	// CheckSafetyDelay delays the queued check of an API submission, which is checked
	// at once in the request; the queued job only runs if that did not finish
	// (default 1m).
	CheckSafetyDelay time.Duration
}

// Module is the active cycle as a hub module.
type Module struct {
	opts Options
	h    *hub.Hub
	log  *slog.Logger

	validator *fatturapa.Validator

	clientOnce sync.Once
	client     *sdicoop.Client
	clientErr  error

	signersMu sync.Mutex
	signers   map[string]*signature.Signer // by cert+key path

	nsOnce  sync.Once
	nsSheet *xslt.Stylesheet
	nsErr   error

	metrics *metrics
}

var (
	_ hub.Module      = (*Module)(nil)
	_ sdicoop.Inbound = (*Module)(nil)
)

// New returns the active cycle module. Creating it is cheap; Init does the work.
func New(o Options) *Module {
	if o.UnknownOutcomeWait <= 0 {
		o.UnknownOutcomeWait = defaultUnknownOutcomeWait
	}
	if o.CheckSafetyDelay <= 0 {
		o.CheckSafetyDelay = defaultCheckSafetyDelay
	}
	return &Module{opts: o, signers: map[string]*signature.Signer{}}
}

// Name is "active".
func (m *Module) Name() string { return "active" }

// Migrations: the module keeps everything in the journal.
func (m *Module) Migrations() []store.Migration { return nil }

// Init mounts TrasmissioneFatture at /sdi/TrasmissioneFatture (for the SdI's
// certificates named in sdi.client_cns), the sink of every ente's active.submit phase,
// and the engine handlers.
func (m *Module) Init(h *hub.Hub) error {
	m.h = h
	m.log = h.Log.With("flow", "active")
	v, err := flowkit.NewValidator(h.Config, nil, nil, m.log)
	if err != nil {
		return fmt.Errorf("attivo: validatore (validator): %w", err)
	}
	m.validator = v
	m.metrics = newMetrics(h.Metrics)
	tf, err := sdicoop.NewTrasmissioneFatture(sdicoop.ServerConfig{Inbound: m, Logger: m.log, MaxFileBytes: h.Config.SdI.MaxFileSize,
		AllowedClientCNs: h.Config.SdI.ClientCNs})
	if err != nil {
		return err
	}
	h.Mux.Handle("/sdi/"+sdicoop.ServiceTrasmissioneFatture, tf)
	h.SinkFor(route.ActiveSubmit, func(e *route.Ente, phase string) channel.Sink { return &submitSink{m: m, ente: e, phase: phase} })
	h.Handle(HandlerCheck, jobFunc(m.check))
	h.Handle(HandlerSend, jobFunc(m.send))
	h.Handle(HandlerNotify, jobFunc(m.notify))
	if h.Config.SdI.Channel == "pec" && m.opts.SdIPEC == nil {
		m.log.Warn("sdi.channel è pec ma nessun invio PEC verso l'SdI è collegato: le fatture attive resteranno in dead letter " +
			"(sdi.channel is pec but no PEC sender to the SdI is wired: active invoices will be dead-lettered)")
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
			m.clientErr = fmt.Errorf("%w: impostare sdi.ricevi_file_url e sdi.tls in snodo.yaml (set sdi.ricevi_file_url and sdi.tls)", m.clientErr)
		}
	})
	return m.client, m.clientErr
}

// signer returns the ente's signer, loaded once.
func (m *Module) signer(e *route.Ente) (*signature.Signer, error) {
	key := e.Active.Sign.Cert + "\x00" + e.Active.Sign.Key
	m.signersMu.Lock()
	defer m.signersMu.Unlock()
	if s, ok := m.signers[key]; ok {
		return s, nil
	}
	s, err := signature.LoadSigner(e.Active.Sign.Cert, e.Active.Sign.Key)
	if err != nil {
		return nil, fmt.Errorf("attivo: firma dell'ente %s (active.sign): %w", e.ID(), err)
	}
	s.Now = m.h.Now
	m.signers[key] = s
	return s, nil
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

// setEnte binds a message stored without an ente (a notification that came before its
// invoice was known) to the invoice's ente, and setCorrelation gives a message its
// correlation id when it has none. The store has no method for these columns; they
// are the only ones the module writes directly.
func setEnte(ctx context.Context, tx store.Tx, id message.ID, ente string) error {
	if _, err := tx.SQL().ExecContext(ctx, tx.Rebind(`UPDATE messages SET ente = ? WHERE id = ? AND ente = ''`), ente, string(id)); err != nil {
		return fmt.Errorf("attivo: assegnazione dell'ente a %s (binding the ente): %w", id, err)
	}
	return nil
}

func setCorrelation(ctx context.Context, tx store.Tx, id message.ID, corr string) error {
	if _, err := tx.SQL().ExecContext(ctx, tx.Rebind(`UPDATE messages SET correlation_id = ? WHERE id = ? AND correlation_id = ''`), corr, string(id)); err != nil {
		return fmt.Errorf("attivo: correlazione di %s (setting the correlation id): %w", id, err)
	}
	return nil
}

// CorrelationID is the correlation id of every message about an IdentificativoSdI:
// the active invoice, its notifications and, for an internal invoice, the passive one.
func CorrelationID(id string) string { return correlationPrefix + id }

type metrics struct {
	submitted     *prometheus.CounterVec
	sent          *prometheus.CounterVec
	notifications *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_active_invoices_checked_total",
			Help: "Active invoices checked by the hub, by result (accepted, refused)."}, []string{"result"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_active_sdi_sends_total",
			Help: "Calls of SdIRiceviFile (or PEC hand-overs), by result (ok, EI01, EI02, EI03, unknown, network)."}, []string{"result"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_active_notifications_total",
			Help: "SdI notifications of the active cycle, by type (RC, NS, MC, NE, DT, AT) and result (correlated, uncorrelated, duplicate)."},
			[]string{"tipo", "result"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.submitted, m.sent, m.notifications} {
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

// nsStylesheet compiles the official NS stylesheet once.
func (m *Module) nsStylesheet() (*xslt.Stylesheet, error) {
	m.nsOnce.Do(func() { m.nsSheet, m.nsErr = xslt.CompileFS(sdixsl.FS, sdixsl.NS) })
	return m.nsSheet, m.nsErr
}
