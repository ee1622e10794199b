package sdipec

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"snodo/pkg/channel"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/passive"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
)

// receiveScarto records an SE (scarto esito committente) the SdI sent by PEC: the
// answer that, on SDICoop, comes back in the same call as ES00. The passive module has
// no entry point for an asynchronous SE, so this adapter does what its recordScarto
// does for ES00: the SE is stored as a passive notification and relayed to the ente,
// and the EC it refuses (the one sent by PEC and not yet answered) and its invoice move
// to esito-scartato. Everything happens in one transaction; a redelivered SE is
// recognised by its name and changes nothing.
func (m *Module) receiveScarto(ctx context.Context, it *Item, in channel.Inbound) error {
	id := string(it.ID)
	why := "motivo non indicato (no reason given)"
	var se *sdi.ScartoEsitoCommittente
	if it.Message != nil {
		se, _ = it.Message.Body.(*sdi.ScartoEsitoCommittente)
	}
	if se != nil {
		why = strings.TrimSpace(se.Scarto + " " + se.Note)
	} else if it.ParseErr != nil {
		why = "SE illeggibile (unreadable SE): " + it.ParseErr.Error()
	}
	var created bool
	err := m.h.Store.WithTx(ctx, func(tx store.Tx) error {
		inv, ec, err := findScartoTargets(tx, id, se)
		if err != nil {
			return err
		}
		msg := &message.Message{Flow: message.FlowPassive, Kind: message.KindNotification, FileName: it.NomeFile,
			Headers:  map[string]string{message.HeaderIdentificativoSdI: id, message.HeaderTipoMessaggio: string(sdi.SE), passive.HeaderSdIPEC: it.From},
			DedupKey: "sdi:" + id + ":SE:" + it.NomeFile + ":pec", Source: "sdi/" + ServicePEC,
			Files: []message.File{{Name: it.NomeFile, Role: message.RoleMain, ContentType: "application/xml", Data: it.File}}}
		for _, f := range in.Files {
			if f.Role == "pec" {
				msg.Files = append(msg.Files, f)
			}
		}
		evs := []message.Event{{Type: message.EventReceived, Target: "sdi/" + ServicePEC,
			Detail: fmt.Sprintf("scarto esito committente (SE) %s per IdentificativoSdI %s da %s: %s", it.NomeFile, id, it.From, why)}}
		var jobs []store.JobSpec
		if inv == nil {
			msg.State = passive.NonInstradata
			evs = append(evs, message.Event{Type: message.EventNote, Detail: fmt.Sprintf(
				"nessuna fattura passiva con IdentificativoSdI %s: SE conservato per un operatore (no passive invoice with this IdentificativoSdI: SE kept)", id)})
		} else {
			msg.Ente, msg.CorrelationID = inv.Ente, string(inv.ID)
			msg.Headers[passive.HeaderFattura] = string(inv.ID)
			msg.Headers[passive.HeaderNomeFile] = inv.FileName
			if ec != nil {
				msg.ParentID = ec.ID
			}
			if phase := passive.NotificationsPhase(m.h.Routes, inv.Ente); phase != "" {
				subject := passive.Subject(id, inv.FileName, "Notifica Scarto", inv.Header(passive.HeaderCedente), "Data Ricezione SDI", m.now())
				jobs = append(jobs, hub.DeliverJob(inv.Ente, phase, map[string]string{hub.ParamSubject: subject, hub.ParamState: string(message.StateDelivered)}))
			} else {
				evs = append(evs, message.Event{Type: message.EventNote, Detail: "l'ente non ha una fase per le notifiche: SE non consegnato (no notifications phase)"})
			}
		}
		var err2 error
		_, created, err2 = tx.Ingest(store.NewMessage{Message: msg, Events: evs, Jobs: jobs,
			Keys: []string{flowkit.SdIKey(id), flowkit.FileKey(it.NomeFile)}})
		if err2 != nil || !created || inv == nil {
			return err2
		}
		detail := fmt.Sprintf("esito scartato dallo SdI (SE %s per PEC da %s): %s", it.NomeFile, it.From, why)
		if ec != nil {
			if err := tx.MergeHeaders(ec.ID, map[string]string{passive.HeaderRispostaSdI: clip("ES00 "+why, 200)}); err != nil {
				return err
			}
			if err := tx.SetState(ec.ID, passive.EsitoScartato, detail); err != nil {
				return err
			}
		}
		if passive.Allowed(inv.State, passive.EsitoScartato) {
			return tx.SetState(inv.ID, passive.EsitoScartato, detail)
		}
		return tx.AppendEvents(message.Event{MessageID: inv.ID, Type: message.EventNote, Target: string(passive.EsitoScartato),
			Detail: fmt.Sprintf("stato %s invariato (state kept): %s", inv.State, detail)})
	})
	if err != nil {
		return fmt.Errorf("sdipec: SE %s (%s) per PEC: %w", it.NomeFile, id, err)
	}
	if created {
		m.h.Notify()
		m.log.Warn("esito committente scartato dallo SdI (SE per PEC) (outcome discarded by the SdI, SE by PEC)", "IdentificativoSdI", id, "file", it.NomeFile, "motivo", why)
	}
	return nil
}

// findScartoTargets returns the passive invoice with IdentificativoSdI id and the EC an
// SE refuses: among the invoice's ECs sent by PEC and not answered yet (esito-inviato),
// the one whose RiferimentoFattura matches the SE's, else the latest.
func findScartoTargets(tx store.Tx, id string, se *sdi.ScartoEsitoCommittente) (inv, ec *message.Message, err error) {
	ids, err := tx.FindByKey(flowkit.SdIKey(id))
	if err != nil {
		return nil, nil, err
	}
	var ecs []*message.Message
	for _, mid := range ids {
		x, err := tx.Get(mid)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case x.Flow == message.FlowPassive && x.Kind == message.KindInvoice && inv == nil:
			inv = x
		case x.Flow == message.FlowPassive && x.Kind == message.KindOutcome && x.State == passive.EsitoInviato:
			ecs = append(ecs, x)
		}
	}
	if inv == nil {
		return nil, nil, nil
	}
	sort.Slice(ecs, func(i, j int) bool { return ecs[i].CreatedAt.Before(ecs[j].CreatedAt) })
	for i := len(ecs) - 1; i >= 0; i-- {
		if ecs[i].ParentID != "" && ecs[i].ParentID != inv.ID {
			continue
		}
		if se != nil && se.RiferimentoFattura != nil {
			if ref := ecs[i].Header(passive.HeaderRiferimento); ref != "" && !strings.HasPrefix(ref, se.RiferimentoFattura.NumeroFattura+"/") {
				continue
			}
		}
		return inv, ecs[i], nil
	}
	if len(ecs) > 0 {
		return inv, ecs[len(ecs)-1], nil
	}
	return inv, nil, nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
