// Package sim is a simulator of the SdI (Sistema di Interscambio) on its SDICoop
// channel, for tests and for integrators: it plays the SdI and, behind it, the other
// party of every invoice.
//
// As the SdI towards a transmitter (active cycle) it serves SdIRiceviFile at
// /SdIRiceviFile: it answers with an IdentificativoSdI (int64, increasing, persisted in
// Config.StateDir), checks the file with its Validator, then calls the transmitter's
// TrasmissioneFatture (Config.TrasmissioneURL) as the [Scenario] chosen by the file's
// CodiceDestinatario says: NS with the errors, or RC then NE (EC01/EC02 of a simulated
// buyer) or DT, or MC then AT, or a real delivery to a recipient ([Recapito]).
//
// As the SdI towards a recipient (passive cycle) it delivers invoices with their
// metadata to RicezioneFatture (Config.RicezioneURL) with [Sim.DeliverInvoice] (up to
// three attempts, as the SdI), serves SdIRiceviNotifica at /SdIRiceviNotifica for the
// recipient's Esito Committente (ES01; ES00 with an SE when the EC is malformed, about
// an unknown invoice, a duplicate or after the DT; ES02 on demand), and sends the DT
// when no EC came within Timing.DT. [Sim.Redeliver] delivers an invoice again with the
// same IdentificativoSdI, as the SdI does when it did not get the ER01.
//
// Times: Timing replaces the SdI's days with durations; [Sim.FireDT] makes the DT
// happen now. Every step is recorded as an [Event] (Sim.Events, Sim.WaitFor, and GET
// /eventi on the control handler). Notifications are XAdES-signed when Config.Signer is
// set. The in-flight timeline lives in memory: a restarted simulator keeps its counter
// and the names it received, not its pending notifications.
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/soap"
)

// Signer signs an SdI message XAdES-BES, enveloped; *signature.Signer satisfies it.
type Signer interface {
	SignXAdES(doc []byte) ([]byte, error)
}

// Config configures a simulator. The zero value works: in-memory state, no transmitter
// or recipient configured (notifications are then recorded as failed events).
type Config struct {
	Logger *slog.Logger
	// StateDir keeps the IdentificativoSdI counter and the names of received files
	// across restarts; "" keeps them in memory.
	StateDir string
	// FirstID is the first IdentificativoSdI (default 5000000001, beyond 32 bits so a
	// peer storing it in an int32 fails at once).
	FirstID int64
	// TrasmissioneURL is the transmitter's TrasmissioneFatture endpoint (a hub's
	// .../sdi/TrasmissioneFatture).
	TrasmissioneURL string
	// RicezioneURL is the recipient's RicezioneFatture endpoint (a hub's
	// .../sdi/RicezioneFatture).
	RicezioneURL string
	// HTTP makes the calls to the hub (with the SdI's client certificate); nil means
	// http.DefaultClient.
	HTTP *http.Client
	// Inline sends files as inline base64 instead of MTOM.
	Inline bool
	// Validator judges received files; nil uses NewFatturaPA(CheckTaxIDs).
	Validator Validator
	// CheckTaxIDs makes the default validator check the tax ids' check digits.
	CheckTaxIDs bool
	// Rules map CodiceDestinatario to a scenario, over DefaultRules.
	Rules map[string]Scenario
	// Default is the scenario of codes without a rule (default ConsegnaEC01).
	Default Scenario
	Timing  Timing
	// Signer, if set, signs every message the simulated SdI issues (not the MT).
	Signer Signer
	// AllowedTransmitters, if set, lists the client certificate CNs allowed to call
	// RiceviFile; others get EI03.
	AllowedTransmitters []string
	// Now is the clock of the timestamps (default time.Now).
	Now func() time.Time
	// DropDir, if set, is polled every DropInterval (default 1s) for invoice files to
	// deliver to the recipient (see Sim.Start).
	DropDir      string
	DropInterval time.Duration
}

// Sim is a running simulator.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	client *sdicoop.SdIClient
	val    Validator
	rules  map[string]Scenario
	state  *state

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu            sync.Mutex
	fatture       map[sdi.IdentificativoSdI]*fattura
	timers        map[int]*time.Timer
	timerSeq      int
	msgSeq        int64
	events        []Event
	changed       chan struct{} // closed and replaced on every new event
	unavailableRF int
	unavailableNE int
	dropSizes     map[string]int64 // drop folder: size of each file at the last poll
}

