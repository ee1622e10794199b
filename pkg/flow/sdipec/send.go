package sdipec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/flow/active"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// Kinds of file the module sends (job parameter "tipo").
const (
	tipoFattura = "fattura"
	tipoEsito   = "esito"
)

// Parameters of a sdipec.consegna job.
const (
	paramTipo = "tipo" // fattura or esito
	paramFile = "file" // the file name
	paramTo   = "to"   // the SdI box of the first PEC
	paramPEC  = "pec"  // the Message-ID of the first PEC
)

// Prefixes of the failures the consegna job acts on (kept in the job's last error).
const (
	prefixNonConsegnata = "PEC non consegnata allo SdI (PEC not delivered to the SdI): "
	prefixReinvio       = "nuovo invio PEC allo SdI non riuscito (sending the PEC again failed): "
	prefixAttesa        = "nessuna ricevuta di consegna, serve un operatore (no delivery receipt, operator needed): "
)

// mimeOverhead bounds the headers, body text and MIME boundaries of a PEC to the SdI.
const mimeOverhead = 4 << 10

// EncodedSize is the size a file takes as a base64 MIME attachment (76-character lines
// ending in CRLF), the bulk of a PEC carrying it.
func EncodedSize(n int) int64 {
	b64 := int64((n + 2) / 3 * 4)
	lines := (b64 + 75) / 76
	return b64 + 2*lines
}

// checkSize refuses, before anything is sent, a file whose PEC would exceed the limit.
func (m *Module) checkSize(nomeFile string, n int) error {
	limit := m.mb.MaxMessageBytes()
	if total := EncodedSize(n) + mimeOverhead + int64(len(nomeFile))*4; total > limit {
		return channel.Permanent(fmt.Errorf("sdipec: %s: file di %d byte, in una PEC (allegato base64) circa %d byte, oltre il limite di %d byte "+
			"che lo SdI ammette per messaggio: non inviato; ridurre il file (es. allegati esterni o compressi) (file too big for a PEC to the SdI: not sent)",
			nomeFile, n, total, limit))
	}
	return nil
}

// SendInvoice sends an invoice file to the SdI by PEC (active.SdIPECSender): one file
// per PEC, to the SdI box learned from the SdI's answers, sdi.address until there is
// one. It returns the PEC's Message-ID once the provider accepted it; the IdentificativoSdI
// comes with the SdI's first notification. A file beyond the PEC limit is refused
// before sending with a permanent error.
func (m *Module) SendInvoice(ctx context.Context, nomeFile string, data []byte) (string, error) {
	if !m.enabled {
		return "", channel.Permanent(errNotEnabled)
	}
	if err := sdicoop.CheckNomeFile("NomeFile", nomeFile); err != nil {
		return "", channel.Permanent(fmt.Errorf("sdipec: %w", err))
	}
	if len(data) == 0 {
		return "", channel.Permanent(fmt.Errorf("sdipec: %s: file vuoto (empty file)", nomeFile))
	}
	if err := m.checkSize(nomeFile, len(data)); err != nil {
		return "", err
	}
	to, err := m.SdIAddress(ctx)
	if err != nil {
		return "", err
	}
	inv := m.findActiveInvoice(ctx, nomeFile)
	var id message.ID
	if inv != nil {
		id = inv.ID
	}
	res, err := m.send(ctx, id, to, nomeFile, data)
	if err != nil {
		return "", err
	}
	pecID := res.Headers[pecchannel.HeaderMessageID]
	if inv != nil {
		m.track(ctx, inv.ID, tipoFattura, nomeFile, to, pecID)
	} else {
		m.log.Warn("fattura inviata per PEC senza un messaggio dell'hub da seguire: la ricevuta di consegna sarà solo registrata nel log "+
			"(invoice sent without a hub message to follow)", "file", nomeFile, "message_id", pecID)
	}
	return pecID, nil
}

