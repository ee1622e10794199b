package pec

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/rawmime"
	"snodo/pkg/pec/smime"
)

// subjectPrefixes maps the subject prefixes of the PEC rules to kinds, longest first: the
// last-resort classification when neither headers nor daticert say.
var subjectPrefixes = []struct {
	prefix string
	kind   Kind
}{
	{"AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO:", KindPreavvisoErroreConsegna},
	{"AVVISO DI NON ACCETTAZIONE PER VIRUS:", KindNonAccettazione},
	{"AVVISO DI MANCATA CONSEGNA PER VIRUS:", KindErroreConsegna},
	{"AVVISO DI NON ACCETTAZIONE:", KindNonAccettazione},
	{"AVVISO DI MANCATA CONSEGNA:", KindErroreConsegna},
	{"PROBLEMA DI SICUREZZA:", KindRilevazioneVirus},
	{"ANOMALIA MESSAGGIO:", KindAnomalia},
	{"POSTA CERTIFICATA:", KindPostaCertificata},
	{"PRESA IN CARICO:", KindPresaInCarico},
	{"ACCETTAZIONE:", KindAccettazione},
	{"CONSEGNA:", KindAvvenutaConsegna},
}

// Parse reads a PEC message. name names the input in errors (a file name, "IMAP UID
// 42"). It returns a nil envelope and an error only when the input cannot be read at all
// (too large, empty, MIME beyond the limits). Otherwise it returns the envelope with
// everything understood, and Envelope.Err(): nil for a valid PEC, else an *Error listing
// why not (not a PEC, broken or untrusted signature, daticert missing or contradicting
// the headers, ...). Warnings are in Envelope.Problems only.
func Parse(name string, raw []byte, opt Options) (*Envelope, error) {
	max := opt.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	if int64(len(raw)) > max {
		return nil, &Error{Name: name, Err: ErrTooLarge, Problems: []Problem{{Code: CodeTooLarge, Severity: SeverityError,
			Reason: fmt.Sprintf("messaggio di %d byte oltre il limite di %d: una PEC non supera 30 MB (message of %d bytes exceeds the %d-byte limit; a PEC is at most 30 MB)",
				len(raw), max, len(raw), max)}}}
	}
	root, err := rawmime.Parse(raw, opt.Limits)
	if err != nil {
		return nil, &Error{Name: name, Err: ErrMalformed, Problems: []Problem{{Code: CodeMalformed, Severity: SeverityError,
			Reason: fmt.Sprintf("messaggio non leggibile: %v (unreadable message)", err)}}}
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	e := &Envelope{Name: name, Raw: raw, Size: len(raw)}
	e.readHeader(root)
	for _, d := range root.Defects {
		e.add(CodeStructure, SeverityWarning, "%s", d)
	}

	headerKind := e.kindFromHeaders(root)

	// The signed entity: multipart/signed (detached) or pkcs7-mime signed-data (opaque).
	var signed *rawmime.Part
	switch {
	case root.MediaType == "multipart/signed":
		signed = e.verifyDetached(root, opt.Trust, now())
	case isPKCS7Mime(root):
		signed = e.verifyOpaque(root, opt, now())
	default:
		e.Signature = smime.Verdict{Status: smime.Missing, Reason: "messaggio non firmato (message not signed)"}
	}

	if signed != nil {
		e.readContent(signed, opt)
	}

	// Classify: headers first, daticert to cross-check, subject as a last resort.
	switch {
	case headerKind != "":
		e.Kind = headerKind
	case e.Daticert != nil && daticert.Tipo(e.Daticert.Tipo).Valid():
		e.Kind = Kind(e.Daticert.Tipo)
		e.add(CodeHeader, SeverityWarning, "intestazioni X-Trasporto/X-Ricevuta assenti: tipo letto da daticert.xml (X-Trasporto/X-Ricevuta headers missing: type taken from daticert.xml)")
	default:
		if k := kindFromSubject(e.Subject); k != "" && signed != nil {
			e.Kind = k
			e.add(CodeHeader, SeverityError, "tipo dedotto solo dall'oggetto: mancano intestazioni PEC e daticert.xml (type inferred from the subject only: PEC headers and daticert.xml missing)")
		} else {
			e.Kind = KindNonPEC
		}
	}
	if e.Kind == KindNonPEC {
		e.Problems = nil // the defects of ordinary mail are not PEC problems
		e.add(CodeNotPEC, SeverityError, "non è una PEC: nessuna intestazione X-Trasporto/X-Ricevuta né daticert.xml firmato (not a PEC: no X-Trasporto/X-Ricevuta header and no signed daticert.xml)")
		return e, e.Err()
	}

	e.judgeSignature(opt.Trust)
	e.checkConsistency()
	return e, e.Err()
}

func (e *Envelope) readHeader(root *rawmime.Part) {
	h := root.Header
	e.MessageID = NormalizeMessageID(h.Get("Message-Id"))
	e.Subject = strings.TrimSpace(rawmime.DecodeWords(h.Get("Subject")))
	e.From, e.FromName = addressOf(h.Get("From"))
	e.To = addressList(h.Get("To"))
	e.Cc = addressList(h.Get("Cc"))
	e.ReplyTo, _ = addressOf(h.Get("Reply-To"))
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		e.Date = d
	}
	e.Riferimento = NormalizeMessageID(h.Get(HeaderRiferimento))
	e.Trasporto = strings.TrimSpace(h.Get(HeaderTrasporto))
	e.Ricevuta = strings.TrimSpace(h.Get(HeaderRicevuta))
	e.TipoRicevuta = strings.TrimSpace(h.Get(HeaderTipoRicevuta))
	e.VerificaSicurezza = strings.TrimSpace(h.Get(HeaderVerificaSicurezza))
}

