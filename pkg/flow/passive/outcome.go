package passive

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
	"snodo/pkg/xsd"
)

// Refusal codes: why the hub refused an Esito Committente of an ente. They go back to
// the ente in the refusal notice (file <EC>.rifiuto.xml on passive.notifications) and,
// for the API, in the synchronous answer.
const (
	RefusalMalformed   = "esito-non-valido"      // not an EC, or not valid against MessaggiTypes
	RefusalFileName    = "nome-file-errato"      // not <invoice name>_EC_nnn.xml
	RefusalUnknown     = "fattura-sconosciuta"   // no invoice with that IdentificativoSdI
	RefusalOtherEnte   = "fattura-di-altro-ente" // the invoice belongs to another ente
	RefusalNoOutcome   = "esito-non-previsto"    // FPR12: no outcome exchange
	RefusalRiferimento = "riferimento-errato"    // RiferimentoFattura names no invoice of the file
	RefusalAfterDT     = "decorrenza-termini"    // the DT already came
	RefusalAlready     = "esito-gia-inviato"     // the SdI already accepted an EC for it
	RefusalInProgress  = "esito-in-corso"        // another EC is on its way, or the invoice is not checked yet
	RefusalDuplicate   = "nome-file-duplicato"   // an EC with this file name was already taken
)

// OutcomeError is an Esito Committente the hub refuses, with a code and the reason an
// operator at the ente reads (Italian, then English).
type OutcomeError struct {
	Code              string
	IdentificativoSdI string
	Reason            string
}

func (e *OutcomeError) Error() string {
	if e.IdentificativoSdI != "" {
		return fmt.Sprintf("esito rifiutato (%s) per IdentificativoSdI %s: %s", e.Code, e.IdentificativoSdI, e.Reason)
	}
	return fmt.Sprintf("esito rifiutato (%s): %s", e.Code, e.Reason)
}

func refuse(code, id, format string, args ...any) *OutcomeError {
	return &OutcomeError{Code: code, IdentificativoSdI: id, Reason: fmt.Sprintf(format, args...)}
}

// outcomeSink takes the EC files an ente sends on its passive.outcome channel: each is
// stored (never lost, never refused at the door) with the job that checks it.
type outcomeSink struct {
	m           *Module
	ente, phase string
}

func (s *outcomeSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	m := s.m
	msg := &message.Message{Ente: s.ente, Flow: message.FlowPassive, Kind: message.KindOutcome, FileName: in.FileName,
		Headers: map[string]string{HeaderOrigine: OriginEnte}, DedupKey: in.DedupKey, Source: s.ente + "/" + s.phase,
		Files: append([]message.File{{Name: in.FileName, Role: message.RoleMain, ContentType: "application/xml", Data: in.Data}}, in.Files...)}
	for k, v := range in.Headers {
		msg.SetHeader(k, v)
	}
	id, created, err := m.h.Store.Ingest(ctx, store.NewMessage{Message: msg,
		Events: []message.Event{{Type: message.EventReceived, Target: s.phase, Detail: "esito committente dall'ente: " + in.FileName + " da " + in.Source}},
		Jobs:   []store.JobSpec{{Handler: HandlerOutcome, Params: map[string]string{"ente": s.ente}}}})
	if err != nil {
		return channel.Accepted{}, fmt.Errorf("passivo: registrazione dell'esito %s: %w", in.FileName, err)
	}
	if created {
		m.log.Info("esito committente ricevuto dall'ente (outcome received)", "message", id, "ente", s.ente, "file", in.FileName)
		m.h.Notify()
	}
	return channel.Accepted{MessageID: id, Duplicate: !created}, nil
}

var ecName = regexp.MustCompile(`^(.+)_EC_([A-Za-z0-9]{3})\.(?i:xml)$`)

