package pec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/message"
	pecmail "snodo/pkg/pec"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/pec/smime"
	"snodo/pkg/store"
)

// AwaitResolver is implemented by a Sink that completes asynchronous deliveries (the
// hub, over store.ResolveAwait). The receiver calls it for each final receipt: ok for an
// avvenuta-consegna, not ok for an errore-consegna or a non-accettazione. It returns an
// error wrapping store.ErrNotFound when no delivery awaits key.
//
// A receipt can come before the hub recorded the wait (the provider answers within
// milliseconds of the submission, the job is completed just after): the receiver then
// leaves the receipt in the mailbox and offers it again, for ReceiptGrace after its
// arrival; past that, a receipt nobody awaits (a Cc recipient, a message sent by
// someone else from the same box, a late one) is acknowledged and logged.
type AwaitResolver = channel.AwaitResolver

// ReceiptGrace is how long a receipt that nothing awaits yet is offered again.
const ReceiptGrace = 10 * time.Minute

type receiver struct {
	ep     *channel.Endpoint
	set    *Settings
	cfg    mailbox.IMAPConfig
	trust  *smime.TrustStore
	log    *slog.Logger
	source string
	now    func() time.Time
}

// NewReceiptReceiver reads the mailbox a sender endpoint sends from (its settings.imap)
// so that the receipts of what it sends resolve their deliveries: the hub runs one per
// sending mailbox whose route has no receive phase on it. Messages other than receipts
// that arrive there are handled as any receiver does.
func NewReceiptReceiver(ep *channel.Endpoint, deps channel.Deps) (channel.Receiver, error) {
	set := settingsOf(ep)
	if set.IMAP == "" {
		return nil, fmt.Errorf("pec %s: manca settings.imap, la cartella IMAP della casella di invio, dove arrivano le ricevute (settings.imap missing: where the receipts arrive)", ep.Name)
	}
	u, err := url.Parse(set.IMAP)
	if err != nil {
		return nil, fmt.Errorf("pec %s: imap %q non valido (bad URL)", ep.Name, set.IMAP)
	}
	rep := *ep
	rep.URL = u
	rep.Name = ep.Name + " (ricevute)"
	return newReceiver(&rep, deps)
}

func newReceiver(ep *channel.Endpoint, deps channel.Deps) (channel.Receiver, error) {
	set := settingsOf(ep)
	if isSender(ep.URL) {
		return nil, fmt.Errorf("pec %s: per ricevere serve un URL imaps://server/cartella (receiving needs an imaps:// URL)", ep.Name)
	}
	addr, sec, folder, err := imapServer(ep.URL)
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	tc, err := endpointTLS(ep)
	if err != nil {
		return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
	}
	var trust *smime.TrustStore
	if set.Trust != "" {
		if trust, err = smime.LoadTrust(set.Trust); err != nil {
			return nil, fmt.Errorf("pec %s: %w", ep.Name, err)
		}
	}
	ack := mailbox.AckFlag
	if set.Ack == "move" {
		ack = mailbox.AckMove
	}
	cfg := mailbox.IMAPConfig{
		Endpoint: mailbox.Endpoint{Addr: addr, Security: sec, TLS: tc, Username: ep.Username, Password: ep.Password, DialTimeout: set.DialTimeout},
		Mailbox:  folder, Ack: ack, MoveTo: set.MoveTo, Quarantine: set.Quarantine, PollInterval: set.Poll,
		DisableIdle: !set.idle(), MaxSize: set.MaxSize,
	}
	log := deps.Log().With("endpoint", ep.Name, "channel", "pec")
	return &receiver{ep: ep, set: set, cfg: cfg, trust: trust, log: log, now: deps.Clock(),
		source: fmt.Sprintf("%s://%s/%s", ep.URL.Scheme, addr, folder)}, nil
}

// Run consumes the mailbox until ctx ends.
func (r *receiver) Run(ctx context.Context, sink channel.Sink) error {
	c, err := mailbox.NewConsumer(r.cfg, func(ctx context.Context, d *mailbox.Delivery) error {
		return r.handle(ctx, sink, d)
	}, r.log)
	if err != nil {
		return fmt.Errorf("pec %s: %w", r.ep.Name, err)
	}
	return c.Run(ctx)
}

func (r *receiver) maxSize() int64 {
	if r.set.MaxSize > 0 {
		return r.set.MaxSize
	}
	return pecmail.DefaultMaxSize
}

