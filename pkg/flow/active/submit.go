package active

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/api"
	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
	snodowsdl "snodo/wsdl/snodo"
)

// Result codes of a submission, those of IntermediaMarche's RiceviFileCA (the hub's
// SOAP contract keeps them; the REST API and the outcome files use them too).
const (
	FA00 = "FA00" // received: checked and queued for the SdI (or checks in progress)
	FA01 = "FA01" // credentials not valid (given by the API layer)
	FA02 = "FA02" // invoice refused: the SdI would reject it, or a duplicate
	FA03 = "FA03" // ente not enabled for the active cycle, or PEC sender unknown
	FA04 = "FA04" // file name unusable
	FA05 = "FA05" // file missing or empty
)

// descrizioni are the fixed texts of the codes, as IntermediaMarche writes them.
var descrizioni = map[string]string{
	FA00: "RICEZIONE AVVENUTA CON SUCCESSO",
	FA01: "CREDENZIALI NON VALIDE",
	FA02: "FILE FATTURA RIFIUTATO: ERRORE VALIDAZIONE FATTURA",
	FA03: "ENTE NON ABILITATO",
	FA04: "NOME FILE FATTURA NON VALIDO",
	FA05: "ALLEGATO NON TROVATO",
}

// Descrizione returns the fixed description of a result code.
func Descrizione(code string) string { return descrizioni[code] }

// Submission is an invoice an ente submits through the API (REST, or the SOAP
// RiceviFileCA): the API layer authenticates the ente and passes its route id.
type Submission struct {
	Ente     string // route id of the authenticated ente
	NomeFile string // the file name the ente gave
	File     []byte
	// Source says where it came from, for the timeline ("api/rest 10.0.0.1").
	Source string
	// DedupKey, when set, identifies the request: the same key again returns the first
	// submission's receipt instead of storing it twice (a client retrying a call whose
	// answer it lost). Scope it to the ente, e.g. "api:<ente>:<Idempotency-Key>".
	DedupKey string
}

// Receipt is the hub's answer to a submission (IntermediaMarche's RicevutaComunicazione
// with the reason of a refusal). It is also the content of the outcome file delivered
// on file channels (see ParseOutcome).
type Receipt struct {
	MessageID             message.ID
	RicevutaComunicazione string
	DataOraRicezione      time.Time
	Codice                string // FA00, FA02, FA03, FA04, FA05
	Descrizione           string // the code's fixed text
	Messaggio             string // what happened, for a person (Italian, then English)
	NomeFileOriginale     string // the name the ente gave
	NomeFile              string // the name at the SdI (FA00 once checked; "" otherwise)
	State                 message.State
	Errori                []Errore // the SdI codes of a refusal
	// Duplicate is true when the submission repeated an earlier one (same DedupKey):
	// this is the earlier one's receipt.
	Duplicate bool
}

// Errore is one reason of a refusal: an SdI code (00001-00477) or a hub code, with
// the SdI's wording and where in the file.
type Errore struct {
	Codice      string
	Descrizione string
	Percorso    string
	Riga        int
}

// Submit stores an invoice an ente submits through the API and checks it at once, so
// the answer says whether it will be sent (FA00, with the name at the SdI) or why not
// (FA02 with the SdI's codes, FA03, FA04, FA05). The submission is committed before the
// check runs: should the check not finish (the hub stops), a queued job completes it and
// the receipt stays valid. An error means nothing was stored.
func (m *Module) Submit(ctx context.Context, s Submission) (*Receipt, error) {
	e, ok := m.h.Routes.Ente(s.Ente)
	if !ok {
		return nil, fmt.Errorf("attivo: ente %q sconosciuto (unknown ente)", s.Ente)
	}
	in := channel.Inbound{FileName: s.NomeFile, Data: s.File, DedupKey: s.DedupKey, Source: s.Source}
	id, created, err := m.ingest(ctx, e, "api", in, false)
	if err != nil {
		return nil, err
	}
	msg, err := m.h.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if created && (msg.State == Ricevuta || msg.State == message.StateReceived) {
		if err := m.runCheck(ctx, msg); err != nil {
			m.log.Warn("controllo immediato non completato: lo completerà il lavoro in coda (inline check not completed; the queued job will finish it)",
				"message", id, "ente", e.ID(), "err", err)
		}
	}
	r, err := m.Receipt(ctx, id)
	if err != nil {
		return nil, err
	}
	r.Duplicate = !created
	return r, nil
}