// fattura is the simulator's record of one file.
type fattura struct {
	id       sdi.IdentificativoSdI
	nome     string
	data     []byte
	verdict  *Verdict
	scenario Scenario
	attivo   bool // received from a transmitter (RiceviFile)
	ricevuta time.Time

	recapitata bool // delivered to the recipient (RicezioneFatture answered ER01)
	tentativi  int
	esiti      map[string]string // accepted EC per invoice reference → Esito
	dtInviata  bool
	dtTimer    int
	seq        map[sdi.Tipo]int
}

// New builds a simulator; call Close to stop its timers.
func New(cfg Config) (*Sim, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FirstID <= 0 {
		cfg.FirstID = 5000000001
	}
	if cfg.Default == "" {
		cfg.Default = ConsegnaEC01
	}
	if _, err := ParseScenario(string(cfg.Default)); err != nil {
		return nil, fmt.Errorf("sim: Default: %w", err)
	}
	if cfg.DropInterval <= 0 {
		cfg.DropInterval = time.Second
	}
	cfg.Timing.defaults()
	rules := map[string]Scenario{}
	for c, s := range DefaultRules {
		rules[c] = s
	}
	for c, s := range cfg.Rules {
		if _, err := ParseScenario(string(s)); err != nil {
			return nil, fmt.Errorf("sim: regola %s: %w", c, err)
		}
		rules[c] = s
	}
	val := cfg.Validator
	if val == nil {
		fv, err := NewFatturaPA(cfg.CheckTaxIDs)
		if err != nil {
			return nil, err
		}
		val = fv
	}
	st, err := openState(cfg.StateDir, cfg.FirstID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sim{
		cfg: cfg, log: cfg.Logger.With("component", "sdi-sim"),
		client: sdicoop.NewSdIClient(cfg.HTTP, cfg.Inline, cfg.Logger),
		val:    val, rules: rules, state: st,
		ctx: ctx, cancel: cancel,
		fatture: map[sdi.IdentificativoSdI]*fattura{},
		timers:  map[int]*time.Timer{},
		changed: make(chan struct{}),
	}, nil
}

// Handler serves the SdI's services: /SdIRiceviFile and /SdIRiceviNotifica.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	rf, err := sdicoop.NewSdIRiceviFile(s.riceviFile, sdicoop.SdIServerOptions{Logger: s.cfg.Logger})
	if err != nil {
		panic(err) // fixed operation table: cannot fail
	}
	rn, err := sdicoop.NewSdIRiceviNotifica(s.notificaEsito, sdicoop.SdIServerOptions{Logger: s.cfg.Logger})
	if err != nil {
		panic(err)
	}
	mux.Handle("/SdIRiceviFile", rf)
	mux.Handle("/SdIRiceviNotifica", rn)
	return mux
}

// Start runs the drop-folder poller (when Config.DropDir is set) until ctx ends or
// Close is called.
func (s *Sim) Start(ctx context.Context) error {
	if s.cfg.DropDir == "" {
		return nil
	}
	if err := s.prepareDrop(); err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.DropInterval)
		defer t.Stop()
		for {
			s.pollDrop(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Close stops pending timers and waits for the work in flight. It may be called more
// than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Sim) close() error {
	s.cancel()
	s.mu.Lock()
	for id, t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, id)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.state.close()
}

// after runs fn after d, unless the simulator is closed first. It returns a handle for
// cancel.
func (s *Sim) after(d time.Duration, fn func(ctx context.Context)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return 0
	}
	s.timerSeq++
	id := s.timerSeq
	s.wg.Add(1)
	s.timers[id] = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		delete(s.timers, id)
		s.mu.Unlock()
		if s.ctx.Err() == nil {
			fn(s.ctx)
		}
	})
	return id
}

// cancelTimer stops a pending timer; s.mu must be held.
func (s *Sim) cancelTimer(id int) {
	if t, ok := s.timers[id]; ok && t.Stop() {
		delete(s.timers, id)
		s.wg.Done()
	}
}

