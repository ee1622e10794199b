package sdipec

import (
	"context"
	"fmt"
	"strings"

	"snodo/pkg/channel"
	pecchannel "snodo/pkg/channel/pec"
	"snodo/pkg/engine"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/flow/passive"
	"snodo/pkg/message"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// sink takes what the receiver reads in the SdI mailbox: the SdI's PECs (Accept) and
// the provider's receipts of the module's own PECs (ResolveAwait).
type sink struct{ m *Module }

var (
	_ channel.Sink          = (*sink)(nil)
	_ channel.AwaitResolver = (*sink)(nil)
)

// ResolveAwait completes (avvenuta-consegna) or fails (errore-consegna,
// non-accettazione) the sdipec.consegna job of a PEC; a failure is marked so the job
// sends the file again.
//
// A failure is recorded here rather than by hub.ResolveAwait, which reads a zero
// max_age as "no time left" and would dead-letter at the first failure receipt unless
// sdi.retry.max_age is set: the policy is sdi.retry over engine.retry over the engine's
// defaults, as for every job under sdi.*.
func (s *sink) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	m := s.m
	if ok {
		return m.h.ResolveAwait(ctx, key, true, detail)
	}
	j, err := m.h.Store.AwaitingJob(ctx, key)
	if err != nil {
		return err
	}
	if j.Handler != HandlerConsegna {
		return m.h.ResolveAwait(ctx, key, false, detail)
	}
	detail = prefixNonConsegnata + detail
	p := m.policy()
	bury := j.Attempts >= p.MaxAttempts || m.now().Sub(j.CreatedAt) >= p.MaxAge
	if bury {
		detail = fmt.Sprintf("%s; tentativi esauriti (%d di %d) (retries exhausted)", detail, j.Attempts, p.MaxAttempts)
	}
	retryAt := m.now().Add(p.Backoff(j.Attempts, nil))
	if _, err := m.h.Store.FailAwait(ctx, key, detail, retryAt, bury); err != nil {
		return err
	}
	if bury {
		m.log.Error("PEC allo SdI non consegnata e tentativi esauriti: in dead letter, serve un operatore (PEC to the SdI not delivered, retries exhausted)",
			"message", j.MessageID, "detail", detail)
		return nil
	}
	m.log.Warn("PEC allo SdI non consegnata: nuovo invio pianificato (PEC to the SdI not delivered: sending again)", "message", j.MessageID,
		"detail", detail, "retry_at", retryAt)
	m.h.Notify()
	return nil
}

// policy is the retry policy of the module's jobs: sdi.retry over engine.retry over
// the engine's defaults.
func (m *Module) policy() engine.Policy {
	p := engine.DefaultPolicy
	for _, r := range []route.RetrySpec{m.h.Config.Engine.Retry, m.h.Config.SdI.Retry} {
		if r.MaxAttempts > 0 {
			p.MaxAttempts = r.MaxAttempts
		}
		if r.Initial > 0 {
			p.Initial = r.Initial
		}
		if r.Max > 0 {
			p.Max = r.Max
		}
		if r.MaxAge > 0 {
			p.MaxAge = r.MaxAge
		}
	}
	return p
}