var _ api.ActiveSubmitter = (*Module)(nil)

// SubmitInvoice implements api.ActiveSubmitter: the REST and SOAP (RiceviFileCA)
// submissions of the API for enti, which authenticated the ente and checked the name,
// the size and that the file is not empty. The same file (name and bytes) submitted
// again by the same ente is a retransmission: it answers with the first receipt
// (Duplicate) and sends nothing.
func (m *Module) SubmitInvoice(ctx context.Context, ente, fileName string, data []byte, via string) (api.SubmitResult, error) {
	h := sha256.New()
	h.Write([]byte(fileName))
	h.Write([]byte{0})
	h.Write(data)
	r, err := m.Submit(ctx, Submission{Ente: ente, NomeFile: fileName, File: data, Source: via,
		DedupKey: "api:" + ente + ":" + hex.EncodeToString(h.Sum(nil))})
	if err != nil {
		return api.SubmitResult{}, err
	}
	res := api.SubmitResult{MessageID: r.MessageID, Duplicate: r.Duplicate, RicevutaComunicazione: r.RicevutaComunicazione, State: r.State}
	if r.Codice != FA00 {
		for _, e := range r.Errori {
			res.Errors = append(res.Errors, api.Problem{Code: e.Codice, Message: e.Descrizione, Path: e.Percorso, Line: e.Riga})
		}
		if len(res.Errors) == 0 {
			res.Errors = []api.Problem{{Code: r.Codice, Message: r.Messaggio}}
		}
	}
	return res, nil
}

// Receipt returns the receipt of a submission, from the journal.
func (m *Module) Receipt(ctx context.Context, id message.ID) (*Receipt, error) {
	msg, err := m.h.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if msg.Flow != message.FlowActive || msg.Kind != message.KindInvoice {
		return nil, fmt.Errorf("attivo: il messaggio %s non è una fattura attiva (not an active invoice): %w", id, store.ErrNotFound)
	}
	if data, err := m.h.Store.ReadFile(ctx, id, outcomeName(msg)); err == nil {
		r, err := ParseOutcome(outcomeName(msg), data)
		if err == nil {
			r.MessageID, r.State = id, msg.State
			return r, nil
		}
		m.log.Warn("esito illeggibile, ricevuta ricostruita (unreadable outcome, receipt rebuilt)", "message", id, "err", err)
	}
	// Not checked yet: the receipt of a submission taken in charge.
	r := receiptOf(msg)
	r.Codice, r.Descrizione = FA00, descrizioni[FA00]
	r.Messaggio = "fattura presa in carico: controlli in corso (invoice taken in charge: checks in progress)"
	return r, nil
}

// receiptOf fills what every receipt of msg says.
func receiptOf(msg *message.Message) *Receipt {
	r := &Receipt{MessageID: msg.ID, RicevutaComunicazione: msg.Header(HeaderRicevuta), DataOraRicezione: msg.CreatedAt,
		NomeFileOriginale: msg.FileName, NomeFile: msg.Header(HeaderNomeFile), State: msg.State}
	if r.RicevutaComunicazione == "" {
		r.RicevutaComunicazione, _ = snodowsdl.RicevutaFromMessageID(string(msg.ID))
	}
	return r
}

// submitSink takes the submissions of an ente's active.submit phase.
type submitSink struct {
	m     *Module
	ente  *route.Ente
	phase string
}