// VerifyECFile checks an EC file on its own: its name (<invoice>_EC_nnn.xml), that it
// is an EC, valid against MessaggiTypes and the schema's rules. Hostile input gives an
// OutcomeError naming the file, never a panic.
func VerifyECFile(schema *xsd.Schema, name string, data []byte) (*sdi.NotificaEsitoCommittente, *OutcomeError) {
	if err := sdicoop.CheckNomeFile("NomeFile", name); err != nil || !ecName.MatchString(name) {
		return nil, refuse(RefusalFileName, "", "%q non è un nome di esito committente: usare <nome file fattura senza estensione>_EC_<nnn>.xml, "+
			"es. IT01234567890_00001_EC_001.xml (expected <invoice name>_EC_nnn.xml)", clipRunes(name, 80))
	}
	msg, err := sdi.Parse(name, data)
	if err != nil {
		return nil, refuse(RefusalMalformed, "", "%s: file non leggibile (unreadable file): %v", name, err)
	}
	ec, ok := msg.Body.(*sdi.NotificaEsitoCommittente)
	if !ok {
		return nil, refuse(RefusalMalformed, "", "%s: atteso un esito committente (NotificaEsitoCommittente), trovato %s (expected an EC)", name, msg.Tipo)
	}
	id := string(ec.IdentificativoSdI)
	if msg.B2B {
		return nil, refuse(RefusalMalformed, id, "%s: l'esito committente usa lo spazio dei nomi %s (expected namespace %s)", name, sdi.NSMessaggiB2B, sdi.NSMessaggi)
	}
	if schema != nil {
		if err := schema.Validate(name, data, 20); err != nil {
			var ve *xsd.ValidationError
			if errors.As(err, &ve) {
				var parts []string
				for _, v := range ve.Violations {
					parts = append(parts, fmt.Sprintf("riga %d: %s", v.Line, strings.TrimSpace(v.Message)))
				}
				return nil, refuse(RefusalMalformed, id, "%s non valido rispetto a MessaggiTypes_v1.1.xsd (invalid against the schema): %s", name, strings.Join(parts, "; "))
			}
			return nil, refuse(RefusalMalformed, id, "%s non valido rispetto a MessaggiTypes_v1.1.xsd (invalid against the schema): %v", name, err)
		}
	}
	if err := ec.Check(); err != nil {
		return nil, refuse(RefusalMalformed, id, "%s: %v", name, err)
	}
	return ec, nil
}

