package passive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
)

// deliver is the job that delivers an invoice on one phase (protocol, accounting or the
// single delivery). The file names at the target are the SdI's, so a delivery made
// again (retry, crash) replaces the file instead of adding one. The accounting delivery
// is queued only once the protocol one succeeded, and carries the NumeroProtocollo and
// DataProtocollo the protocol system returned (delivery headers).
func (m *Module) deliver(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	ente := j.Params["ente"]
	if ente == "" {
		ente = msg.Ente
	}
	step := j.Params["step"]
	subject := invoiceSubject(msg)
	if msg.Header(HeaderPrevalidazione) == PrevalidationFailed {
		subject += " - Rifiutata per pre-validazione"
	}
	d, err := m.buildDelivery(ctx, msg, ente, j.Target, splitRoles(j.Params["roles"]), subject)
	if err != nil {
		return store.Outcome{}, err
	}
	d.Attempt = j.Attempts
	res, err := m.h.Send(ctx, ente, j.Target, d)
	if err != nil {
		return store.Outcome{}, err
	}
	target := j.Target
	if ep, ok := m.h.Routes.Endpoint(ente, j.Target); ok {
		target = fmt.Sprintf("%s (%s)", j.Target, ep.Kind)
	}
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		ev := message.Event{MessageID: msg.ID, Type: message.EventDelivered, Target: target, Attempt: j.Attempts, Detail: res.Detail}
		if res.Await != nil {
			ev.Type = message.EventAwaiting
		}
		if err := tx.AppendEvents(ev); err != nil {
			return err
		}
		if err := tx.MergeHeaders(msg.ID, res.Headers); err != nil {
			return err
		}
		to, detail := ConsegnataContabilita, "consegnata al sistema contabile (delivered to accounting)"
		switch step {
		case StepProtocol:
			to, detail = ConsegnataProtocollo, "consegnata al protocollo (delivered to the protocol system)"
			if n := res.Headers[message.HeaderNumeroProtocollo]; n != "" {
				to, detail = Protocollata, fmt.Sprintf("protocollata: numero %s del %s (protocol number)", n, res.Headers[message.HeaderDataProtocollo])
			}
		case StepSingle:
			to, detail = Consegnata, "consegnata all'ente, invio unico (delivered once for protocol and accounting)"
			if n := res.Headers[message.HeaderNumeroProtocollo]; n != "" {
				detail += fmt.Sprintf("; protocollo %s del %s", n, res.Headers[message.HeaderDataProtocollo])
			}
		}
		if _, err := transition(tx, invoiceTransitions, cur, to, detail); err != nil {
			return err
		}
		if next := j.Params["next"]; next != "" {
			e, ok := m.h.Routes.Ente(ente)
			if !ok {
				return fmt.Errorf("passivo: ente %s non più nei file di rotta (ente no longer routed)", ente)
			}
			for _, s := range Plan(m.h.Routes, e) {
				if s.Phase == next {
					return tx.Enqueue(deliverJob(msg, ente, s, false))
				}
			}
			return tx.AppendEvents(message.Event{MessageID: msg.ID, Type: message.EventNote, Target: next,
				Detail: "fase non più configurata: consegna non eseguita (phase no longer configured)"})
		}
		return nil
	})
	if err != nil {
		return store.Outcome{}, err
	}
	if res.Await != nil {
		timeout := res.Await.Timeout
		if timeout <= 0 {
			timeout = 24 * time.Hour
		}
		return store.Outcome{Await: &store.Await{Key: res.Await.Key, Deadline: m.h.Now().Add(timeout)}}, nil
	}
	return store.Outcome{}, nil
}

// buildDelivery loads the files of roles, the primary one first: the file as received
// (signed), else the unwrapped XML (the file itself when it was not signed).
func (m *Module) buildDelivery(ctx context.Context, msg *message.Message, ente, phase string, roles []string, subject string) (*channel.Delivery, error) {
	files, err := m.h.Store.Files(ctx, msg.ID)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		roles = deliverRoles(nil, false)
	}
	byRole := map[string][]message.File{}
	for i, f := range files {
		role := f.Role
		if i == 0 {
			role = message.RoleMain
		}
		byRole[role] = append(byRole[role], f)
	}
	var picked []message.File
	seen := map[string]bool{}
	pick := func(f message.File) {
		if !seen[f.Name] {
			seen[f.Name] = true
			picked = append(picked, f)
		}
	}
	for _, r := range roles {
		fs := byRole[r]
		if r == message.RoleUnwrapped && len(fs) == 0 {
			fs = byRole[message.RoleMain] // not signed: the file is its own XML
		}
		for _, f := range fs {
			pick(f)
		}
	}
	if len(picked) == 0 {
		return nil, channel.Permanent(fmt.Errorf("messaggio %s: nessun file per i ruoli %s (no files to deliver)", msg.ID, strings.Join(roles, ",")))
	}
	d := &channel.Delivery{MessageID: msg.ID, Ente: ente, Phase: phase, FileName: picked[0].Name, Headers: msg.Headers, Subject: subject}
	for _, f := range picked {
		data, err := m.h.Store.ReadFile(ctx, msg.ID, f.Name)
		if err != nil {
			return nil, err
		}
		f.Data = data
		d.Files = append(d.Files, f)
	}
	return d, nil
}

func splitRoles(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// relay delivers a notice message (DT, SE, EC, refusal) to the ente's notifications
// phase with the hub's plain delivery, moving it to state once delivered ("" keeps
// it); none when the ente has no such phase.
func relay(ente, phase, subject string, state message.State) []store.JobSpec {
	if ente == "" || phase == "" {
		return nil
	}
	p := map[string]string{hub.ParamSubject: subject}
	if state != "" {
		p[hub.ParamState] = string(state)
	}
	return []store.JobSpec{hub.DeliverJob(ente, phase, p)}
}

// PEC subjects of the passive cycle (IntermediaMarche "canale avanzato", regional-peers §1.7).
const (
	subjectFattura    = "Fattura"
	subjectDT         = "Decorrenza Termini"
	subjectEsito      = "Notifica Esito"
	subjectScarto     = "Notifica Scarto"
	subjectRifiuto    = "Esito Rifiutato dall'Hub"
	dataRicezioneSdI  = "Data Ricezione SDI"
	dataRicezioneEnte = "Data Ricezione Ente"
)

// Subject builds "<IdSdI> - <NomeFile> - <what> <Cedente> - <date label> dd/MM/yyyy".
func Subject(id, nomeFile, what, cedente, dateLabel string, when time.Time) string {
	w := strings.TrimSpace(what + " " + cedente)
	return fmt.Sprintf("%s - %s - %s - %s %s", id, nomeFile, w, dateLabel, when.In(sdi.Rome).Format("02/01/2006"))
}

func invoiceSubject(inv *message.Message) string {
	return Subject(inv.Header(message.HeaderIdentificativoSdI), inv.FileName, subjectFattura, inv.Header(HeaderCedente), dataRicezioneSdI, receivedAt(inv))
}

func receivedAt(inv *message.Message) time.Time {
	if t, err := time.Parse(time.RFC3339, inv.Header(HeaderRicevutaSdI)); err == nil {
		return t
	}
	return inv.CreatedAt
}

// notificationsPhase is the phase notices of an invoice's ente go to.
func (m *Module) notificationsPhase(ente string) string {
	if ente == "" {
		return ""
	}
	return NotificationsPhase(m.h.Routes, ente)
}