// Unavailable makes the next n calls of service ("RiceviFile" or "NotificaEsito")
// answer EI02 / ES02, as an SdI out of service.
func (s *Sim) Unavailable(service string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch service {
	case "RiceviFile":
		s.unavailableRF = n
	case "NotificaEsito":
		s.unavailableNE = n
	default:
		return fmt.Errorf("servizio %q sconosciuto: RiceviFile o NotificaEsito (unknown service)", service)
	}
	return nil
}

func (s *Sim) scenarioFor(codice string) Scenario {
	if sc, ok := s.rules[codice]; ok {
		return sc
	}
	return s.cfg.Default
}

func (s *Sim) nextMessageID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgSeq++
	return fmt.Sprintf("%d", 700000+s.msgSeq)
}

// messageName names the next message of type t about f; s.mu must be held.
func (f *fattura) messageName(t sdi.Tipo) string {
	f.seq[t]++
	return sdi.NomeFileMessaggio(f.nome, t, f.seq[t])
}

func (s *Sim) lookup(id sdi.IdentificativoSdI) *fattura {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatture[id]
}

// Event is one step of the simulation.
type Event struct {
	Seq               int                   `json:"seq"`
	Time              time.Time             `json:"time"`
	IdentificativoSdI sdi.IdentificativoSdI `json:"IdentificativoSdI"`
	NomeFile          string                `json:"NomeFile"` // the invoice file
	// Azione is what happened: "RiceviFile" (a file received from the transmitter),
	// "Notifica" (a message sent to the transmitter), "RiceviFatture" (an invoice
	// delivered to the recipient), "DecorrenzaTermini" (a DT sent to the recipient),
	// "NotificaEsito" (an EC received from the recipient).
	Azione string   `json:"azione"`
	Tipo   sdi.Tipo `json:"tipo,omitempty"` // the message type, for notifications
	// Dettaglio is the message file name, the answer given (ES01, ES00 EN01, EI02) or
	// the scenario.
	Dettaglio string `json:"dettaglio,omitempty"`
	Err       string `json:"errore,omitempty"`
	// File is the message sent or received, when there is one.
	File []byte `json:"-"`
}

func (s *Sim) record(e Event) {
	s.mu.Lock()
	e.Seq = len(s.events) + 1
	e.Time = s.cfg.Now()
	s.events = append(s.events, e)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	attrs := []any{"azione", e.Azione, "IdentificativoSdI", e.IdentificativoSdI, "NomeFile", e.NomeFile, "tipo", e.Tipo, "dettaglio", e.Dettaglio}
	if e.Err != "" {
		s.log.Warn("sdi-sim: "+e.Azione, append(attrs, "err", e.Err)...)
	} else {
		s.log.Info("sdi-sim: "+e.Azione, attrs...)
	}
}

// Events returns the steps so far, in order.
func (s *Sim) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// WaitFor returns the first event (past or future) matching match, or ctx's error.
func (s *Sim) WaitFor(ctx context.Context, match func(Event) bool) (Event, error) {
	seen := 0
	for {
		s.mu.Lock()
		evs, ch := s.events[seen:], s.changed
		seen = len(s.events)
		s.mu.Unlock()
		for _, e := range evs {
			if match(e) {
				return e, nil
			}
		}
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("sim: evento atteso non arrivato (expected event did not happen): %w", ctx.Err())
		case <-ch:
		}
	}
}

// deliverWithRetry tries send up to Timing.Attempts times, Timing.Retry apart.
func (s *Sim) deliverWithRetry(ctx context.Context, send func(ctx context.Context) error) (attempts int, err error) {
	for attempts = 1; ; attempts++ {
		err = send(ctx)
		if err == nil || attempts >= s.cfg.Timing.Attempts {
			return attempts, err
		}
		var f *soap.Fault
		if errors.As(err, &f) && f.Code == soap.CodeClient {
			return attempts, err // the recipient refuses the request itself
		}
		select {
		case <-ctx.Done():
			return attempts, err
		case <-time.After(s.cfg.Timing.Retry):
		}
	}
}

// sign signs a message when a Signer is configured.
func (s *Sim) sign(doc []byte) ([]byte, error) {
	if s.cfg.Signer == nil {
		return doc, nil
	}
	out, err := s.cfg.Signer.SignXAdES(doc)
	if err != nil {
		return nil, fmt.Errorf("sim: firma del messaggio (signing the message): %w", err)
	}
	return out, nil
}