// checkInvoice finds the invoice an EC names and checks what does not depend on its
// state: known, this ente's, with outcomes (FPA12), the reference. err is set when the
// check could not be made (retry).
func (m *Module) checkInvoice(ctx context.Context, ente string, ec *sdi.EsitoCommittente, ecFile string) (*message.Message, *OutcomeError, error) {
	id := string(ec.IdentificativoSdI)
	inv, err := findInvoice(ctx, m.h.Store, ec.IdentificativoSdI)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(RefusalUnknown, id, "nessuna fattura ricevuta con IdentificativoSdI %s: controllare l'identificativo (no invoice with this IdentificativoSdI)", id), nil
	}
	if err != nil {
		return nil, nil, err
	}
	if inv.Ente != ente {
		return nil, refuse(RefusalOtherEnte, id, "la fattura %s (IdentificativoSdI %s) non è indirizzata a questo ente (the invoice belongs to another ente)", inv.FileName, id), nil
	}
	if inv.Header(HeaderFormato) == "FPR12" {
		return nil, refuse(RefusalNoOutcome, id, "la fattura %s è tra privati (FPR12): l'esito committente non è previsto (no outcome for FPR12)", inv.FileName), nil
	}
	if ecFile != "" {
		base := ecName.FindStringSubmatch(ecFile)[1]
		if want := strings.TrimSuffix(sdi.NomeFileMessaggio(inv.FileName, sdi.EC, 1), "_EC_001.xml"); base != want {
			return nil, refuse(RefusalFileName, id, "il nome %s non corrisponde alla fattura %s: usare %s_EC_<nnn>.xml (file name does not match the invoice)", ecFile, inv.FileName, want), nil
		}
		if ids, err := m.h.Store.FindByKey(ctx, flowkit.FileKey(ecFile)); err != nil {
			return nil, nil, err
		} else if len(ids) > 0 {
			return nil, refuse(RefusalDuplicate, id, "un esito di nome %s è già stato ricevuto: usare un nuovo progressivo _EC_<nnn> (file name already used)", ecFile), nil
		}
	}
	refs, ok := parseRiferimenti(inv.Header(HeaderRiferimenti))
	if !ok {
		if inv.State == Ricevuta || inv.State == NonInstradata {
			return nil, refuse(RefusalInProgress, id, "la fattura %s è ancora in verifica: riprovare tra poco (invoice still being checked)", inv.FileName), nil
		}
		if ec.RiferimentoFattura != nil {
			return nil, refuse(RefusalRiferimento, id, "la fattura %s non è leggibile: indicare l'esito senza RiferimentoFattura (unreadable invoice: omit RiferimentoFattura)", inv.FileName), nil
		}
		return inv, nil, nil
	}
	if r := ec.RiferimentoFattura; r != nil {
		found := false
		for _, x := range refs {
			if x.NumeroFattura == r.NumeroFattura && x.AnnoFattura == r.AnnoFattura && (r.PosizioneFattura == 0 || r.PosizioneFattura == x.PosizioneFattura || len(refs) == 1 && r.PosizioneFattura == 1) {
				found = true
				break
			}
		}
		if !found {
			var have []string
			for i := range refs {
				have = append(have, riferimentoKey(&refs[i]))
			}
			return nil, refuse(RefusalRiferimento, id, "RiferimentoFattura %s non corrisponde ad alcuna fattura del file %s (numero/anno[/posizione] presenti: %s) (no such invoice in the file)",
				riferimentoKey(r), inv.FileName, strings.Join(have, ", ")), nil
		}
	}
	return inv, nil, nil
}

// esiti reads header EsitiCommittente: the accepted outcomes by reference ("" = file).
func esiti(inv *message.Message) map[string]string {
	out := map[string]string{}
	if s := inv.Header(headerEsiti); s != "" {
		_ = json.Unmarshal([]byte(s), &out)
	}
	return out
}

const headerEsiti = "EsitiCommittente"

// stateRefusal checks an EC against the invoice's state, under its lock.
func stateRefusal(inv *message.Message, ref *sdi.RiferimentoFattura) *OutcomeError {
	id := inv.Header(message.HeaderIdentificativoSdI)
	switch inv.State {
	case DecorrenzaTermini:
		return refuse(RefusalAfterDT, id, "per la fattura %s è già arrivata la decorrenza termini: l'SdI non accetta più esiti (the DT already came: no outcome possible)", inv.FileName)
	case EsitoRicevuto, EsitoInviato, RifiutataPrevalidazione:
		return refuse(RefusalInProgress, id, "per la fattura %s un esito è già in invio all'SdI (stato %s): attendere la risposta (an outcome is already on its way)", inv.FileName, inv.State)
	case Ricevuta, NonInstradata, message.StateReceived:
		return refuse(RefusalInProgress, id, "la fattura %s è ancora in verifica: riprovare tra poco (invoice still being checked)", inv.FileName)
	}
	done := esiti(inv)
	key := riferimentoKey(ref)
	if e, ok := done[""]; ok {
		return refuse(RefusalAlready, id, "per la fattura %s l'SdI ha già accettato l'esito %s (an outcome was already accepted)", inv.FileName, e)
	}
	if e, ok := done[key]; ok {
		return refuse(RefusalAlready, id, "per la fattura %s numero %s l'SdI ha già accettato l'esito %s (an outcome was already accepted)", inv.FileName, key, e)
	}
	if key == "" && len(done) > 0 {
		return refuse(RefusalAlready, id, "per alcune fatture del file %s l'SdI ha già accettato un esito: indicare RiferimentoFattura (outcomes already accepted for some invoices)", inv.FileName)
	}
	if !waitingForOutcome(inv.State) {
		return refuse(RefusalInProgress, id, "la fattura %s è nello stato %s: esito non ammesso ora (no outcome allowed in this state)", inv.FileName, inv.State)
	}
	return nil
}