func (e *Envelope) kindFromHeaders(root *rawmime.Part) Kind {
	h := root.Header
	for _, k := range []string{HeaderTrasporto, HeaderRicevuta, "Content-Type"} {
		if n := len(h.Values(k)); n > 1 {
			e.add(CodeHeader, SeverityError, "intestazione %s ripetuta %d volte (header %s repeated %d times)", k, n, k, n)
		}
	}
	if e.Trasporto != "" && e.Ricevuta != "" {
		e.add(CodeHeader, SeverityError, "presenti sia X-Trasporto sia X-Ricevuta (both X-Trasporto and X-Ricevuta present)")
	}
	switch {
	case e.Trasporto != "":
		switch strings.ToLower(e.Trasporto) {
		case trasportoPostaCert:
			return KindPostaCertificata
		case trasportoErrore:
			return KindAnomalia
		}
		e.add(CodeHeader, SeverityError, "X-Trasporto %q non previsto (unknown X-Trasporto value)", e.Trasporto)
		return KindUnknown
	case e.Ricevuta != "":
		t := daticert.Tipo(strings.ToLower(e.Ricevuta))
		if t.Valid() && t != daticert.PostaCertificata {
			return Kind(t)
		}
		e.add(CodeHeader, SeverityError, "X-Ricevuta %q non previsto (unknown X-Ricevuta value)", e.Ricevuta)
		return KindUnknown
	}
	return ""
}

func kindFromSubject(s string) Kind {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, p := range subjectPrefixes {
		if strings.HasPrefix(u, p.prefix) {
			return p.kind
		}
	}
	return ""
}

func isPKCS7Mime(p *rawmime.Part) bool {
	if p.MediaType != "application/pkcs7-mime" && p.MediaType != "application/x-pkcs7-mime" {
		return false
	}
	st := strings.ToLower(p.Params["smime-type"])
	return st == "signed-data" || st == ""
}

func (e *Envelope) verifyDetached(root *rawmime.Part, trust *smime.TrustStore, now time.Time) *rawmime.Part {
	if len(root.Parts) != 2 {
		e.add(CodeStructure, SeverityError, "multipart/signed con %d parti invece di 2 (multipart/signed with %d parts instead of 2)", len(root.Parts), len(root.Parts))
		e.Signature = smime.Verdict{Status: smime.Invalid, Reason: "struttura della firma non valida (invalid signature structure)"}
		if len(root.Parts) == 0 {
			return nil
		}
		return root.Parts[0]
	}
	content, sigPart := root.Parts[0], root.Parts[1]
	switch sigPart.MediaType {
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
	default:
		e.Signature = smime.Verdict{Status: smime.Missing, Reason: fmt.Sprintf(
			"seconda parte di tipo %s invece di application/pkcs7-signature (second part is %s, not application/pkcs7-signature)", sigPart.MediaType, sigPart.MediaType)}
		return content
	}
	sig, err := sigPart.Decoded()
	if err != nil {
		e.Signature = smime.Verdict{Status: smime.Invalid, Reason: fmt.Sprintf("smime.p7s non decodificabile: %v (smime.p7s cannot be decoded)", err)}
		return content
	}
	e.Signature = smime.VerifyDetached(content.Raw, sig, trust, now)
	if e.Signature.Status == smime.Invalid && hasBareLF(content.Raw) {
		// S/MIME signs the canonical form (CRLF). A message stored with LF line endings
		// (mbox, a Unix file) is checked again in that form, as openssl does.
		if v := smime.VerifyDetached(toCRLF(content.Raw), sig, trust, now); v.Intact() {
			e.Signature = v
			e.add(CodeStructure, SeverityWarning, "fine riga LF: firma verificata sulla forma canonica CRLF (LF line endings: signature verified on the canonical CRLF form)")
		}
	}
	return content
}

