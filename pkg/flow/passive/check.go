package passive

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/engine"
	"snodo/pkg/fatturapa"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
)

// check is the first job of an invoice: the ente, the checks, the files the ente will
// receive (unwrapped XML, HTML rendering), the EC02 of a failed pre-validation, the
// deliveries. Everything it decides commits in one transaction guarded by the state,
// so a job run again after a crash finds the work done and changes nothing.
func (m *Module) check(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if msg.State != Ricevuta && msg.State != NonInstradata && msg.State != message.StateReceived {
		return store.Outcome{}, nil // done by an earlier run
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, msg.FileName)
	if err != nil {
		return store.Outcome{}, fmt.Errorf("passivo: lettura di %s: %w", msg.FileName, err)
	}
	received := msg.CreatedAt
	if t, err := time.Parse(time.RFC3339, msg.Header(HeaderRicevutaSdI)); err == nil {
		received = t
	}
	ex, err := m.ex.Examine(ctx, Input{NomeFile: msg.FileName, Data: data, IdentificativoSdI: msg.Header(message.HeaderIdentificativoSdI),
		CodiceDestinatario: msg.Header(message.HeaderCodiceDestinatario), Formato: msg.Header(HeaderFormato), ReceivedAt: received, Ente: msg.Ente})
	if err != nil {
		return store.Outcome{}, err
	}
	id := msg.Header(message.HeaderIdentificativoSdI)
	if ex.Ente == nil {
		err := m.tx(ctx, func(tx store.Tx) error {
			cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
			if err != nil {
				return err
			}
			if ex.CodiceDestinatario != "" && cur.Header(message.HeaderCodiceDestinatario) == "" {
				if err := tx.MergeHeaders(msg.ID, map[string]string{message.HeaderCodiceDestinatario: ex.CodiceDestinatario}); err != nil {
					return err
				}
			}
			_, err = transition(tx, invoiceTransitions, cur, NonInstradata, ex.Unroutable)
			return err
		})
		if err != nil {
			return store.Outcome{}, err
		}
		m.log.Error("fattura non instradata (unroutable invoice)", "message", msg.ID, "IdentificativoSdI", id, "CodiceDestinatario", ex.CodiceDestinatario, "motivo", ex.Unroutable)
		return store.Outcome{}, engine.Permanent(fmt.Errorf("%w: %s", errNoEnte, ex.Unroutable))
	}
	e := ex.Ente
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		if cur.State != Ricevuta && cur.State != NonInstradata && cur.State != message.StateReceived {
			return nil
		}
		if cur.Ente != e.ID() {
			if err := setEnte(ctx, tx, msg.ID, e.ID()); err != nil {
				return err
			}
		}
		if cur.State == NonInstradata || cur.State == message.StateReceived {
			if _, err := transition(tx, invoiceTransitions, cur, Ricevuta, "instradata all'ente "+e.ID()+" (routed)"); err != nil {
				return err
			}
		}
		for _, f := range []*message.File{ex.Unwrapped, ex.Rendering} {
			if f != nil {
				if err := tx.AddFile(msg.ID, *f); err != nil {
					return err
				}
			}
		}
		if err := tx.AddKeys(msg.ID, ex.InvoiceKeys...); err != nil {
			return err
		}
		if err := tx.MergeHeaders(msg.ID, checkHeaders(ex)); err != nil {
			return err
		}
		if err := tx.AppendEvents(checkEvents(msg.ID, ex)...); err != nil {
			return err
		}
		next := RifiutataPrevalidazione
		detail := fmt.Sprintf("pre-validazione non superata: %d regole; EC02 inviato dall'hub (pre-validation failed)", len(ex.Violations))
		if !ex.Reject {
			next, detail = Verificata, "controlli eseguiti (checks done): pre-validazione "+ex.Prevalidation
		}
		if _, err := transition(tx, invoiceTransitions, cur, next, detail); err != nil {
			return err
		}
		for i, d := range ex.EC02 {
			if err := m.ingestHubEC(ctx, tx, cur, sdi.EC02, d.Riferimento, d.Descrizione, OriginPrevalidation,
				fmt.Sprintf("passive:ec02:%s:%d", msg.ID, i), received.Add(m.opts.AutoECDelay)); err != nil {
				return err
			}
		}
		var jobs []store.JobSpec
		if ex.Deliver && len(ex.Steps) > 0 {
			jobs = append(jobs, deliverJob(msg, e.ID(), ex.Steps[0], len(ex.Steps) > 1))
		}
		if !ex.AutoAccept.IsZero() {
			jobs = append(jobs, store.JobSpec{MessageID: msg.ID, Handler: HandlerAutoAccept, Key: "passive:auto:" + string(msg.ID),
				NotBefore: ex.AutoAccept, Params: map[string]string{"ente": e.ID()}})
		}
		return tx.Enqueue(jobs...)
	})
	if err != nil {
		return store.Outcome{}, err
	}
	if ex.Reject {
		m.metrics.rejected.Inc()
		m.log.Warn("fattura rifiutata dalla pre-validazione: EC02 in invio (invoice rejected by pre-validation)", "message", msg.ID, "ente", e.ID(),
			"IdentificativoSdI", id, "regole", len(ex.Violations))
	}
	return store.Outcome{}, nil
}