// handle turns one mailbox message into an item, a resolved receipt, or a quarantine.
func (r *receiver) handle(ctx context.Context, sink channel.Sink, d *mailbox.Delivery) error {
	name := fmt.Sprintf("%s UID %d %s", r.source, d.UID, d.MessageID)
	if d.Oversize {
		return mailbox.Quarantine(fmt.Sprintf("messaggio di %d byte oltre il limite di %d: una PEC non supera 30 MB (message of %d bytes exceeds the %d-byte limit)",
			d.Size, r.maxSize(), d.Size, r.maxSize()))
	}
	e, err := pecmail.Parse(name, d.Raw, pecmail.Options{MaxSize: r.maxSize(), Trust: r.trust, Now: r.now})
	if e == nil {
		return mailbox.Quarantine(err.Error())
	}
	if err != nil {
		return mailbox.Quarantine(err.Error())
	}
	if r.set.RequireTrust && !e.Signature.OK() {
		return mailbox.Quarantine(fmt.Sprintf("%s: firma non verificata su un archivio di fiducia (signature not checked against a trust store): %s", name, e.Signature.Reason))
	}
	switch {
	case e.Kind == pecmail.KindPostaCertificata:
		return r.accept(ctx, sink, d, e)
	case e.Kind.IsReceipt():
		return r.receipt(ctx, sink, d, e)
	case e.Kind == pecmail.KindAnomalia:
		return mailbox.Quarantine(fmt.Sprintf("%s: busta di anomalia dal gestore: il messaggio contenuto non è certificato (anomaly envelope: the enclosed message is not certified)", name))
	}
	return mailbox.Quarantine(fmt.Sprintf("%s: tipo %q non gestito (kind not handled)", name, e.Kind))
}

func (r *receiver) headers(e *pecmail.Envelope) map[string]string {
	h := map[string]string{HeaderTipo: string(e.Kind), HeaderFirma: string(e.Signature.Status)}
	set := func(k, v string) {
		if v != "" {
			h[k] = v
		}
	}
	set(HeaderFirmatario, e.Signature.Signer)
	set(HeaderOggetto, e.Subject)
	if dc := e.Daticert; dc != nil {
		set(HeaderMittente, strings.ToLower(dc.Mittente))
		set(HeaderIdentificativo, dc.Identificativo)
		if t, err := dc.Time(); err == nil {
			h[HeaderData] = t.Format(time.RFC3339)
		}
	}
	return h
}

// dedupKey is stable for the same message of the same mailbox, whatever its UID.
func (r *receiver) dedupKey(d *mailbox.Delivery) string {
	return "pec:" + strings.ToLower(r.cfg.Username) + ":" + d.Key()
}

// accept hands a received PEC to the sink: the original's first attachment (the first
// that is not an SdI metadata file) is the main file, the others follow, then the
// signed envelope.
func (r *receiver) accept(ctx context.Context, sink channel.Sink, d *mailbox.Delivery, e *pecmail.Envelope) error {
	post := e.Postacert
	in := channel.Inbound{Headers: r.headers(e), DedupKey: r.dedupKey(d),
		Source: fmt.Sprintf("%s UID %d (%s)", r.source, d.UID, e.MessageID)}
	if post.MessageID != "" {
		in.Headers[message.HeaderMessageID] = post.MessageID
	}
	main := -1
	for i, a := range post.Attachments {
		if t, ok := sdiTipo(a.Name); ok && t == "MT" {
			continue
		}
		main = i
		break
	}
	if main < 0 && len(post.Attachments) > 0 {
		main = 0
	}
	if main < 0 {
		in.FileName, in.Data = "postacert.eml", post.Raw
		in.Headers[HeaderSenzaAllegati] = "true"
	} else {
		in.FileName, in.Data = post.Attachments[main].Name, post.Attachments[main].Data
	}
	for i, a := range post.Attachments {
		if i == main {
			continue
		}
		role := RoleAttachment
		if t, ok := sdiTipo(a.Name); ok && t == "MT" {
			role = message.RoleMetadata
		}
		in.Files = append(in.Files, message.File{Name: a.Name, Role: role, ContentType: a.ContentType, Data: a.Data})
	}
	if r.set.keepEnvelope() {
		in.Files = append(in.Files, message.File{Name: envelopeName(in.FileName), Role: RoleEnvelope, ContentType: "message/rfc822", Data: e.Raw})
	}
	acc, err := sink.Accept(ctx, in)
	if err != nil {
		return fmt.Errorf("pec: registrazione di %s: %w", in.FileName, err)
	}
	r.log.Info("PEC ricevuta (PEC received)", "message", acc.MessageID, "duplicate", acc.Duplicate, "file", in.FileName,
		"from", in.Headers[HeaderMittente], "identificativo", in.Headers[HeaderIdentificativo])
	return nil
}

