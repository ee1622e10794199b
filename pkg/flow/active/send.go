package active

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/engine"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// Sending a file to the SdI exactly once.
//
// The SdI gives no idempotency key: a file it received is identified by the
// IdentificativoSdI it answers with, and a file sent again under the same name is
// refused with NS 00002 (it is never delivered twice). The danger is the window
// between the SdI's answer and the hub's commit of it: a crash there (or an answer
// lost on the network) leaves the hub not knowing whether the SdI has the file.
//
//  1. Before calling SdIRiceviFile, the job commits, in its own transaction, the
//     header InvioInCorso (the time of the attempt) and an "attempt" event: from now
//     on, whoever looks at the invoice knows a call may have reached the SdI.
//  2. The call. On an answer with an IdentificativoSdI, one transaction records it
//     (header, lookup key sdi:<id>, correlation id, state inviata) and clears
//     InvioInCorso. On a definite refusal before the SdI took the file (EI02, a
//     connection that never carried the request) it clears InvioInCorso and the engine
//     retries. On EI01/EI03 it clears it and the job is dead-lettered with an alert.
//  3. Outcome unknown: the answer was lost (the SdI's own classification,
//     sdicoop.Error.OutcomeUnknown), or the hub died before step 2 committed and the
//     job is run again (by this process after a restart, or by another sharing
//     PostgreSQL once the lease expired): the job finds InvioInCorso set and does not
//     send. It parks itself (store.Await, key attivo:invio:<NomeFile>) until
//     Options.UnknownOutcomeWait after the attempt. The SdI names every notification
//     after the file (<file>_RC_001.xml, NomeFile inside): when one arrives, the
//     notification job finds the invoice by that name, adopts its IdentificativoSdI,
//     moves the invoice on, and resolves the parked job. Nothing is sent again.
//  4. If no notification came in the window, the job sends the same file under the same
//     name (header EsitoIncerto: si). If the SdI had it, it answers with a new
//     IdentificativoSdI and then an NS with only 00002: the notification job recognises
//     that scarto as the echo of the first send, records it, and does not mark the
//     invoice scartata; later notifications about the first send are correlated by name.
//     If the SdI did not have it, this is the first real delivery.
//
// Either way the recipient gets the invoice once.

// errSentAlready stops a send whose invoice was sent (or moved on) meanwhile.
var errSentAlready = errors.New("fattura già inviata (invoice already sent)")

// awaitKey is the key a send with an unknown outcome waits under.
func awaitKey(nomeFile string) string { return awaitKeyPrefix + nomeFile }

