package passive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"snodo/pkg/engine"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// sendEC is the job that sends an EC to the SdI (SdIRiceviNotifica.NotificaEsito, or
// PEC when sdi.channel is pec) and records the answer: ES01 → accepted; ES00 → the SE
// file is stored and relayed to the ente; ES02 and network failures are retried by the
// engine with the SdI's retry policy.
func (m *Module) sendEC(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if msg.State != EsitoRicevuto {
		return store.Outcome{}, nil // answered already, or refused
	}
	inv, err := m.h.Store.Get(ctx, message.ID(msg.Header(HeaderFattura)))
	if err != nil {
		return store.Outcome{}, fmt.Errorf("passivo: fattura dell'esito %s: %w", msg.FileName, err)
	}
	id := sdi.IdentificativoSdI(msg.Header(message.HeaderIdentificativoSdI))
	if inv.State == DecorrenzaTermini {
		err := m.tx(ctx, func(tx store.Tx) error {
			cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
			if err != nil || cur.State != EsitoRicevuto {
				return err
			}
			return m.refuseEC(tx, cur, inv, refuse(RefusalAfterDT, string(id),
				"la decorrenza termini della fattura %s è arrivata prima dell'invio dell'esito: esito non inviato (the DT came first: outcome not sent)", inv.FileName))
		})
		return store.Outcome{}, err
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, msg.FileName)
	if err != nil {
		return store.Outcome{}, err
	}
	if m.h.Config.SdI.Channel == "pec" {
		return m.sendECByPEC(ctx, msg, inv, data)
	}
	client, err := m.sdiClient()
	if err != nil {
		return store.Outcome{}, engine.Permanent(err)
	}
	res, err := client.NotificaEsito(ctx, id, msg.FileName, data)
	if err != nil {
		if sdicoop.IsRetryable(err) {
			return store.Outcome{}, err
		}
		return store.Outcome{}, engine.Permanent(err)
	}
	esito := msg.Header(HeaderEsitoEC)
	switch res.Esito {
	case sdicoop.ES01:
		err = m.tx(ctx, func(tx store.Tx) error {
			cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
			if err != nil || cur.State != EsitoRicevuto {
				return err
			}
			ilocked, err := lock(ctx, tx, m.h.Store.Dialect(), inv.ID)
			if err != nil {
				return err
			}
			if err := tx.MergeHeaders(msg.ID, map[string]string{HeaderRispostaSdI: sdicoop.ES01}); err != nil {
				return err
			}
			if _, err := transition(tx, outcomeTransitions, cur, EsitoAccettato, "l'SdI ha accettato l'esito (ES01)"); err != nil {
				return err
			}
			done := esiti(ilocked)
			done[msg.Header(HeaderRiferimento)] = esito
			b, _ := json.Marshal(done)
			if err := tx.MergeHeaders(inv.ID, map[string]string{HeaderEsito: esito, headerEsiti: string(b)}); err != nil {
				return err
			}
			what := map[string]string{sdi.EC01: "accettazione", sdi.EC02: "rifiuto"}[esito]
			if _, err := transition(tx, invoiceTransitions, ilocked, EsitoAccettato,
				fmt.Sprintf("esito %s (%s) accettato dall'SdI (ES01): %s", esito, what, msg.FileName)); err != nil {
				return err
			}
			// The ente knows its own EC; one the hub wrote goes to it.
			if msg.Header(HeaderOrigine) != OriginEnte {
				subject := Subject(string(id), inv.FileName, subjectEsito, inv.Header(HeaderCedente), dataRicezioneEnte, m.h.Now())
				return tx.Enqueue(withMessage(msg.ID, relay(msg.Ente, m.notificationsPhase(msg.Ente), subject, ""))...)
			}
			return nil
		})
		if err == nil {
			m.metrics.outcomes.WithLabelValues(esito, sdicoop.ES01).Inc()
		}
		return store.Outcome{}, err
	case sdicoop.ES00:
		// A previous attempt may have reached the SdI: the process died during the call
		// (the lease was taken over) or the answer was lost. The SdI then refuses this
		// repeat, and the refusal says nothing about the first.
		uncertain := j.Recovered || strings.Contains(j.LastError, "esito sconosciuto")
		err = m.tx(ctx, func(tx store.Tx) error { return m.recordScarto(ctx, tx, msg, inv, res, uncertain) })
		if err == nil {
			m.metrics.outcomes.WithLabelValues(esito, sdicoop.ES00).Inc()
			m.log.Warn("esito committente scartato dall'SdI (outcome discarded by the SdI)", "message", msg.ID, "ente", msg.Ente, "file", msg.FileName, "SE", res.NomeFileScarto)
		}
		return store.Outcome{}, err
	}
	return store.Outcome{}, fmt.Errorf("passivo: risposta SdI %q inattesa per %s (unexpected answer)", res.Esito, msg.FileName)
}

