package pecfront

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"snodo/pkg/pec"
	"snodo/pkg/pec/mailbox"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
)

// Inbound is what a PEC to an SdI box asks of the SdI, read from its envelope.
type Inbound struct {
	From    string // the sender (daticert mittente)
	Subject string // the original subject
	// File is the one attachment; Files counts them all.
	File  *pec.Attachment
	Files int
	// Esito is true for an Esito Committente (…_EC_nnn.xml), false for an invoice file.
	Esito bool
}

// ReadInbound reads a PEC that arrived at an SdI box: a busta di trasporto whose
// original carries exactly one file. A receipt returns (nil, envelope, nil) with the
// envelope for the caller to correlate; anything else that is not a certified message
// is an error (the caller quarantines it).
func ReadInbound(name string, raw []byte, opt pec.Options) (*Inbound, *pec.Envelope, error) {
	e, err := pec.Parse(name, raw, opt)
	if e == nil {
		return nil, nil, err
	}
	if e.Kind.IsReceipt() {
		return nil, e, nil
	}
	if err != nil {
		return nil, e, err
	}
	if e.Kind != pec.KindPostaCertificata || e.Postacert == nil {
		return nil, e, fmt.Errorf("%s: non è una PEC (busta di trasporto) ma %s (not a certified message)", name, e.Kind)
	}
	in := &Inbound{Subject: e.Postacert.Subject, Files: len(e.Postacert.Attachments)}
	if e.Daticert != nil {
		in.From = strings.ToLower(strings.TrimSpace(e.Daticert.Mittente))
	}
	if in.From == "" {
		in.From = strings.ToLower(e.Postacert.From)
	}
	if in.From == "" {
		return nil, e, fmt.Errorf("%s: mittente mancante (sender missing)", name)
	}
	if in.Files == 1 {
		in.File = &e.Postacert.Attachments[0]
		if t, ok := sdi.TipoFromName(in.File.Name); ok && t == sdi.EC {
			in.Esito = true
		}
	}
	return in, e, nil
}