// SendEC sends an Esito Committente to the SdI by PEC (passive.SdIPECSender), to the SdI
// box the invoice came from (to), or to the learned one when to is empty or only
// sdi.address. It returns once the provider accepted the PEC.
func (m *Module) SendEC(ctx context.Context, to, nomeFile string, ec []byte) error {
	if !m.enabled {
		return channel.Permanent(errNotEnabled)
	}
	if err := sdicoop.CheckNomeFile("NomeFile", nomeFile); err != nil {
		return channel.Permanent(fmt.Errorf("sdipec: %w", err))
	}
	if err := m.checkSize(nomeFile, len(ec)); err != nil {
		return err
	}
	to = strings.ToLower(strings.TrimSpace(to))
	if to == "" || to == m.mb.FirstSdI {
		learned, err := m.SdIAddress(ctx)
		if err != nil {
			return err
		}
		to = learned
	}
	if !IsSdIAddress(to, m.mb.FirstSdI) && to != m.mb.FirstSdI {
		return channel.Permanent(fmt.Errorf("sdipec: %s: %s non è una casella PEC dello SdI (sdiNN@%s): esito non inviato (not an SdI mailbox: EC not sent)",
			nomeFile, to, domainOf(m.mb.FirstSdI)))
	}
	ecMsg := m.findEC(ctx, nomeFile)
	var id message.ID
	if ecMsg != nil {
		id = ecMsg.ID
	}
	res, err := m.send(ctx, id, to, nomeFile, ec)
	if err != nil {
		return err
	}
	if ecMsg != nil {
		m.track(ctx, ecMsg.ID, tipoEsito, nomeFile, to, res.Headers[pecchannel.HeaderMessageID])
	}
	return nil
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return d
}

// send submits one PEC with one file to an SdI box.
func (m *Module) send(ctx context.Context, id message.ID, to, nomeFile string, data []byte) (channel.Result, error) {
	attempt := 1
	if id != "" {
		n, err := m.h.Store.NextCounter(ctx, "sdipec:invio:"+string(id))
		if err != nil {
			return channel.Result{}, fmt.Errorf("sdipec: %s: %w", nomeFile, err)
		}
		attempt = int(n)
	}
	d := &channel.Delivery{MessageID: id, Phase: TargetPEC, FileName: nomeFile, Subject: nomeFile, Attempt: attempt,
		Files:   []message.File{{Name: nomeFile, Role: message.RoleMain, ContentType: contentType(nomeFile), Data: data}},
		Headers: map[string]string{pecchannel.HeaderDestinatario: to}}
	res, err := m.sender.Send(ctx, d)
	if err != nil {
		return channel.Result{}, fmt.Errorf("sdipec: invio di %s a %s: %w", nomeFile, to, err)
	}
	if res.Headers == nil || res.Headers[pecchannel.HeaderMessageID] == "" {
		return channel.Result{}, fmt.Errorf("sdipec: invio di %s a %s: il canale non ha restituito il Message-ID (no Message-ID returned)", nomeFile, to)
	}
	m.log.Info("file inviato allo SdI per PEC, in attesa della ricevuta di consegna (file sent to the SdI by PEC)", "message", id, "file", nomeFile,
		"to", to, "message_id", res.Headers[pecchannel.HeaderMessageID])
	return res, nil
}

func contentType(name string) string {
	l := strings.ToLower(name)
	switch {
	case strings.HasSuffix(l, ".p7m"):
		return "application/pkcs7-mime"
	case strings.HasSuffix(l, ".zip"):
		return "application/zip"
	}
	return "application/xml"
}