// recordScarto stores the SE of a refused EC, relays it to the ente and moves the EC
// and the invoice to esito-scartato.
func (m *Module) recordScarto(ctx context.Context, tx store.Tx, msg, inv *message.Message, res *sdicoop.NotificaEsitoResult, uncertain bool) error {
	cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
	if err != nil || cur.State != EsitoRicevuto {
		return err
	}
	ilocked, err := lock(ctx, tx, m.h.Store.Dialect(), inv.ID)
	if err != nil {
		return err
	}
	id := msg.Header(message.HeaderIdentificativoSdI)
	why := "motivo non indicato (no reason given)"
	if se := res.Scarto; se != nil {
		why = se.Scarto
		if se.Note != "" {
			why += " " + se.Note
		}
	} else if res.ScartoErr != nil {
		why = "SE illeggibile (unreadable SE): " + res.ScartoErr.Error()
	}
	if err := tx.MergeHeaders(msg.ID, map[string]string{HeaderRispostaSdI: sdicoop.ES00 + " " + clipRunes(why, 200)}); err != nil {
		return err
	}
	if _, err := transition(tx, outcomeTransitions, cur, EsitoScartato, "l'SdI ha scartato l'esito (ES00): "+why); err != nil {
		return err
	}
	if _, err := transition(tx, invoiceTransitions, ilocked, EsitoScartato, fmt.Sprintf("esito %s scartato dall'SdI (ES00, SE %s): %s", msg.FileName, res.NomeFileScarto, why)); err != nil {
		return err
	}
	if uncertain {
		note := "un tentativo precedente di invio di " + msg.FileName + " potrebbe essere stato accettato dall'SdI (risposta persa o processo interrotto): " +
			"lo scarto può riguardare la ripetizione; verificare l'esito sul portale SdI prima di inviarne un altro " +
			"(an earlier attempt may have been accepted: the SE may concern the repeat)"
		if err := tx.AppendEvents(message.Event{MessageID: inv.ID, Type: message.EventNote, Target: "esito", Detail: note},
			message.Event{MessageID: msg.ID, Type: message.EventNote, Target: "esito", Detail: note}); err != nil {
			return err
		}
		m.log.Warn("scarto dopo un invio dall'esito incerto: verificare sul portale SdI (SE after an uncertain attempt)", "message", msg.ID, "invoice", inv.ID)
	}
	if len(res.FileScarto) == 0 {
		return tx.AppendEvents(message.Event{MessageID: msg.ID, Type: message.EventNote, Detail: "l'SdI non ha allegato il file SE (no SE file attached)"})
	}
	name := res.NomeFileScarto
	if sdicoop.CheckNomeFile("NomeFile", name) != nil {
		name = sdi.NomeFileMessaggio(inv.FileName, sdi.SE, 1)
	}
	subject := Subject(id, inv.FileName, subjectScarto, inv.Header(HeaderCedente), dataRicezioneSdI, m.h.Now())
	se := &message.Message{Ente: msg.Ente, Flow: message.FlowPassive, Kind: message.KindNotification, FileName: name,
		Headers: map[string]string{message.HeaderIdentificativoSdI: id, message.HeaderTipoMessaggio: string(sdi.SE), HeaderFattura: string(inv.ID),
			HeaderNomeFile: inv.FileName},
		ParentID: msg.ID, CorrelationID: string(inv.ID), DedupKey: "sdi:" + id + ":SE:" + name + ":" + string(msg.ID), Source: "sdi/SdIRiceviNotifica",
		Files: []message.File{{Name: name, Role: message.RoleMain, ContentType: "application/xml", Data: res.FileScarto}}}
	evs := []message.Event{{Type: message.EventReceived, Target: "SdIRiceviNotifica", Detail: "scarto esito committente (SE) per " + msg.FileName + ": " + why}}
	phase := m.notificationsPhase(msg.Ente)
	if phase == "" {
		evs = append(evs, message.Event{Type: message.EventNote, Detail: "l'ente non ha una fase per le notifiche: SE non consegnato (no notifications phase)"})
	}
	_, _, err = tx.Ingest(store.NewMessage{Message: se, Events: evs, Keys: []string{flowkit.SdIKey(id), flowkit.FileKey(name)},
		Jobs: relay(msg.Ente, phase, subject, message.StateDelivered)})
	return err
}

// sendECByPEC hands the EC to the PEC sender towards the SdI address the invoice came
// from (or sdi.address).
func (m *Module) sendECByPEC(ctx context.Context, msg, inv *message.Message, data []byte) (store.Outcome, error) {
	if m.opts.SdIPEC == nil {
		return store.Outcome{}, engine.Permanent(errors.New("sdi.channel è pec, ma l'invio PEC verso l'SdI non è disponibile in questo hub: " +
			"usare sdi.channel: ws oppure attendere il canale PEC, poi `snodo replay` (no PEC sender to the SdI)"))
	}
	to := inv.Header(HeaderSdIPEC)
	if to == "" {
		to = m.h.Config.SdI.Address
	}
	if err := m.opts.SdIPEC.SendEC(ctx, to, msg.FileName, data); err != nil {
		return store.Outcome{}, err
	}
	err := m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil || cur.State != EsitoRicevuto {
			return err
		}
		ilocked, err := lock(ctx, tx, m.h.Store.Dialect(), inv.ID)
		if err != nil {
			return err
		}
		if _, err := transition(tx, outcomeTransitions, cur, EsitoInviato, "inviato all'SdI per PEC a "+to+" (sent by PEC)"); err != nil {
			return err
		}
		_, err = transition(tx, invoiceTransitions, ilocked, EsitoInviato, fmt.Sprintf("esito %s inviato all'SdI per PEC a %s", msg.FileName, to))
		return err
	})
	return store.Outcome{}, err
}