// outcome is the job that checks an EC the ente sent and queues it for the SdI, or
// refuses it and tells the ente why.
func (m *Module) outcome(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if msg.State != message.StateReceived {
		return store.Outcome{}, nil
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, msg.FileName)
	if err != nil {
		return store.Outcome{}, err
	}
	schema, err := m.messaggiSchema()
	if err != nil {
		return store.Outcome{}, fmt.Errorf("passivo: schema MessaggiTypes: %w", err)
	}
	ec, oerr := VerifyECFile(schema, msg.FileName, data)
	var inv *message.Message
	if oerr == nil {
		inv, oerr, err = m.checkInvoice(ctx, msg.Ente, &ec.EsitoCommittente, msg.FileName)
		if err != nil {
			return store.Outcome{}, err
		}
	}
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil || cur.State != message.StateReceived {
			return err
		}
		var ilocked *message.Message
		if oerr == nil {
			if ilocked, err = lock(ctx, tx, m.h.Store.Dialect(), inv.ID); err != nil {
				return err
			}
			oerr = stateRefusal(ilocked, ec.RiferimentoFattura)
		}
		if oerr != nil {
			return m.refuseEC(tx, cur, inv, oerr)
		}
		if err := tx.AddKeys(msg.ID, flowkit.SdIKey(string(ec.IdentificativoSdI)), flowkit.FileKey(msg.FileName)); err != nil {
			return err
		}
		if err := tx.MergeHeaders(msg.ID, ecHeaders(ilocked, ec, OriginEnte)); err != nil {
			return err
		}
		if _, err := transition(tx, outcomeTransitions, cur, EsitoRicevuto, fmt.Sprintf("esito %s per la fattura %s verificato: in invio all'SdI (checked, queued for the SdI)", ec.Esito, inv.FileName)); err != nil {
			return err
		}
		if _, err := transition(tx, invoiceTransitions, ilocked, EsitoRicevuto, fmt.Sprintf("esito %s ricevuto dall'ente: %s (outcome received from the ente)", ec.Esito, msg.FileName)); err != nil {
			return err
		}
		return tx.Enqueue(store.JobSpec{MessageID: msg.ID, Handler: HandlerSendEC, Target: TargetSdINotificaEsito, Key: "passive:send:" + string(msg.ID), Params: map[string]string{"ente": msg.Ente}})
	})
	if err != nil {
		return store.Outcome{}, err
	}
	if oerr != nil {
		m.metrics.outcomes.WithLabelValues(outcomeLabel(ec), "refused").Inc()
		m.log.Warn("esito committente rifiutato dall'hub (outcome refused)", "message", msg.ID, "ente", msg.Ente, "file", msg.FileName, "codice", oerr.Code, "motivo", oerr.Reason)
	}
	return store.Outcome{}, nil
}

func outcomeLabel(ec *sdi.NotificaEsitoCommittente) string {
	if ec == nil || (ec.Esito != sdi.EC01 && ec.Esito != sdi.EC02) {
		return "unknown"
	}
	return ec.Esito
}

func ecHeaders(inv *message.Message, ec *sdi.NotificaEsitoCommittente, origin string) map[string]string {
	h := map[string]string{
		message.HeaderIdentificativoSdI: string(ec.IdentificativoSdI),
		HeaderFattura:                   string(inv.ID),
		HeaderNomeFile:                  inv.FileName,
		HeaderOrigine:                   origin,
		HeaderEsitoEC:                   ec.Esito,
		HeaderCedente:                   inv.Header(HeaderCedente),
		HeaderRicevutaSdI:               inv.Header(HeaderRicevutaSdI),
	}
	if ec.RiferimentoFattura != nil {
		h[HeaderRiferimento] = riferimentoKey(ec.RiferimentoFattura)
	}
	return h
}