// handle takes one message of a box.
func (f *Front) handle(ctx context.Context, box string, d *mailbox.Delivery) error {
	key := box + "|" + d.Key()
	f.mu.Lock()
	done := f.seen[key]
	f.mu.Unlock()
	if done {
		return nil
	}
	name := fmt.Sprintf("%s UID %d", box, d.UID)
	if d.Oversize {
		return mailbox.Quarantine(fmt.Sprintf("%s: messaggio di %d byte oltre il limite (message too big)", name, d.Size))
	}
	in, e, err := ReadInbound(name, d.Raw, pec.Options{Trust: f.cfg.Trust})
	if e == nil || (in == nil && !e.Kind.IsReceipt()) {
		msg := "messaggio illeggibile (unreadable message)"
		if err != nil {
			msg = err.Error()
		}
		return mailbox.Quarantine(msg)
	}
	if in == nil {
		f.receipt(e)
		return nil
	}
	assigned := f.Assigned(in.From)
	f.mu.Lock()
	announced := f.announced[key]
	f.announced[key] = true
	f.mu.Unlock()
	ev := Event{Azione: "PEC", Casella: box, Corrispondente: in.From, Assegnata: assigned, Oggetto: in.Subject, MessageID: d.MessageID}
	if in.File != nil {
		ev.File = in.File.Name
	}
	if box != assigned && box != f.Public() {
		ev.Dettaglio = "casella diversa da quella assegnata al mittente, " + assigned + " (not the box assigned to the sender)"
	}
	if !announced { // a PEC handed over again (after a retryable failure) is one arrival
		f.record(ev)
	}
	switch {
	case in.File == nil:
		err = f.refuse(ctx, in, fmt.Sprintf("la PEC contiene %d file: allo SdI si invia un solo file (fattura, archivio o esito committente) per messaggio "+
			"(one file per PEC)", in.Files))
	case in.Esito:
		err = f.esito(ctx, box, in)
	default:
		if t, ok := sdi.TipoFromName(in.File.Name); ok {
			err = f.refuse(ctx, in, fmt.Sprintf("%s è un messaggio %s: allo SdI si inviano fatture ed esiti committente (only invoices and ECs)", in.File.Name, t))
		} else {
			err = f.file(ctx, box, in)
		}
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.seen[key] = true
	f.mu.Unlock()
	return nil
}

// receipt hands a delivery receipt to the send waiting for it.
func (f *Front) receipt(e *pec.Envelope) {
	if e.Daticert == nil {
		return
	}
	var r receipt
	switch e.Kind {
	case pec.KindAvvenutaConsegna:
		r.ok = true
	case pec.KindErroreConsegna, pec.KindNonAccettazione:
		r.detail = fmt.Sprintf("%s: %s %s", e.Kind, e.Daticert.Errore, e.Daticert.ErroreEsteso)
	default:
		return
	}
	ref := pec.NormalizeMessageID(e.Daticert.MsgID)
	if ref == "" {
		ref = pec.NormalizeMessageID(e.Riferimento)
	}
	rcpts := []string{e.Daticert.Consegna}
	if e.Kind == pec.KindNonAccettazione {
		rcpts = nil
		for _, d := range e.Daticert.Destinatari {
			rcpts = append(rcpts, d.Indirizzo)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rc := range rcpts {
		if ch := f.waiters[ref+"|"+strings.ToLower(strings.TrimSpace(rc))]; ch != nil {
			select {
			case ch <- r:
			default:
			}
		}
	}
}

// file hands an invoice file to the simulator's SdIRiceviFile; the simulator then
// sends its notifications through Handler, which mails them to the sender.
func (f *Front) file(ctx context.Context, box string, in *Inbound) error {
	a := in.File
	f.mu.Lock()
	f.byName[a.Name] = in.From
	f.mu.Unlock()
	res, err := f.client.RiceviFile(ctx, a.Name, a.Data)
	ev := Event{Azione: "RiceviFile", Casella: box, Corrispondente: in.From, File: a.Name}
	if err != nil {
		var se *sdicoop.Error
		if errors.As(err, &se) && (se.Retryable || se.OutcomeUnknown) {
			ev.Err = err.Error()
			f.record(ev)
			return err // the consumer hands the PEC over again
		}
		ev.Err = err.Error()
		f.record(ev)
		return f.refuse(ctx, in, "file non accettato dallo SdI (file not accepted): "+err.Error())
	}
	f.mu.Lock()
	f.transmitter[res.IdentificativoSdI] = in.From
	f.mu.Unlock()
	ev.IdentificativoSdI = res.IdentificativoSdI
	f.record(ev)
	return nil
}

// esito hands an Esito Committente to the simulator's SdIRiceviNotifica: ES01 gets no
// answer (as on the real PEC channel), ES00 an SE by PEC, a malformed EC an SE EN00.
func (f *Front) esito(ctx context.Context, box string, in *Inbound) error {
	a := in.File
	ev := Event{Azione: "NotificaEsito", Casella: box, Corrispondente: in.From, File: a.Name, Tipo: sdi.EC}
	m, perr := sdi.Parse(a.Name, a.Data)
	var ec *sdi.NotificaEsitoCommittente
	if perr == nil {
		ec, _ = m.Body.(*sdi.NotificaEsitoCommittente)
	}
	if ec == nil || ec.IdentificativoSdI.CheckWS() != nil {
		why := "esito committente illeggibile (unreadable EC)"
		if perr != nil {
			why += ": " + perr.Error()
		}
		ev.Err = why
		f.record(ev)
		return f.refuse(ctx, in, why)
	}
	id := ec.IdentificativoSdI
	ev.IdentificativoSdI = id
	res, err := f.client.NotificaEsito(ctx, id, a.Name, a.Data)
	if err != nil {
		var se *sdicoop.Error
		if errors.As(err, &se) && (se.Retryable || se.OutcomeUnknown) {
			ev.Err = err.Error()
			f.record(ev)
			return err
		}
		// Refused before the call (the EC does not conform): the SdI's answer is an SE EN00.
		ev.Dettaglio, ev.Err = sdicoop.ES00+" "+sdi.EN00, err.Error()
		f.record(ev)
		return f.scarto(ctx, in.From, id, a.Name, ec, sdi.EN00, "Notifica non conforme al formato: "+err.Error())
	}
	switch res.Esito {
	case sdicoop.ES01:
		ev.Dettaglio = sdicoop.ES01 + " " + ec.Esito
		f.record(ev)
		return nil
	default:
		ev.Dettaglio = sdicoop.ES00
		if res.Scarto != nil {
			ev.Dettaglio += " " + res.Scarto.Scarto
		}
		f.record(ev)
		if len(res.FileScarto) == 0 {
			return f.scarto(ctx, in.From, id, a.Name, ec, sdi.EN00, "scarto senza file SE dal simulatore (ES00 without an SE file)")
		}
		name := res.NomeFileScarto
		if sdicoop.CheckNomeFile("NomeFile", name) != nil {
			name = sdi.NomeFileMessaggio(a.Name, sdi.SE, 1)
		}
		return f.notify(ctx, in.From, sdi.SE, id, name, res.FileScarto)
	}
}

// scarto writes and sends an SE the front-end makes itself.
func (f *Front) scarto(ctx context.Context, rcpt string, id sdi.IdentificativoSdI, ecName string, ec *sdi.NotificaEsitoCommittente, code, why string) error {
	se := &sdi.ScartoEsitoCommittente{IdentificativoSdI: id, Scarto: code, Note: clip(why, 255), MessageId: "PEC" + string(id)}
	if ec != nil {
		se.RiferimentoFattura = ec.RiferimentoFattura
	}
	data, err := sdi.Marshal(se)
	if err != nil {
		return fmt.Errorf("pecfront: SE per %s: %w", ecName, err)
	}
	base := strings.TrimSuffix(ecName, ".xml")
	if i := strings.LastIndex(strings.ToUpper(base), "_EC_"); i > 0 {
		base = base[:i]
	}
	return f.notify(ctx, rcpt, sdi.SE, id, sdi.NomeFileMessaggio(base+".xml", sdi.SE, 1), data)
}

// refuse answers a PEC the SdI cannot take with a plain-text PEC saying why.
func (f *Front) refuse(ctx context.Context, in *Inbound, why string) error {
	box := f.Assigned(in.From)
	text := "Il messaggio \"" + in.Subject + "\" non è stato elaborato dal Sistema di Interscambio (simulato): " + why + "\r\n"
	subject := "Messaggio non elaborato: " + in.Subject
	if len(subject) > 200 {
		subject = subject[:200]
	}
	subject = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, subject)
	id, err := f.mail(ctx, box, in.From, subject, text, nil, false)
	ev := Event{Azione: "Rifiuto", Casella: box, Corrispondente: in.From, Oggetto: in.Subject, MessageID: id, Dettaglio: why}
	if err != nil {
		ev.Err = err.Error()
	}
	f.record(ev)
	return err
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