func (e *Envelope) verifyOpaque(root *rawmime.Part, opt Options, now time.Time) *rawmime.Part {
	p7m, err := root.Decoded()
	if err != nil {
		e.Signature = smime.Verdict{Status: smime.Invalid, Reason: fmt.Sprintf("smime.p7m non decodificabile: %v (smime.p7m cannot be decoded)", err)}
		return nil
	}
	content, v := smime.VerifyOpaque(p7m, opt.Trust, now)
	e.Signature = v
	if content == nil {
		return nil
	}
	inner, err := rawmime.Parse(content, opt.Limits)
	if err != nil {
		e.add(CodeMalformed, SeverityError, "contenuto firmato non leggibile: %v (signed content unreadable)", err)
		return nil
	}
	return inner
}

// readContent finds the provider's text, daticert.xml and postacert.eml in the signed
// entity. It looks at the entity and its direct multipart children only: the original
// message's own attachments live inside postacert.eml.
func (e *Envelope) readContent(signed *rawmime.Part, opt Options) {
	for _, d := range signed.Defects {
		e.add(CodeStructure, SeverityWarning, "%s", d)
	}
	var visit func(p *rawmime.Part, depth int)
	var dati, post *rawmime.Part
	visit = func(p *rawmime.Part, depth int) {
		switch {
		case p.IsMultipart():
			if depth < 3 {
				for _, c := range p.Parts {
					visit(c, depth+1)
				}
			}
		case p.MediaType == "message/rfc822" || p.MediaType == "message/global":
			if post == nil {
				post = p
			} else {
				e.add(CodeStructure, SeverityWarning, "più di un message/rfc822 nella busta: considerato il primo (more than one message/rfc822 in the envelope: the first is used)")
			}
		case strings.EqualFold(p.FileName(), "daticert.xml"):
			if dati == nil {
				dati = p
			} else {
				e.add(CodeStructure, SeverityError, "più di un daticert.xml nella busta (more than one daticert.xml in the envelope)")
			}
		case p.MediaType == "text/plain" && e.Text == "" && p.Disposition() != "attachment":
			e.Text, _ = p.Text()
		case p.MediaType == "text/html" && e.HTML == "" && p.Disposition() != "attachment":
			e.HTML, _ = p.Text()
		}
	}
	visit(signed, 0)

	if dati != nil {
		b, err := dati.Decoded()
		if err == nil {
			e.Daticert, err = daticert.Parse("daticert.xml", b)
		}
		if err != nil {
			e.add(CodeDaticertInvalid, SeverityError, "daticert.xml non leggibile: %v (daticert.xml unreadable)", err)
		} else {
			for _, v := range e.Daticert.Validate() {
				e.add(CodeDaticertInvalid, SeverityWarning, "daticert.xml: %s", v)
			}
		}
	}
	if post != nil {
		if post.Message == nil {
			e.add(CodePostacert, SeverityError, "postacert.eml vuoto o non decodificabile (postacert.eml empty or undecodable)")
		} else {
			e.Postacert = e.readMessage(post.Message)
		}
	}
}

// ReadMessage reads an ordinary message (the kind postacert.eml holds): header fields,
// text and HTML bodies, attachments. Problems lists what was odd or broken (an
// attachment that cannot be decoded is an error-severity problem); the error is for
// input that cannot be read at all.
func ReadMessage(name string, raw []byte, opt Options) (*Message, []Problem, error) {
	max := opt.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	if int64(len(raw)) > max {
		return nil, nil, &Error{Name: name, Err: ErrTooLarge, Problems: []Problem{{Code: CodeTooLarge, Severity: SeverityError,
			Reason: fmt.Sprintf("messaggio di %d byte oltre il limite di %d (message of %d bytes exceeds the %d-byte limit)", len(raw), max, len(raw), max)}}}
	}
	root, err := rawmime.Parse(raw, opt.Limits)
	if err != nil {
		return nil, nil, &Error{Name: name, Err: ErrMalformed, Problems: []Problem{{Code: CodeMalformed, Severity: SeverityError,
			Reason: fmt.Sprintf("messaggio non leggibile: %v (unreadable message)", err)}}}
	}
	e := &Envelope{Name: name}
	m := e.readMessage(root)
	return m, e.Problems, nil
}