// refusal is the notice the hub writes when it refuses an EC.
type refusal struct {
	XMLName           xml.Name `xml:"urn:snodo:passivo:1 EsitoRifiutato"`
	NomeFile          string   `xml:"NomeFile"`
	IdentificativoSdI string   `xml:"IdentificativoSdI,omitempty"`
	Codice            string   `xml:"Codice"`
	Descrizione       string   `xml:"Descrizione"`
	DataOra           string   `xml:"DataOra"`
}

// refuseEC marks the EC message refused and queues the notice to the ente.
func (m *Module) refuseEC(tx store.Tx, ecMsg, inv *message.Message, oerr *OutcomeError) error {
	if err := tx.MergeHeaders(ecMsg.ID, map[string]string{HeaderCodice: oerr.Code, message.HeaderIdentificativoSdI: oerr.IdentificativoSdI}); err != nil {
		return err
	}
	if _, err := transition(tx, outcomeTransitions, ecMsg, ECRifiutato, oerr.Code+": "+oerr.Reason); err != nil {
		return err
	}
	now := m.h.Now()
	doc, err := xml.MarshalIndent(refusal{NomeFile: ecMsg.FileName, IdentificativoSdI: oerr.IdentificativoSdI, Codice: oerr.Code,
		Descrizione: oerr.Reason, DataOra: now.In(sdi.Rome).Format(time.RFC3339)}, "", "  ")
	if err != nil {
		return err
	}
	doc = append([]byte(xml.Header), append(doc, '\n')...)
	name := safeName(strings.TrimSuffix(strings.TrimSuffix(ecMsg.FileName, ".xml"), ".XML")) + ".rifiuto.xml"
	phase := m.notificationsPhase(ecMsg.Ente)
	subject := Subject(oerr.IdentificativoSdI, ecMsg.FileName, subjectRifiuto, "", dataRicezioneEnte, now)
	notice := &message.Message{Ente: ecMsg.Ente, Flow: message.FlowPassive, Kind: message.KindNotification, FileName: name,
		Headers:  map[string]string{message.HeaderTipoMessaggio: "RIFIUTO-ESITO", HeaderCodice: oerr.Code, message.HeaderIdentificativoSdI: oerr.IdentificativoSdI},
		ParentID: ecMsg.ID, CorrelationID: correlation(inv), DedupKey: "passive:rifiuto:" + string(ecMsg.ID), Source: "hub",
		Files: []message.File{{Name: name, Role: message.RoleMain, ContentType: "application/xml", Data: doc}}}
	evs := []message.Event{{Type: message.EventReceived, Target: "hub", Detail: "avviso all'ente del rifiuto di " + ecMsg.FileName + ": " + oerr.Code}}
	if phase == "" {
		evs = append(evs, message.Event{Type: message.EventNote, Detail: "l'ente non ha una fase per le notifiche: avviso non consegnato (no notifications phase)"})
	}
	_, _, err = tx.Ingest(store.NewMessage{Message: notice, Events: evs, Jobs: relay(ecMsg.Ente, phase, subject, message.StateDelivered)})
	return err
}

func correlation(inv *message.Message) string {
	if inv == nil {
		return ""
	}
	return string(inv.ID)
}

// safeName keeps letters, digits, dot, dash and underscore, at most 200 bytes.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 200 {
			break
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == "" {
		out = "esito"
	}
	return out
}

// OutcomeRequest is an ente's accept/reject of an invoice made through the API: the
// hub writes the Esito Committente file itself.
type OutcomeRequest struct {
	Ente              string // the ente's route id (from its credentials)
	IdentificativoSdI string
	Esito             string // EC01 (accettazione) or EC02 (rifiuto)
	Descrizione       string // at most 255 characters
	// RiferimentoFattura picks one invoice of a file (a lotto); nil: the whole file.
	RiferimentoFattura   *sdi.RiferimentoFattura
	MessageIdCommittente string // optional, at most 14 characters
}

