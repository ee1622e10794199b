package passive

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

var _ sdicoop.Inbound = (*Module)(nil)

// ReceiveInvoice stores an invoice the SdI delivered (RiceviFatture) with its MT as one
// message, and the job that checks it, in one transaction; the SdI gets ER01 only after
// it committed. An office no ente serves is stored too, as non-instradata. A
// redelivery of the same IdentificativoSdI is recognised and not stored again.
func (m *Module) ReceiveInvoice(ctx context.Context, in sdicoop.InvoiceDelivery) error {
	id := string(in.IdentificativoSdI)
	headers := map[string]string{
		message.HeaderIdentificativoSdI: id,
		HeaderNomeFile:                  in.NomeFile,
		HeaderNomeFileMetadati:          in.NomeFileMetadati,
	}
	received := in.Peer.ReceivedAt
	if received.IsZero() {
		received = m.h.Now()
	}
	headers[HeaderRicevutaSdI] = received.UTC().Format(time.RFC3339Nano)
	var codice string
	if in.MT != nil {
		codice = in.MT.CodiceDestinatario
		headers[HeaderFormato] = in.MT.Formato
		headers[HeaderTentativiInvio] = strconv.Itoa(in.MT.TentativiInvio)
	}
	headers[message.HeaderCodiceDestinatario] = codice
	ente, reason := Route(m.h.Routes, codice)
	state := Ricevuta
	enteID := ""
	if ente != nil {
		enteID = ente.ID()
	} else if codice != "" {
		// Without the MT the office is read from the invoice by the check job.
		state = NonInstradata
	}
	events := []message.Event{
		{Type: message.EventReceived, Target: sdicoop.ServiceRicezioneFatture,
			Detail: fmt.Sprintf("%s (IdentificativoSdI %s, tentativo %s) da %s", in.NomeFile, id, headers[HeaderTentativiInvio], peerName(in.Peer))},
		{Type: message.EventState, Target: string(state), Detail: stateDetail(state, enteID, reason)},
	}
	if in.MTErr != nil {
		events = append(events, message.Event{Type: message.EventNote, Detail: "metadati MT illeggibili (unreadable MT): " + in.MTErr.Error()})
	}
	files := []message.File{{Name: in.NomeFile, Role: message.RoleMain, Data: in.File}}
	if len(in.Metadati) > 0 {
		files = append(files, message.File{Name: in.NomeFileMetadati, Role: message.RoleMetadata, ContentType: "application/xml", Data: in.Metadati})
	}
	// CorrelationID sdi:<id> links the invoice to the active side's message when an
	// ente of this hub issued it (internal invoices).
	msg := &message.Message{Ente: enteID, Flow: message.FlowPassive, Kind: message.KindInvoice, FileName: in.NomeFile,
		Headers: headers, State: state, DedupKey: "sdi:" + id + ":invoice", Source: "sdi/" + sdicoop.ServiceRicezioneFatture,
		CorrelationID: flowkit.SdIKey(id), Files: files}
	_, created, err := m.h.Store.Ingest(ctx, store.NewMessage{Message: msg, Events: events,
		Keys: []string{flowkit.SdIKey(id), flowkit.FileKey(in.NomeFile)},
		Jobs: []store.JobSpec{{Handler: HandlerCheck, Key: "passive:check:" + id, Params: map[string]string{"ente": enteID}}}})
	if err != nil {
		return fmt.Errorf("passivo: registrazione della fattura %s (%s): %w", in.NomeFile, id, err)
	}
	switch {
	case !created:
		m.metrics.received.WithLabelValues("duplicate").Inc()
		m.log.Info("fattura già ricevuta: riconsegna SdI riconosciuta (invoice redelivered by the SdI, kept once)", "IdentificativoSdI", id, "NomeFile", in.NomeFile)
	case state == NonInstradata:
		m.metrics.received.WithLabelValues("unroutable").Inc()
		m.metrics.unroutable.Inc()
		m.log.Error("fattura non instradata: nessun ente per l'ufficio (unroutable invoice)", "IdentificativoSdI", id, "NomeFile", in.NomeFile,
			"CodiceDestinatario", codice, "message", msg.ID, "motivo", reason)
	default:
		m.metrics.received.WithLabelValues("stored").Inc()
	}
	if created {
		m.h.Notify()
	}
	return nil
}

// ReceiveNotification stores a DT the SdI delivered (RicezioneFatture.NotificaDecorrenzaTermini)
// with the job that correlates it to its invoice. The module serves only the recipient
// side: other notifications belong to the active cycle.
func (m *Module) ReceiveNotification(ctx context.Context, n sdicoop.NotificationDelivery) error {
	if n.Tipo != sdi.DT {
		return fmt.Errorf("passivo: notifica %s non prevista su RicezioneFatture (unexpected notification)", n.Tipo)
	}
	id := string(n.IdentificativoSdI)
	headers := map[string]string{message.HeaderIdentificativoSdI: id, message.HeaderTipoMessaggio: string(sdi.DT), HeaderNomeFile: n.NomeFile}
	events := []message.Event{{Type: message.EventReceived, Target: sdicoop.ServiceRicezioneFatture,
		Detail: fmt.Sprintf("decorrenza termini %s per IdentificativoSdI %s da %s", n.NomeFile, id, peerName(n.Peer))}}
	if n.ParseErr != nil {
		events = append(events, message.Event{Type: message.EventNote, Detail: "notifica illeggibile, conservata (unreadable DT, kept): " + n.ParseErr.Error()})
	}
	msg := &message.Message{Flow: message.FlowPassive, Kind: message.KindNotification, FileName: n.NomeFile, Headers: headers,
		DedupKey: "sdi:" + id + ":DT:" + n.NomeFile, Source: "sdi/" + sdicoop.ServiceRicezioneFatture,
		Files: []message.File{{Name: n.NomeFile, Role: message.RoleMain, ContentType: "application/xml", Data: n.File}}}
	_, created, err := m.h.Store.Ingest(ctx, store.NewMessage{Message: msg, Events: events,
		Keys: []string{flowkit.SdIKey(id), flowkit.FileKey(n.NomeFile)},
		Jobs: []store.JobSpec{{Handler: HandlerDT, Key: "passive:dt:" + id + ":" + n.NomeFile}}})
	if err != nil {
		return fmt.Errorf("passivo: registrazione della decorrenza termini %s (%s): %w", n.NomeFile, id, err)
	}
	if created {
		m.h.Notify()
	}
	return nil
}

func peerName(p sdicoop.Peer) string {
	if p.ClientCN != "" {
		return p.ClientCN + " (" + p.RemoteAddr + ")"
	}
	return p.RemoteAddr
}

func stateDetail(s message.State, ente, reason string) string {
	switch s {
	case NonInstradata:
		return reason
	case Ricevuta:
		if ente == "" {
			return "ufficio da leggere nella fattura (office read from the invoice)"
		}
		return "ente " + ente
	}
	return ""
}