// Accept dispatches one PEC of the SdI to the flow it belongs to. It returns nil only
// after the flow committed it (or recognised it as already committed); a PEC that is
// not the SdI's, or not an SdI message, is quarantined in the mailbox with the reason.
func (s *sink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	m := s.m
	from := strings.ToLower(in.Headers[pecchannel.HeaderMittente])
	if t := in.Headers[pecchannel.HeaderTipo]; t != "" && t != "posta-certificata" {
		return channel.Accepted{}, mailbox.Quarantine(fmt.Sprintf("%s: messaggio PEC di tipo %s inatteso nella casella dello SdI (unexpected PEC kind)", in.Source, t))
	}
	if !IsSdIAddress(from, m.mb.FirstSdI) {
		return channel.Accepted{}, mailbox.Quarantine(fmt.Sprintf("%s: mittente %q non è una casella PEC dello SdI (sdiNN@%s): "+
			"la casella dell'hub per lo SdI riceve solo dallo SdI; il messaggio resta in quarantena per un operatore (sender is not an SdI mailbox)",
			in.Source, from, domainOf(m.mb.FirstSdI)))
	}
	it, err := Classify(in)
	if err != nil {
		return channel.Accepted{}, mailbox.Quarantine(err.Error())
	}
	if len(it.Extra) > 0 {
		m.log.Warn("PEC dello SdI con allegati in più: conservati solo nella busta (extra attachments in an SdI PEC: kept in the envelope only)",
			"file", it.NomeFile, "extra", it.Extra, "from", from)
	}
	switch {
	case it.Invoice:
		err = m.receiveInvoice(ctx, it, in)
	case it.Tipo == sdi.SE:
		err = m.receiveScarto(ctx, it, in)
	case it.Tipo == sdi.DT:
		err = m.receiveDT(ctx, it, in)
	default:
		err = m.receiveActive(ctx, it, in)
	}
	if err != nil {
		return channel.Accepted{}, err
	}
	m.log.Info("PEC dello SdI registrata (SdI PEC recorded)", "tipo", it.Tipo, "IdentificativoSdI", it.ID, "file", it.NomeFile, "from", from)
	return channel.Accepted{}, nil
}

func peer(it *Item) sdicoop.Peer {
	return sdicoop.Peer{RemoteAddr: "PEC " + it.From, ReceivedAt: it.At}
}

// receiveInvoice stores an invoice the SdI delivered by PEC exactly as RiceviFatture
// does (the passive module's inbound path), then records on it the SdI box it came from
// (where its EC goes) and keeps the PEC envelope beside it.
func (m *Module) receiveInvoice(ctx context.Context, it *Item, in channel.Inbound) error {
	err := m.passive.ReceiveInvoice(ctx, sdicoop.InvoiceDelivery{IdentificativoSdI: it.ID, NomeFile: it.NomeFile, File: it.File,
		NomeFileMetadati: it.NomeFileMetadati, Metadati: it.Metadati, MT: it.MT, MTErr: it.MTErr, Peer: peer(it)})
	if err != nil {
		return fmt.Errorf("sdipec: fattura %s (%s) per PEC: %w", it.NomeFile, it.ID, err)
	}
	h := map[string]string{passive.HeaderSdIPEC: it.From}
	if v := in.Headers[pecchannel.HeaderIdentificativo]; v != "" {
		h[HeaderIdentificativoPEC] = v
	}
	return m.annotate(ctx, it, in, h, func(x *message.Message) bool { return x.Flow == message.FlowPassive && x.Kind == message.KindInvoice })
}

// receiveActive hands a notification of the active cycle to the active module, and
// learns the SdI box to send to from now on.
func (m *Module) receiveActive(ctx context.Context, it *Item, in channel.Inbound) error {
	if err := m.active.ReceiveNotification(ctx, m.notification(it)); err != nil {
		return fmt.Errorf("sdipec: %s %s (%s) per PEC: %w", it.Tipo, it.NomeFile, it.ID, err)
	}
	if err := m.annotate(ctx, it, in, nil, func(x *message.Message) bool {
		return x.Flow == message.FlowActive && x.Kind == message.KindNotification && x.FileName == it.NomeFile
	}); err != nil {
		return err
	}
	return m.learn(ctx, it.From)
}

func (m *Module) notification(it *Item) sdicoop.NotificationDelivery {
	return sdicoop.NotificationDelivery{Service: ServicePEC, Operation: ServicePEC + " " + string(it.Tipo), Tipo: it.Tipo,
		IdentificativoSdI: it.ID, NomeFile: it.NomeFile, File: it.File, Message: it.Message, ParseErr: it.ParseErr, Peer: peer(it)}
}