func (s *submitSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	if t := in.Headers[headerPECTipo]; t != "" && t != pecPostaCertificata {
		// A PEC receipt on the submission mailbox is no invoice: resolve what awaits it.
		return channel.Accepted{}, s.m.resolveReceipt(ctx, in)
	}
	id, created, err := s.m.ingest(ctx, s.ente, s.phase, in, true)
	return channel.Accepted{MessageID: id, Duplicate: !created}, err
}

func (m *Module) resolveReceipt(ctx context.Context, in channel.Inbound) error {
	m.log.Info("ricevuta PEC sulla casella di invio ignorata: nessuna consegna la attende qui (PEC receipt on the submission mailbox ignored)",
		"tipo", in.Headers[headerPECTipo], "source", in.Source)
	return nil
}

// ingest stores a submission of ente e as an active invoice with its check job. A
// submission the hub refuses before any check (ente not enabled, unknown PEC sender,
// no file, unusable name) is stored too, refused, with its outcome. outcomeOnChannel
// says whether the outcome file goes to the ente's active.notifications phase (file
// channels; the API answers in the call).
func (m *Module) ingest(ctx context.Context, e *route.Ente, phase string, in channel.Inbound, outcomeOnChannel bool) (message.ID, bool, error) {
	id := message.NewID()
	ricevuta, err := snodowsdl.RicevutaFromMessageID(string(id))
	if err != nil {
		return "", false, err
	}
	headers := map[string]string{}
	for k, v := range in.Headers {
		headers[k] = v
	}
	headers[HeaderRicevuta] = ricevuta
	headers[message.HeaderNomeFileOriginale] = in.FileName
	if !outcomeOnChannel {
		headers[headerOutcomeInCall] = "si"
	}
	owner, code, why, answer := m.admit(e, in)
	name := in.FileName
	if name == "" {
		name = "senza-nome"
	}
	msg := &message.Message{ID: id, Ente: owner.ID(), Flow: message.FlowActive, Kind: message.KindInvoice, FileName: name,
		Headers: headers, DedupKey: in.DedupKey, Source: owner.ID() + "/" + phase,
		Files: append([]message.File{{Name: name, Role: message.RoleMain, Data: in.Data}}, in.Files...)}
	events := []message.Event{{Type: message.EventReceived, Target: phase, Detail: strings.TrimSpace(in.Source + " " + receivedDetail(in))}}
	nm := store.NewMessage{Message: msg, Events: events}
	if code == "" {
		msg.State = Ricevuta
		events = append(events, message.Event{Type: message.EventState, Target: string(Ricevuta),
			Detail: "presa in carico; ricevuta " + ricevuta + " (taken in charge)"})
		job := store.JobSpec{Handler: HandlerCheck, Key: "active:check:" + string(id), Params: map[string]string{"ente": owner.ID()}}
		if !outcomeOnChannel {
			job.NotBefore = m.h.Now().Add(m.opts.CheckSafetyDelay)
		}
		nm.Jobs = []store.JobSpec{job}
		nm.Events = events
	} else {
		r := receiptOf(msg)
		r.DataOraRicezione = m.h.Now()
		r.Codice, r.Descrizione, r.Messaggio = code, descrizioni[code], why
		r.State = RifiutataValidazione
		msg.State = RifiutataValidazione
		msg.Headers[HeaderCodice] = code
		msg.Headers[HeaderErrori] = why
		out, err := MarshalOutcome(r)
		if err != nil {
			return "", false, err
		}
		msg.Files = append(msg.Files, message.File{Name: outcomeName(msg), Role: message.RoleOutcome, ContentType: outcomeContentType, Data: out})
		nm.Events = append(events, message.Event{Type: message.EventState, Target: string(RifiutataValidazione), Detail: code + " " + why})
		// An unknown PEC sender gets no answer: the hub does not write to strangers.
		if job, ok := m.outcomeJob(owner, msg, r); ok && outcomeOnChannel && answer {
			nm.Jobs = []store.JobSpec{job}
		}
	}
	mid, created, err := m.h.Store.Ingest(ctx, nm)
	if err != nil {
		return "", false, fmt.Errorf("attivo: registrazione di %s dell'ente %s (storing the submission): %w", name, owner.ID(), err)
	}
	if created {
		if code != "" {
			m.metrics.submitted.WithLabelValues("refused").Inc()
			m.log.Warn("fattura attiva rifiutata alla ricezione (active invoice refused on receipt)", "message", mid, "ente", owner.ID(),
				"file", name, "codice", code, "motivo", why)
		} else {
			m.log.Info("fattura attiva ricevuta (active invoice received)", "message", mid, "ente", owner.ID(), "file", name, "ricevuta", ricevuta)
		}
		m.h.Notify()
	} else {
		m.log.Info("invio già ricevuto: riconosciuto, non registrato di nuovo (submission already stored)", "message", mid, "ente", owner.ID(), "file", name)
	}
	return mid, created, nil
}