func withMessage(id message.ID, jobs []store.JobSpec) []store.JobSpec {
	for i := range jobs {
		jobs[i].MessageID = id
	}
	return jobs
}

// dt is the job that correlates a DT to its invoice: the invoice is accepted by
// deadline, the DT goes to the ente.
func (m *Module) dt(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	id := sdi.IdentificativoSdI(msg.Header(message.HeaderIdentificativoSdI))
	inv, err := findInvoice(ctx, m.h.Store, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && inv.Ente == "" {
		reason := fmt.Sprintf("decorrenza termini per IdentificativoSdI %s: nessuna fattura instradata con questo identificativo; "+
			"rimettere in coda con `snodo replay %s` quando la fattura sarà instradata (no routed invoice for this DT)", id, msg.ID)
		if err2 := m.tx(ctx, func(tx store.Tx) error {
			cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
			if err != nil || cur.State == NonInstradata {
				return err
			}
			return tx.SetState(msg.ID, NonInstradata, reason)
		}); err2 != nil {
			return store.Outcome{}, err2
		}
		m.metrics.unroutable.Inc()
		m.log.Error("decorrenza termini non correlata (DT for no routed invoice)", "message", msg.ID, "IdentificativoSdI", id)
		return store.Outcome{}, engine.Permanent(errors.New(reason))
	}
	if err != nil {
		return store.Outcome{}, err
	}
	err = m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		if cur.Header(HeaderFattura) != "" {
			return nil // done by an earlier run
		}
		if cur.Ente != inv.Ente {
			if err := setEnte(ctx, tx, msg.ID, inv.Ente); err != nil {
				return err
			}
		}
		if err := tx.MergeHeaders(msg.ID, map[string]string{HeaderFattura: string(inv.ID), HeaderCedente: inv.Header(HeaderCedente)}); err != nil {
			return err
		}
		if cur.State == NonInstradata {
			if err := tx.SetState(msg.ID, message.StateReceived, "correlata alla fattura "+string(inv.ID)); err != nil {
				return err
			}
		}
		ilocked, err := lock(ctx, tx, m.h.Store.Dialect(), inv.ID)
		if err != nil {
			return err
		}
		if _, err := transition(tx, invoiceTransitions, ilocked, DecorrenzaTermini,
			"decorrenza termini (DT "+msg.FileName+"): fattura accettata per decorrenza dei termini (accepted by deadline)"); err != nil {
			return err
		}
		phase := m.notificationsPhase(inv.Ente)
		if phase == "" {
			return tx.AppendEvents(message.Event{MessageID: msg.ID, Type: message.EventNote, Detail: "l'ente non ha una fase per le notifiche: DT non consegnata (no notifications phase)"})
		}
		subject := Subject(string(id), inv.FileName, subjectDT, inv.Header(HeaderCedente), dataRicezioneSdI, msg.CreatedAt)
		return tx.Enqueue(withMessage(msg.ID, relay(inv.Ente, phase, subject, message.StateDelivered))...)
	})
	return store.Outcome{}, err
}

// autoAccept is the delayed job that sends an EC01 auto_accept_days after receipt when
// the ente sent no outcome and no DT came.
func (m *Module) autoAccept(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	days := j.Params["days"]
	if e, ok := m.h.Routes.Ente(msg.Ente); ok {
		days = strconv.Itoa(e.Passive.AutoAcceptDays)
	}
	err := m.tx(ctx, func(tx store.Tx) error {
		cur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		if len(esiti(cur)) > 0 || !waitingForOutcome(cur.State) || cur.Header(HeaderFormato) == "FPR12" {
			return tx.AppendEvents(message.Event{MessageID: msg.ID, Type: message.EventNote, Target: "accettazione automatica",
				Detail: fmt.Sprintf("non necessaria: stato %s (automatic acceptance not needed)", cur.State)})
		}
		var ref *sdi.RiferimentoFattura
		if refs, ok := parseRiferimenti(cur.Header(HeaderRiferimenti)); ok && len(refs) == 1 && validNumero(refs[0].NumeroFattura) {
			ref = &refs[0]
		}
		descr := fmt.Sprintf("Accettazione automatica dopo %s giorni dalla ricezione", days)
		if err := m.ingestHubEC(ctx, tx, cur, sdi.EC01, ref, descr, OriginAuto, "passive:auto:"+string(msg.ID), time.Time{}); err != nil {
			return err
		}
		_, err = transition(tx, invoiceTransitions, cur, EsitoRicevuto, "accettazione automatica (auto_accept_days "+days+"): EC01 in invio")
		return err
	})
	return store.Outcome{}, err
}