// OutcomeReceipt says what the hub queued for the SdI.
type OutcomeReceipt struct {
	MessageID message.ID // the EC message
	NomeFile  string     // the EC file name, <invoice>_EC_nnn.xml
	Invoice   message.ID // the invoice's message
}

// SubmitDecision builds, checks and queues an Esito Committente for the SdI on behalf
// of an ente (the API's accept/reject by fields). A refusal is an *OutcomeError with its
// code (unknown invoice, another ente's, after the DT, already answered, malformed);
// other errors mean the store could not be reached (retry).
func (m *Module) SubmitDecision(ctx context.Context, req OutcomeRequest) (OutcomeReceipt, error) {
	id, err := sdi.ParseIdentificativoSdI(req.IdentificativoSdI)
	if err != nil {
		return OutcomeReceipt{}, refuse(RefusalMalformed, req.IdentificativoSdI, "%v", err)
	}
	ec := &sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, RiferimentoFattura: req.RiferimentoFattura,
		Esito: req.Esito, Descrizione: req.Descrizione, MessageIdCommittente: req.MessageIdCommittente}}
	if err := ec.Check(); err != nil {
		return OutcomeReceipt{}, refuse(RefusalMalformed, string(id), "%v", err)
	}
	return m.submit(ctx, req.Ente, ec, nil, OriginAPI)
}

// SubmitECFile checks and queues an EC file an ente hands over synchronously (the API's
// accept/reject by file): the same checks as an EC arriving on passive.outcome, the
// answer at once. Refusals are *OutcomeError.
func (m *Module) SubmitECFile(ctx context.Context, ente, name string, data []byte) (OutcomeReceipt, error) {
	schema, err := m.messaggiSchema()
	if err != nil {
		return OutcomeReceipt{}, fmt.Errorf("passivo: schema MessaggiTypes: %w", err)
	}
	ec, oerr := VerifyECFile(schema, name, data)
	if oerr != nil {
		m.metrics.outcomes.WithLabelValues(outcomeLabel(ec), "refused").Inc()
		return OutcomeReceipt{}, oerr
	}
	return m.submit(ctx, ente, ec, &ownFile{name: name, data: data}, OriginEnte)
}

// ownFile is an EC file written by the ente, kept byte for byte.
type ownFile struct {
	name string
	data []byte
}

func (m *Module) submit(ctx context.Context, ente string, ec *sdi.NotificaEsitoCommittente, own *ownFile, origin string) (OutcomeReceipt, error) {
	ecFile := ""
	if own != nil {
		ecFile = own.name
	}
	inv, oerr, err := m.checkInvoice(ctx, ente, &ec.EsitoCommittente, ecFile)
	if err != nil {
		return OutcomeReceipt{}, err
	}
	if oerr != nil {
		m.metrics.outcomes.WithLabelValues(outcomeLabel(ec), "refused").Inc()
		return OutcomeReceipt{}, oerr
	}
	var rec OutcomeReceipt
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), inv.ID)
		if err != nil {
			return err
		}
		if oerr = stateRefusal(cur, ec.RiferimentoFattura); oerr != nil {
			return nil
		}
		rec.MessageID, rec.NomeFile, err = m.ingestEC(ctx, tx, cur, ec, origin, "", time.Time{}, own)
		if err != nil {
			return err
		}
		rec.Invoice = inv.ID
		_, err = transition(tx, invoiceTransitions, cur, EsitoRicevuto, fmt.Sprintf("esito %s dall'ente via API: %s (outcome received through the API)", ec.Esito, rec.NomeFile))
		return err
	})
	if err != nil {
		return OutcomeReceipt{}, err
	}
	if oerr != nil {
		m.metrics.outcomes.WithLabelValues(outcomeLabel(ec), "refused").Inc()
		return OutcomeReceipt{}, oerr
	}
	m.log.Info("esito committente via API in coda per l'SdI (outcome queued)", "message", rec.MessageID, "ente", ente, "file", rec.NomeFile, "esito", ec.Esito)
	return rec, nil
}