func (e *Envelope) readMessage(m *rawmime.Part) *Message {
	h := m.Header
	msg := &Message{Raw: m.Raw}
	msg.MessageID = NormalizeMessageID(h.Get("Message-Id"))
	msg.Subject = strings.TrimSpace(rawmime.DecodeWords(h.Get("Subject")))
	msg.From, _ = addressOf(h.Get("From"))
	msg.To = addressList(h.Get("To"))
	msg.Cc = addressList(h.Get("Cc"))
	msg.ReplyTo, _ = addressOf(h.Get("Reply-To"))
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		msg.Date = d
	}
	msg.TipoRicevuta = strings.TrimSpace(h.Get(HeaderTipoRicevuta))
	msg.Bcc = addressList(h.Get("Bcc"))
	var defects []string
	_ = m.Walk(func(p *rawmime.Part) error {
		defects = append(defects, p.Defects...)
		if p.IsMultipart() {
			return nil
		}
		name := p.FileName()
		disp := p.Disposition()
		isText := p.MediaType == "text/plain" || p.MediaType == "text/html"
		if isText && name == "" && disp != "attachment" {
			t, err := p.Text()
			if err != nil {
				e.add(CodePostacert, SeverityWarning, "postacert.eml parte %s: %v", p.Path, err)
			}
			if p.MediaType == "text/plain" && msg.Text == "" {
				msg.Text = t
				return nil
			}
			if p.MediaType == "text/html" && msg.HTML == "" {
				msg.HTML = t
				return nil
			}
		}
		if name == "" && p.Path == m.Path && isText {
			return nil // a single-part text message with an empty body
		}
		var data []byte
		var err error
		if p.Message != nil {
			data = p.Message.Raw
			if name == "" {
				name = "messaggio.eml"
			}
		} else {
			data, err = p.Decoded()
		}
		if err != nil {
			e.add(CodeAttachment, SeverityError, "allegato %q (parte %s) non decodificabile: %v (attachment cannot be decoded)", name, p.Path, err)
			return nil
		}
		safe := SafeName(name)
		if safe == "" {
			safe = fmt.Sprintf("allegato-%d", len(msg.Attachments)+1)
		}
		if safe != name && name != "" {
			e.add(CodeAttachment, SeverityWarning, "nome allegato %q reso sicuro come %q (attachment name %q made safe as %q)", name, safe, name, safe)
		}
		msg.Attachments = append(msg.Attachments, Attachment{Name: safe, DeclaredName: name, ContentType: p.MediaType, Size: len(data), Data: data})
		return nil
	})
	for _, d := range defects {
		e.add(CodeStructure, SeverityWarning, "postacert.eml: %s", d)
	}
	return msg
}

func (e *Envelope) judgeSignature(trust *smime.TrustStore) {
	v := e.Signature
	switch v.Status {
	case smime.Valid:
	case smime.Unchecked:
		e.add(CodeSignatureUnchecked, SeverityWarning, "%s", v.Reason)
	case smime.Untrusted:
		e.add(CodeSignatureUntrusted, SeverityError, "%s", v.Reason)
	case smime.Missing:
		e.add(CodeSignature, SeverityError, "firma del gestore assente: %s (provider signature missing)", v.Reason)
	default:
		e.add(CodeSignature, SeverityError, "firma del gestore non valida: %s (provider signature invalid)", v.Reason)
	}
}