// track records the PEC on the message and queues the job that waits for its delivery
// receipt. A failure here leaves the PEC sent and untracked: logged, not fatal.
func (m *Module) track(ctx context.Context, id message.ID, tipo, nomeFile, to, pecID string) {
	err := m.h.Store.WithTx(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := tx.MergeHeaders(id, map[string]string{HeaderMessageID: pecID, HeaderDestinatario: to}); err != nil {
			return err
		}
		return tx.Enqueue(store.JobSpec{MessageID: id, Handler: HandlerConsegna, Target: TargetPEC, Key: "sdipec:consegna:" + pecID,
			Params: map[string]string{paramTipo: tipo, paramFile: nomeFile, paramTo: to, paramPEC: pecID}})
	})
	if err != nil {
		m.log.Error("PEC allo SdI inviata ma non seguita: la ricevuta di consegna non sarà registrata (PEC sent but not tracked)",
			"message", id, "file", nomeFile, "message_id", pecID, "err", err)
		return
	}
	m.h.Notify()
}

// findActiveInvoice returns the active invoice being sent under nomeFile, nil when
// there is none or more than one.
func (m *Module) findActiveInvoice(ctx context.Context, nomeFile string) *message.Message {
	return m.findOne(ctx, nomeFile, func(x *message.Message) bool {
		return x.Flow == message.FlowActive && x.Kind == message.KindInvoice && x.Header(active.HeaderNomeFile) == nomeFile &&
			x.Header(message.HeaderIdentificativoSdI) == ""
	})
}

// findEC returns the passive EC being sent under nomeFile.
func (m *Module) findEC(ctx context.Context, nomeFile string) *message.Message {
	return m.findOne(ctx, nomeFile, func(x *message.Message) bool {
		return x.Flow == message.FlowPassive && x.Kind == message.KindOutcome && x.FileName == nomeFile && x.State == passive.EsitoRicevuto
	})
}

func (m *Module) findOne(ctx context.Context, nomeFile string, match func(*message.Message) bool) *message.Message {
	ids, err := m.h.Store.FindByKey(ctx, flowkit.FileKey(nomeFile))
	if err != nil {
		m.log.Warn("ricerca del messaggio per nome file non riuscita (lookup by file name failed)", "file", nomeFile, "err", err)
		return nil
	}
	var found *message.Message
	for _, id := range ids {
		x, err := m.h.Store.Get(ctx, id)
		if err != nil || !match(x) {
			continue
		}
		if found != nil {
			return nil
		}
		found = x
	}
	return found
}

// consegna is the job that follows a PEC sent to the SdI until its delivery receipt.
//
//   - First run (no last error): the PEC went out with the flow's send; the job parks
//     until the receipt (channel AwaitKey of the Message-ID and the SdI box).
//   - Any later run first asks the flow: when it moved on (the SdI answered about the
//     file, or the EC left esito-inviato), the SdI has the file and the job ends.
//   - After a failure receipt (errore-consegna, non-accettazione: the SdI never got
//     the file), after its own failed re-send, or when an operator replays it, the same
//     file goes again in a new PEC, and the job parks on that one.
//   - No receipt before the deadline and no answer from the SdI: dead-lettered with an
//     alert, since the SdI may hold the file and a second one would be refused as a
//     duplicate name; an operator checks, then replays to send it again.
func (m *Module) consegna(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if !m.enabled {
		return store.Outcome{}, channel.Permanent(errNotEnabled)
	}
	pecID, to := msg.Header(HeaderMessageID), msg.Header(HeaderDestinatario)
	if pecID == "" || to == "" {
		pecID, to = j.Params[paramPEC], j.Params[paramTo]
	}
	last := j.LastError
	if last == "" {
		return m.await(pecID, to, fmt.Sprintf("PEC %s allo SdI (%s): in attesa della ricevuta di avvenuta consegna (awaiting the delivery receipt)", pecID, to)), nil
	}
	if why := m.sdiHasIt(j, msg); why != "" {
		return moved(why), nil
	}
	switch {
	case strings.HasPrefix(last, prefixNonConsegnata), strings.HasPrefix(last, prefixReinvio), strings.HasPrefix(last, prefixAttesa):
		return m.resend(ctx, j, msg)
	default:
		return store.Outcome{}, channel.Permanent(fmt.Errorf("%sla PEC %s a %s per %s non ha avuto né ricevuta di consegna né di errore entro il termine "+
			"(%s): lo SdI potrebbe averla ricevuta; verificare le ricevute nella casella e le notifiche dello SdI, poi `snodo replay %s` "+
			"per inviarla di nuovo (no receipt in time: the SdI may have the file; check, then replay to send it again)",
			prefixAttesa, pecID, to, j.Params[paramFile], last, msg.ID))
	}
}