// receiveDT routes a DT: to the passive module when the hub holds a passive invoice
// with its IdentificativoSdI, to the active module otherwise (it correlates by
// identifier or file name); to both for an internal invoice (both sides here).
func (m *Module) receiveDT(ctx context.Context, it *Item, in channel.Inbound) error {
	pas, act, err := m.sides(ctx, it.ID)
	if err != nil {
		return err
	}
	if pas {
		if err := m.passive.ReceiveNotification(ctx, m.notification(it)); err != nil {
			return fmt.Errorf("sdipec: DT %s (%s) per PEC: %w", it.NomeFile, it.ID, err)
		}
		if err := m.annotate(ctx, it, in, nil, func(x *message.Message) bool {
			return x.Flow == message.FlowPassive && x.Kind == message.KindNotification && x.FileName == it.NomeFile
		}); err != nil {
			return err
		}
	}
	if act || !pas {
		return m.receiveActive(ctx, it, in)
	}
	return nil
}

// sides reports whether the journal holds a passive and an active invoice with id.
func (m *Module) sides(ctx context.Context, id sdi.IdentificativoSdI) (pas, act bool, err error) {
	ids, err := m.h.Store.FindByKey(ctx, flowkit.SdIKey(string(id)))
	if err != nil {
		return false, false, fmt.Errorf("sdipec: ricerca di IdentificativoSdI %s (lookup): %w", id, err)
	}
	for _, mid := range ids {
		x, err := m.h.Store.Get(ctx, mid)
		if err != nil {
			return false, false, err
		}
		if x.Kind != message.KindInvoice {
			continue
		}
		switch x.Flow {
		case message.FlowPassive:
			pas = true
		case message.FlowActive:
			act = true
		}
	}
	return pas, act, nil
}

// annotate merges headers into the message the flow stored for it (found by
// IdentificativoSdI and match) and keeps the PEC envelope, the legal proof, as one of
// its files; a redelivered PEC adds nothing.
func (m *Module) annotate(ctx context.Context, it *Item, in channel.Inbound, headers map[string]string, match func(*message.Message) bool) error {
	var env *message.File
	for i := range in.Files {
		if in.Files[i].Role == pecchannel.RoleEnvelope {
			env = &in.Files[i]
		}
	}
	ids, err := m.h.Store.FindByKey(ctx, flowkit.SdIKey(string(it.ID)))
	if err != nil {
		return fmt.Errorf("sdipec: ricerca di IdentificativoSdI %s (lookup): %w", it.ID, err)
	}
	var target *message.Message
	for _, mid := range ids {
		x, err := m.h.Store.Get(ctx, mid)
		if err != nil {
			return err
		}
		if match(x) {
			target = x
			break
		}
	}
	if target == nil {
		m.log.Warn("messaggio registrato dal flusso non trovato: busta PEC non allegata (stored message not found: envelope not kept)",
			"IdentificativoSdI", it.ID, "file", it.NomeFile)
		return nil
	}
	addEnv := false
	if env != nil {
		files, err := m.h.Store.Files(ctx, target.ID)
		if err != nil {
			return err
		}
		addEnv = true
		for _, f := range files {
			if f.Role == pecchannel.RoleEnvelope || f.Name == env.Name {
				addEnv = false
			}
		}
	}
	changed := false
	for k, v := range headers {
		if target.Header(k) != v {
			changed = true
		}
	}
	if !addEnv && !changed {
		return nil
	}
	err = m.h.Store.WithTx(ctx, func(tx store.Tx) error {
		if changed {
			if err := tx.MergeHeaders(target.ID, headers); err != nil {
				return err
			}
		}
		if !addEnv {
			return nil
		}
		if err := tx.AddFile(target.ID, *env); err != nil {
			return err
		}
		return tx.AppendEvents(message.Event{MessageID: target.ID, Type: message.EventNote, Target: "sdi/" + ServicePEC,
			Detail: fmt.Sprintf("ricevuto per PEC da %s (%s), identificativo del gestore %s; busta PEC conservata come %s (received by PEC; envelope kept)",
				it.From, in.Headers[pecchannel.HeaderOggetto], in.Headers[pecchannel.HeaderIdentificativo], env.Name)})
	})
	if err != nil {
		return fmt.Errorf("sdipec: registrazione della busta PEC di %s (recording the envelope): %w", it.NomeFile, err)
	}
	return nil
}