// send is the job that sends an invoice to the SdI.
func (m *Module) send(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if msg.State != DaInviare || msg.Header(message.HeaderIdentificativoSdI) != "" {
		return store.Outcome{}, nil // sent already, or moved on by a notification
	}
	nome := msg.Header(HeaderNomeFile)
	if nome == "" {
		return store.Outcome{}, engine.Permanent(fmt.Errorf("attivo: fattura %s senza NomeFile: controlli non registrati (no SdI name)", msg.ID))
	}
	now := m.h.Now()
	since := msg.Header(HeaderInvioInCorso)
	uncertain := false
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			t = msg.UpdatedAt
		}
		until := t.Add(m.opts.UnknownOutcomeWait)
		if now.Before(until) {
			m.log.Warn("esito dell'invio allo SdI sconosciuto: attesa delle notifiche prima di inviare di nuovo (unknown send outcome: waiting for notifications)",
				"message", msg.ID, "ente", msg.Ente, "NomeFile", nome, "invio", since, "fino_a", until.Format(time.RFC3339))
			return m.awaitNotifications(nome, since, until), nil
		}
		uncertain = true
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, nome)
	if err != nil {
		return store.Outcome{}, fmt.Errorf("attivo: lettura di %s: %w", nome, err)
	}
	started := now.UTC().Format(time.RFC3339Nano)
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		if cur.State != DaInviare || cur.Header(message.HeaderIdentificativoSdI) != "" {
			return errSentAlready
		}
		if cur.Header(HeaderInvioInCorso) != since {
			return fmt.Errorf("attivo: %s: un altro invio è iniziato nel frattempo (another send started meanwhile)", nome)
		}
		n, _ := strconv.Atoi(cur.Header(HeaderTentativiInvio))
		h := map[string]string{HeaderInvioInCorso: started, HeaderTentativiInvio: strconv.Itoa(n + 1)}
		detail := fmt.Sprintf("invio in corso: %s allo SdI (tentativo %d) (sending)", nome, n+1)
		if uncertain {
			h[HeaderEsitoIncerto] = "si"
			detail = fmt.Sprintf("nessuna notifica per %s entro %s dall'invio del %s: nuovo invio con lo stesso nome; se l'SdI lo aveva già, "+
				"lo scarta con 00002 e l'hub lo riconosce (no notification in time: sending again under the same name)", nome, m.opts.UnknownOutcomeWait, since)
		}
		if err := tx.MergeHeaders(msg.ID, h); err != nil {
			return err
		}
		return tx.AppendEvents(message.Event{MessageID: msg.ID, Type: message.EventAttempt, Target: TargetSdI, Attempt: j.Attempts, Detail: detail})
	})
	if errors.Is(err, errSentAlready) {
		return store.Outcome{}, nil
	}
	if err != nil {
		return store.Outcome{}, err
	}
	if m.h.Config.SdI.Channel == "pec" {
		return m.sendPEC(ctx, msg, nome, data, started)
	}
	client, err := m.sdiClient()
	if err != nil {
		m.clearInFlight(ctx, msg.ID, "client SdI non configurato")
		return store.Outcome{}, engine.Permanent(err)
	}
	res, err := client.RiceviFile(ctx, nome, data)
	if err != nil {
		return m.sendFailed(ctx, msg, nome, started, err)
	}
	m.metrics.sent.WithLabelValues("ok").Inc()
	// The commit of the SdI's answer: retried a few times in place, since a failure
	// here costs a wait for the notifications.
	for i := 0; ; i++ {
		err = m.tx(context.WithoutCancel(ctx), func(tx store.Tx) error {
			return m.recordSent(ctx, tx, msg.ID, res.IdentificativoSdI, res.DataOraRicezione, "SdIRiceviFile")
		})
		if err == nil || i == 2 {
			break
		}
		time.Sleep(time.Duration(i+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return store.Outcome{}, fmt.Errorf("attivo: IdentificativoSdI %s di %s non registrato; attesa delle notifiche (not recorded): %w",
			res.IdentificativoSdI, nome, err)
	}
	m.log.Info("fattura attiva inviata allo SdI (active invoice sent)", "message", msg.ID, "ente", msg.Ente, "NomeFile", nome,
		"IdentificativoSdI", res.IdentificativoSdI)
	return store.Outcome{}, nil
}

// awaitNotifications parks the send job until the deadline or a notification.
func (m *Module) awaitNotifications(nome, since string, until time.Time) store.Outcome {
	return store.Outcome{Await: &store.Await{Key: awaitKey(nome), Deadline: until},
		Events: []message.Event{{Type: message.EventAwaiting, Target: TargetSdI,
			Detail: fmt.Sprintf("esito dell'invio del %s sconosciuto: nessun nuovo invio; attesa delle notifiche dello SdI per %s fino alle %s, "+
				"poi nuovo invio con lo stesso nome (unknown outcome: waiting for the SdI's notifications)", since, nome, until.UTC().Format(time.RFC3339))}}}
}

// sendFailed handles a failed RiceviFile call.
func (m *Module) sendFailed(ctx context.Context, msg *message.Message, nome, started string, err error) (store.Outcome, error) {
	var se *sdicoop.Error
	if !errors.As(err, &se) {
		se = &sdicoop.Error{Op: "RiceviFile", OutcomeUnknown: true, Reason: "errore inatteso (unexpected error)", Err: err}
	}
	switch {
	case se.OutcomeUnknown:
		m.metrics.sent.WithLabelValues("unknown").Inc()
		t, _ := time.Parse(time.RFC3339Nano, started)
		until := t.Add(m.opts.UnknownOutcomeWait)
		m.log.Warn("risposta dello SdI persa: esito dell'invio sconosciuto (SdI answer lost: unknown outcome)", "message", msg.ID, "ente", msg.Ente,
			"NomeFile", nome, "err", err)
		o := m.awaitNotifications(nome, started, until)
		o.Events = append([]message.Event{{Type: message.EventAttemptFailed, Target: TargetSdI, Detail: err.Error()}}, o.Events...)
		return o, nil
	case se.Retryable:
		label := "network"
		if se.Code != "" {
			label = se.Code
		}
		m.metrics.sent.WithLabelValues(label).Inc()
		// The SdI did not take the file: the next attempt is no duplicate.
		m.clearInFlight(ctx, msg.ID, err.Error())
		return store.Outcome{}, err
	default:
		label := "error"
		if se.Code != "" {
			label = se.Code
		}
		m.metrics.sent.WithLabelValues(label).Inc()
		m.clearInFlight(ctx, msg.ID, err.Error())
		m.log.Error("ALLARME: lo SdI rifiuta l'invio; fattura in dead letter, serve un operatore (ALERT: the SdI refuses the file; dead-lettered)",
			"message", msg.ID, "ente", msg.Ente, "NomeFile", nome, "codice", se.Code, "err", err,
			"azione", "EI03: verificare l'accreditamento del canale SDICoop e il certificato client; EI01: file vuoto. Poi `snodo replay "+string(msg.ID)+"`")
		return store.Outcome{}, engine.Permanent(err)
	}
}

// clearInFlight records that the last attempt certainly did not leave the file at the
// SdI. A failure here is harmless: the next attempt then waits for notifications first.
func (m *Module) clearInFlight(ctx context.Context, id message.ID, why string) {
	err := m.tx(context.WithoutCancel(ctx), func(tx store.Tx) error {
		return tx.MergeHeaders(id, map[string]string{HeaderInvioInCorso: ""})
	})
	if err != nil {
		m.log.Warn("invio non riuscito non registrato: il prossimo tentativo attenderà le notifiche (failed attempt not recorded)", "message", id, "err", err, "motivo", why)
	}
}

// recordSent records the IdentificativoSdI the SdI gave the file.
func (m *Module) recordSent(ctx context.Context, tx store.Tx, id message.ID, idSdI sdi.IdentificativoSdI, at time.Time, how string) error {
	cur, err := lock(ctx, tx, m.h.Store.Dialect(), id)
	if err != nil {
		return err
	}
	h := map[string]string{HeaderInvioInCorso: ""}
	if !at.IsZero() {
		h[HeaderDataRicezioneSdI] = at.UTC().Format(time.RFC3339)
	}
	detail := fmt.Sprintf("trasmessa allo SdI con %s: IdentificativoSdI %s (sent)", how, idSdI)
	if idSdI != "" {
		switch existing := cur.Header(message.HeaderIdentificativoSdI); {
		case existing == "":
			h[message.HeaderIdentificativoSdI] = string(idSdI)
		case existing != string(idSdI):
			h[HeaderIdentificativiSdI] = addID(cur.Header(HeaderIdentificativiSdI), existing, string(idSdI))
			detail += "; l'invio precedente ha IdentificativoSdI " + existing
		}
		if err := tx.AddKeys(id, flowkit.SdIKey(string(idSdI))); err != nil {
			return err
		}
		if err := setCorrelation(ctx, tx, id, CorrelationID(string(idSdI))); err != nil {
			return err
		}
	}
	if err := tx.MergeHeaders(id, h); err != nil {
		return err
	}
	if err := tx.AppendEvents(message.Event{MessageID: id, Type: message.EventDelivered, Target: TargetSdI, Detail: detail}); err != nil {
		return err
	}
	if cur.State == DaInviare {
		_, err = transition(tx, cur, Inviata, detail)
	}
	return err
}

// addID appends ids to a comma-separated list, once each.
func addID(list string, ids ...string) string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(splitList(list), ids...) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return joinList(out)
}