// headerOutcomeInCall marks submissions whose outcome is the API's answer.
const headerOutcomeInCall = "EsitoNellaRisposta"

func receivedDetail(in channel.Inbound) string {
	if from := in.Headers[HeaderPECMittente]; from != "" {
		return "(PEC da " + from + ")"
	}
	return ""
}

// admit decides who submitted and whether the hub takes the submission: the ente
// owning the receive phase, or for a PEC the ente whose ente.pec is the sender. A
// refusal returns its code and reason; owner is then the ente it is recorded under,
// and answer is false when the outcome must not be sent (an unknown PEC sender).
func (m *Module) admit(e *route.Ente, in channel.Inbound) (owner *route.Ente, code, why string, answer bool) {
	owner, answer = e, true
	if from := strings.ToLower(strings.TrimSpace(in.Headers[HeaderPECMittente])); from != "" && e.Ente.PEC != "" && !strings.EqualFold(from, e.Ente.PEC) {
		other := m.enteByPEC(from)
		if other == nil {
			return e, FA03, fmt.Sprintf("mittente PEC %s non abilitato: non è l'indirizzo ente.pec di alcun ente (%s è quello di %s) "+
				"(PEC sender not enabled)", from, e.Ente.PEC, e.ID()), false
		}
		owner = other
	}
	switch {
	case !owner.Ente.IsEnabled():
		return owner, FA03, fmt.Sprintf("l'ente %s è disabilitato (ente disabled)", owner.ID()), true
	case owner.Active.Enabled != nil && !*owner.Active.Enabled:
		return owner, FA03, fmt.Sprintf("l'ente %s non ha il ciclo attivo abilitato (active.enabled: false) (active cycle disabled)", owner.ID()), true
	case in.Headers[headerPECSenzaAllegati] == "true":
		return owner, FA05, "la PEC non ha allegati: allegare il file fattura (the PEC has no attachment)", true
	case len(in.Data) == 0:
		return owner, FA05, "file vuoto o mancante (empty or missing file)", true
	}
	if err := channel.SafeFileName(in.FileName); err != nil {
		return owner, FA04, err.Error(), true
	}
	return owner, "", "", true
}

// enteByPEC returns the ente whose ente.pec is addr, nil when none or several.
func (m *Module) enteByPEC(addr string) *route.Ente {
	var found *route.Ente
	for _, e := range m.h.Routes.Enti {
		if e.Ente.PEC != "" && strings.EqualFold(e.Ente.PEC, addr) {
			if found != nil {
				return nil
			}
			found = e
		}
	}
	return found
}

// errNoEnte is returned by jobs whose ente left the route files.
var errNoEnte = errors.New("ente non più presente nei file di rotta (ente no longer in the route files)")