// checkConsistency compares the signed daticert with the unsigned headers and the
// enclosed message.
func (e *Envelope) checkConsistency() {
	d := e.Daticert
	if d == nil {
		if e.Kind != KindAnomalia { // an anomaly envelope has no certification data of its own
			e.add(CodeDaticertMissing, SeverityError, "daticert.xml assente (daticert.xml missing)")
		}
	} else {
		if e.Kind != KindAnomalia && e.Kind != KindUnknown && Kind(d.Tipo) != e.Kind {
			e.add(CodeMismatch, SeverityError, "daticert.xml dichiara tipo %q ma le intestazioni %q (daticert.xml says %q, headers say %q)", d.Tipo, e.Kind, d.Tipo, e.Kind)
		}
		if d.MsgID != "" && e.Riferimento != "" && NormalizeMessageID(d.MsgID) != e.Riferimento {
			e.add(CodeMismatch, SeverityError, "msgid di daticert.xml %s diverso da X-Riferimento-Message-ID %s (daticert msgid differs from X-Riferimento-Message-ID)", NormalizeMessageID(d.MsgID), e.Riferimento)
		}
		mitt, _ := addressOf(d.Mittente)
		switch e.Kind {
		case KindPostaCertificata:
			claimed := e.ReplyTo
			if claimed == "" {
				claimed = perContoDi(e.FromName)
			}
			if claimed != "" && mitt != "" && claimed != mitt {
				e.add(CodeMismatch, SeverityError, "mittente di daticert.xml %s diverso da quello delle intestazioni %s (daticert sender differs from the headers' sender)", mitt, claimed)
			}
			if e.Postacert != nil && e.Postacert.From != "" && mitt != "" && e.Postacert.From != mitt {
				e.add(CodeMismatch, SeverityError, "mittente di daticert.xml %s diverso dal From di postacert.eml %s (daticert sender differs from postacert.eml From)", mitt, e.Postacert.From)
			}
			if d.Identificativo != "" && e.MessageID != "" && NormalizeMessageID(d.Identificativo) != e.MessageID {
				e.add(CodeMismatch, SeverityWarning, "identificativo di daticert.xml diverso dal Message-ID della busta (daticert identificativo differs from the envelope Message-ID)")
			}
		case KindAccettazione, KindNonAccettazione, KindAvvenutaConsegna, KindErroreConsegna, KindPreavvisoErroreConsegna:
			// Receipts go to the original sender.
			if mitt != "" && len(e.To) > 0 && !contains(e.To, mitt) {
				e.add(CodeMismatch, SeverityError, "ricevuta indirizzata a %s ma daticert.xml indica il mittente %s (receipt addressed to %s but daticert sender is %s)", strings.Join(e.To, ", "), mitt, strings.Join(e.To, ", "), mitt)
			}
		}
		if d.Consegna != "" && (e.Kind == KindAvvenutaConsegna || e.Kind == KindErroreConsegna) {
			c, _ := addressOf(d.Consegna)
			found := false
			for _, de := range d.Destinatari {
				if a, _ := addressOf(de.Indirizzo); a == c {
					found = true
				}
			}
			if !found {
				e.add(CodeMismatch, SeverityError, "consegna %s non è tra i destinatari di daticert.xml (consegna is not among the recipients)", c)
			}
		}
		if d.Oggetto != "" && e.Subject != "" && !strings.HasSuffix(normSpace(e.Subject), normSpace(d.Oggetto)) {
			e.add(CodeMismatch, SeverityWarning, "oggetto di daticert.xml %q non corrisponde all'oggetto %q (daticert subject does not match the subject)", d.Oggetto, e.Subject)
		}
		if (e.Kind == KindErroreConsegna || e.Kind == KindNonAccettazione) && d.Errore == daticert.Nessuno {
			e.add(CodeDaticertInvalid, SeverityWarning, "avviso di errore con errore=\"nessuno\" (error notice with errore=\"nessuno\")")
		}
	}
	switch e.Kind {
	case KindPostaCertificata, KindAnomalia:
		if e.Postacert == nil {
			e.add(CodePostacert, SeverityError, "postacert.eml assente nella busta (postacert.eml missing from the envelope)")
		}
	case KindAvvenutaConsegna:
		sintetica := strings.EqualFold(e.TipoRicevuta, daticert.Sintetica) || (d != nil && d.Ricevuta == daticert.Sintetica)
		if e.Postacert == nil && !sintetica {
			e.add(CodePostacert, SeverityWarning, "ricevuta di consegna senza postacert.eml pur non essendo sintetica (delivery receipt without postacert.eml though not sintetica)")
		}
	}
}

// perContoDi extracts the address from a display name "Per conto di: addr".
func perContoDi(name string) string {
	const p = "per conto di:"
	if len(name) > len(p) && strings.EqualFold(name[:len(p)], p) {
		a, _ := addressOf(strings.TrimSpace(name[len(p):]))
		return a
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func hasBareLF(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// toCRLF returns b with every bare LF turned into CRLF.
func toCRLF(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