// deliverJob is the delivery job of step s; more says an accounting step follows.
func deliverJob(msg *message.Message, ente string, s Step, more bool) store.JobSpec {
	p := map[string]string{"ente": ente, "step": s.Kind, "roles": strings.Join(s.Roles, ",")}
	if more {
		p["next"] = route.PassiveAccounting
	}
	return store.JobSpec{MessageID: msg.ID, Handler: HandlerDeliver, Target: s.Phase, Key: "passive:deliver:" + string(msg.ID) + ":" + s.Phase, Params: p}
}

func checkHeaders(ex *Examination) map[string]string {
	h := map[string]string{HeaderPrevalidazione: ex.Prevalidation, message.HeaderCodiceDestinatario: ex.CodiceDestinatario}
	if ex.Formato != "" {
		h[HeaderFormato] = ex.Formato
	}
	if ex.Cedente != "" {
		h[HeaderCedente] = ex.Cedente
	}
	if r := ex.Report; r != nil {
		if r.Envelope != "" {
			h[HeaderBusta] = r.Envelope
		}
		if r.Signer != "" {
			h[HeaderFirmatario] = r.Signer
		}
	}
	if len(ex.Riferimenti) > 0 {
		h[HeaderRiferimenti] = formatRiferimenti(ex.Riferimenti)
	}
	return h
}

// checkEvents records the checks on the timeline: the SdI checks (the SdI already
// accepted the file, so their failures are recorded, not acted on), the ente's rules,
// the rendering.
func checkEvents(id message.ID, ex *Examination) []message.Event {
	var evs []message.Event
	r := ex.Report
	if r.AllValid() {
		detail := "firma, schema XSD e controlli SdI superati (signature, XSD and SdI checks passed)"
		if r.Envelope != "" {
			detail += "; busta " + r.Envelope
		}
		if r.Signer != "" {
			detail += "; firmatario " + r.Signer
		}
		evs = append(evs, message.Event{MessageID: id, Type: message.EventValidated, Target: "controlli SdI", Detail: detail})
	} else {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventInvalid, Target: "controlli SdI",
			Detail: "l'SdI ha accettato il file, ma i controlli dell'hub segnalano (the SdI accepted the file; the hub's checks report): " + reportErrors(r)})
	}
	for _, n := range r.Notes {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "controlli SdI", Detail: n})
	}
	switch ex.Prevalidation {
	case PrevalidationPassed:
		evs = append(evs, message.Event{MessageID: id, Type: message.EventValidated, Target: "pre-validazione", Detail: "regole dell'ente superate (ente rules passed)"})
	case PrevalidationSkipped:
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "pre-validazione",
			Detail: "regole dell'ente non applicate: fattura non leggibile (ente rules not applied: unreadable invoice)"})
	case PrevalidationFailed, PrevalidationFlagged:
		var parts []string
		for _, v := range ex.Violations {
			parts = append(parts, fmt.Sprintf("fattura %s, regola %s: %s (%s)", v.Numero, v.Rule, v.Message, v.Path))
		}
		detail := strings.Join(parts, "; ")
		if ex.Prevalidation == PrevalidationFlagged {
			detail = "solo segnalazione (flag only): " + detail
			if !ex.Outcomes() {
				detail += "; fattura " + ex.Formato + ": nessun esito committente previsto (no outcome for this format)"
			}
		}
		evs = append(evs, message.Event{MessageID: id, Type: message.EventInvalid, Target: "pre-validazione", Detail: detail})
	}
	if ex.RenderErr != nil {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "rappresentazione", Detail: ex.RenderErr.Error()})
	}
	if ex.Reject && !ex.Deliver {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "consegna",
			Detail: "fattura rifiutata non consegnata all'ente (deliver_rejected: false)"})
	}
	if ex.Deliver && len(ex.Steps) == 0 {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "consegna",
			Detail: "l'ente non ha fasi passive.protocol né passive.accounting: nessuna consegna (no delivery phase configured)"})
	}
	return evs
}

func reportErrors(r *fatturapa.Report) string {
	var parts []string
	add := func(file string, es []fatturapa.Error) {
		for _, e := range es {
			s := e.Code + " " + e.Message
			if file != "" {
				s = file + ": " + s
			}
			parts = append(parts, s)
		}
	}
	add("", r.Errors)
	for _, mem := range r.Members {
		add(mem.File, mem.Errors)
	}
	out := strings.Join(parts, "; ")
	return clipRunes(out, 1500)
}

// formatRiferimenti writes the references as JSON (numbers may hold any separator).
func formatRiferimenti(rs []sdi.RiferimentoFattura) string {
	b, _ := json.Marshal(rs)
	return string(b)
}

// parseRiferimenti reads header RiferimentiFattura.
func parseRiferimenti(s string) ([]sdi.RiferimentoFattura, bool) {
	var rs []sdi.RiferimentoFattura
	if s == "" || json.Unmarshal([]byte(s), &rs) != nil {
		return nil, false
	}
	return rs, true
}

func riferimentoKey(r *sdi.RiferimentoFattura) string {
	if r == nil {
		return ""
	}
	s := fmt.Sprintf("%s/%d", r.NumeroFattura, r.AnnoFattura)
	if r.PosizioneFattura > 0 {
		s += fmt.Sprintf("/%d", r.PosizioneFattura)
	}
	return s
}