// await parks the job until the receipt of the PEC pecID sent to to.
func (m *Module) await(pecID, to, detail string) store.Outcome {
	timeout := m.mb.Settings.ReceiptTimeout
	if timeout <= 0 {
		timeout = 24 * time.Hour
	}
	return store.Outcome{Await: &store.Await{Key: pecchannel.AwaitKey(pecID, to), Deadline: m.now().Add(timeout)},
		Events: []message.Event{{Type: message.EventAwaiting, Target: TargetPEC + " (pec)", Detail: detail}}}
}

// sdiHasIt says why the file of a job needs no PEC any more ("" when it does): the
// flow moved on, so the SdI answered about it (or, for an EC, the flow took it back).
func (m *Module) sdiHasIt(j *store.Job, msg *message.Message) string {
	nomeFile := j.Params[paramFile]
	switch j.Params[paramTipo] {
	case tipoFattura:
		if id := msg.Header(message.HeaderIdentificativoSdI); id != "" {
			return fmt.Sprintf("lo SdI ha già il file %s (IdentificativoSdI %s): nessun nuovo invio (the SdI has the file: not sent again)", nomeFile, id)
		}
	case tipoEsito:
		if msg.State != passive.EsitoInviato {
			return fmt.Sprintf("esito %s nello stato %s: nessun nuovo invio da qui (EC state moved on: not sent again from here)", nomeFile, msg.State)
		}
	}
	return ""
}

// resend sends the job's file again.
func (m *Module) resend(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	nomeFile := j.Params[paramFile]
	var to string
	switch j.Params[paramTipo] {
	case tipoFattura:
		var err error
		if to, err = m.SdIAddress(ctx); err != nil {
			return store.Outcome{}, errors.New(prefixReinvio + err.Error())
		}
	case tipoEsito:
		to = j.Params[paramTo]
	default:
		return store.Outcome{}, channel.Permanent(fmt.Errorf("sdipec: job %d: tipo %q sconosciuto (unknown kind)", j.ID, j.Params[paramTipo]))
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, nomeFile)
	if err != nil {
		return store.Outcome{}, fmt.Errorf("%slettura di %s: %w", prefixReinvio, nomeFile, err)
	}
	if err := m.checkSize(nomeFile, len(data)); err != nil {
		return store.Outcome{}, err
	}
	res, err := m.send(ctx, msg.ID, to, nomeFile, data)
	if err != nil {
		if channel.IsPermanent(err) {
			return store.Outcome{}, err
		}
		return store.Outcome{}, errors.New(prefixReinvio + err.Error())
	}
	pecID := res.Headers[pecchannel.HeaderMessageID]
	o := m.await(pecID, to, fmt.Sprintf("PEC %s non consegnata: %s inviato di nuovo allo SdI (%s) con la PEC %s, in attesa della ricevuta (sent again, awaiting the receipt)",
		msg.Header(HeaderMessageID), nomeFile, to, pecID))
	o.Headers = map[string]string{HeaderMessageID: pecID, HeaderDestinatario: to}
	if j.Params[paramTipo] == tipoFattura {
		o.Headers["PEC-Message-ID-SdI"] = pecID // the header the active flow keeps
	}
	m.log.Warn("PEC non consegnata allo SdI: file inviato di nuovo (PEC not delivered to the SdI: sent again)", "message", msg.ID,
		"file", nomeFile, "to", to, "message_id", pecID, "attempt", j.Attempts)
	return o, nil
}

func moved(detail string) store.Outcome {
	return store.Outcome{Events: []message.Event{{Type: message.EventNote, Target: TargetPEC, Detail: detail}}}
}