func sdiTipo(name string) (string, bool) {
	if !filename.IsMessage(name) {
		return "", false
	}
	m, err := filename.ParseMessage(name)
	if err != nil {
		return "", false
	}
	return m.Tipo, true
}

// envelopeName names the envelope file after the main file, never colliding with it.
func envelopeName(main string) string {
	n := pecmail.SafeName(strings.TrimSuffix(main, ".eml")) + ".pec.eml"
	if n == ".pec.eml" {
		n = "busta.pec.eml"
	}
	return n
}

// receipt resolves the delivery a final receipt is about, or hands the receipt over as
// an item when the sink cannot resolve.
func (r *receiver) receipt(ctx context.Context, sink channel.Sink, d *mailbox.Delivery, e *pecmail.Envelope) error {
	dc := e.Daticert
	ref := pecmail.NormalizeMessageID(dc.MsgID)
	if ref == "" {
		ref = e.Riferimento
	}
	detail := fmt.Sprintf("%s (%s) del gestore %s, identificativo %s", e.Kind, e.Kind.Descrizione(), dc.GestoreEmittente, dc.Identificativo)
	if dc.Consegna != "" {
		detail += ", per " + dc.Consegna
	}
	if dc.Errore != daticert.Nessuno || dc.ErroreEsteso != "" {
		detail += fmt.Sprintf(", errore %s: %s", dc.Errore, dc.ErroreEsteso)
	}
	var keys []string
	var ok bool
	switch e.Kind {
	case pecmail.KindAvvenutaConsegna:
		keys, ok = []string{AwaitKey(ref, dc.Consegna)}, true
	case pecmail.KindErroreConsegna:
		keys = []string{AwaitKey(ref, dc.Consegna)}
	case pecmail.KindNonAccettazione:
		for _, de := range dc.Destinatari {
			keys = append(keys, AwaitKey(ref, de.Indirizzo))
		}
	}
	res, canResolve := sink.(AwaitResolver)
	if !canResolve {
		h := r.headers(e)
		h[HeaderRiferimento] = ref
		if dc.Consegna != "" {
			h[HeaderConsegna] = strings.ToLower(dc.Consegna)
		}
		if dc.Errore != daticert.Nessuno {
			h[HeaderErrore] = strings.TrimSpace(string(dc.Errore) + " " + dc.ErroreEsteso)
		}
		in := channel.Inbound{FileName: pecmail.SafeName(fmt.Sprintf("ricevuta-%s-%s.eml", e.Kind, strings.Trim(ref, "<>"))),
			Data: e.Raw, Headers: h, DedupKey: r.dedupKey(d), Source: fmt.Sprintf("%s UID %d (%s)", r.source, d.UID, e.MessageID)}
		if _, err := sink.Accept(ctx, in); err != nil {
			return fmt.Errorf("pec: registrazione della ricevuta %s: %w", e.MessageID, err)
		}
		return nil
	}
	if len(keys) == 0 {
		// accettazione, preavviso, presa in carico: not final; the timeline gets the final one.
		r.log.Info("ricevuta PEC intermedia (intermediate PEC receipt)", "kind", e.Kind, "riferimento", ref, "consegna", dc.Consegna)
		return nil
	}
	var unknown []string
	for _, k := range keys {
		err := res.ResolveAwait(ctx, k, ok, detail)
		switch {
		case errors.Is(err, store.ErrNotFound):
			unknown = append(unknown, k)
		case err != nil:
			return fmt.Errorf("pec: esito della ricevuta %s per %s: %w", e.Kind, k, err)
		}
	}
	if len(unknown) > 0 {
		arrived := d.InternalDate
		if arrived.IsZero() {
			arrived = r.now()
		}
		if age := r.now().Sub(arrived); age < ReceiptGrace {
			return mailbox.Later(fmt.Sprintf("nessuna consegna attende ancora %s: forse non ancora registrata (nothing awaits it yet)", strings.Join(unknown, ", ")),
				min(time.Second+age, 30*time.Second))
		}
		r.log.Warn("ricevuta PEC senza consegna in attesa: ignorata (PEC receipt nothing awaits: ignored)", "kind", e.Kind, "keys", unknown)
	}
	r.log.Info("ricevuta PEC registrata (PEC receipt recorded)", "kind", e.Kind, "riferimento", ref, "consegna", dc.Consegna, "ok", ok)
	return nil
}