// ingestHubEC writes an EC the hub makes (pre-validation EC02, automatic EC01) and
// queues it for the SdI.
func (m *Module) ingestHubEC(ctx context.Context, tx store.Tx, inv *message.Message, esito string, ref *sdi.RiferimentoFattura, descr, origin, dedup string, notBefore time.Time) error {
	id, err := sdi.ParseIdentificativoSdI(inv.Header(message.HeaderIdentificativoSdI))
	if err != nil {
		return fmt.Errorf("passivo: fattura %s: %w", inv.ID, err)
	}
	ec := &sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id, RiferimentoFattura: ref, Esito: esito, Descrizione: descr}}
	_, _, err = m.ingestEC(ctx, tx, inv, ec, origin, dedup, notBefore, nil)
	return err
}

// ingestEC stores an EC with its send job: the ente's own file as it is (own), or one
// the hub writes, named <invoice>_EC_nnn.xml with a per-invoice counter skipping names
// already used.
func (m *Module) ingestEC(ctx context.Context, tx store.Tx, inv *message.Message, ec *sdi.NotificaEsitoCommittente, origin, dedup string, notBefore time.Time, own *ownFile) (message.ID, string, error) {
	if err := ec.Check(); err != nil {
		return "", "", fmt.Errorf("passivo: esito per %s: %w", inv.FileName, err)
	}
	var name string
	var data []byte
	if own != nil {
		name, data = own.name, own.data
	} else {
		var err error
		if data, err = sdi.Marshal(ec); err != nil {
			return "", "", err
		}
		if name, err = NextECName(ctx, tx, inv); err != nil {
			return "", "", err
		}
	}
	what := map[string]string{OriginAPI: "richiesto dall'ente via API", OriginPrevalidation: "scritto dall'hub: pre-validazione non superata",
		OriginAuto: "scritto dall'hub: accettazione automatica", OriginEnte: "dell'ente, via API"}[origin]
	detail := fmt.Sprintf("esito %s %s", ec.Esito, what)
	if ec.Descrizione != "" {
		detail += ": " + ec.Descrizione
	}
	msg := &message.Message{Ente: inv.Ente, Flow: message.FlowPassive, Kind: message.KindOutcome, FileName: name, Headers: ecHeaders(inv, ec, origin),
		ParentID: inv.ID, CorrelationID: string(inv.ID), State: EsitoRicevuto, DedupKey: dedup, Source: "hub",
		Files: []message.File{{Name: name, Role: message.RoleMain, ContentType: "application/xml", Data: data}}}
	mid, _, err := tx.Ingest(store.NewMessage{Message: msg,
		Events: []message.Event{{Type: message.EventReceived, Target: "hub", Detail: detail},
			{Type: message.EventState, Target: string(EsitoRicevuto), Detail: "in invio all'SdI (queued for the SdI)"}},
		Keys: []string{flowkit.SdIKey(string(ec.IdentificativoSdI)), flowkit.FileKey(name)},
		Jobs: []store.JobSpec{{Handler: HandlerSendEC, Target: TargetSdINotificaEsito, NotBefore: notBefore, Params: map[string]string{"ente": inv.Ente}}}})
	if err != nil {
		return "", "", err
	}
	return mid, name, nil
}

// NextECName names the next EC of an invoice: <invoice>_EC_nnn.xml with a per-invoice
// counter, skipping names already in the journal (ECs the ente named itself).
func NextECName(ctx context.Context, tx store.Tx, inv *message.Message) (string, error) {
	for range 999 {
		n, err := tx.NextCounter("passive:ec:" + string(inv.ID))
		if err != nil {
			return "", err
		}
		if n > 999 {
			break
		}
		name := sdi.NomeFileMessaggio(inv.FileName, sdi.EC, int(n))
		ids, err := tx.FindByKey(flowkit.FileKey(name))
		if err != nil {
			return "", err
		}
		if len(ids) == 0 {
			return name, nil
		}
	}
	return "", fmt.Errorf("passivo: fattura %s: esauriti i 999 nomi di esito (no EC names left)", inv.FileName)
}