// sendPEC hands the file to the SdI by PEC (sdi.channel: pec). The IdentificativoSdI
// comes with the first notification, correlated by file name.
func (m *Module) sendPEC(ctx context.Context, msg *message.Message, nome string, data []byte, started string) (store.Outcome, error) {
	if m.opts.SdIPEC == nil {
		m.clearInFlight(ctx, msg.ID, "invio PEC non collegato")
		return store.Outcome{}, engine.Permanent(fmt.Errorf("attivo: sdi.channel è pec ma l'invio PEC verso lo SdI non è collegato in questo processo: " +
			"usare sdi.channel ws (SDICoop) o attendere il canale PEC verso lo SdI (SdI PEC sending not wired)"))
	}
	pecID, err := m.opts.SdIPEC.SendInvoice(ctx, nome, data)
	if err != nil && channel.IsPermanent(err) {
		// Refused before anything left (a file too big for a PEC, a bad address): nothing
		// can have reached the SdI, so no notification will come; an operator must act.
		m.clearInFlight(ctx, msg.ID, "invio PEC rifiutato prima della partenza")
		m.metrics.sent.WithLabelValues("error").Inc()
		return store.Outcome{}, engine.Permanent(fmt.Errorf("attivo: invio PEC di %s all'SdI rifiutato (PEC send refused): %w", nome, err))
	}
	if err != nil {
		// A PEC handed over or not: the SdI's notifications tell; same path as a lost answer.
		return m.sendFailed(ctx, msg, nome, started, &sdicoop.Error{Op: "PEC", OutcomeUnknown: true, Reason: "invio PEC non confermato (PEC not confirmed)", Err: err})
	}
	m.metrics.sent.WithLabelValues("ok").Inc()
	err = m.tx(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := tx.MergeHeaders(msg.ID, map[string]string{"PEC-Message-ID-SdI": pecID}); err != nil {
			return err
		}
		return m.recordSent(ctx, tx, msg.ID, "", time.Time{}, "PEC ("+pecID+")")
	})
	return store.Outcome{}, err
}
