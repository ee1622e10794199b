// Package gestore builds what a PEC provider (gestore) emits, signed with the provider's
// certificate: the transport envelope (busta di trasporto) that carries a message to its
// recipients, every receipt and notice back to the sender (accettazione,
// non-accettazione, presa-in-carico, avvenuta-consegna, errore-consegna,
// preavviso-errore-consegna, rilevazione-virus) and the anomaly envelope. The PEC
// simulator uses it; tests use it to make real, verifiable PEC messages.
//
// Output follows the structure real providers send (notes/pec-facts.md §3):
// multipart/signed (SHA-256, application/pkcs7-signature) over a multipart/mixed holding
// the human text (plain and HTML), daticert.xml and, where due, postacert.eml. Line
// endings are CRLF throughout, and the signature covers the signed part's exact bytes.
package gestore

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"snodo/pkg/pec"
	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/rawmime"
	"snodo/pkg/pec/smime"
)

// Provider is a PEC provider's identity.
type Provider struct {
	Name   string // gestore-emittente, e.g. "Gestore PEC di prova snodo"
	Domain string // receipts come from posta-certificata@Domain; identifiers end in @Domain
	Signer smime.Signer
	Now    func() time.Time // nil = time.Now
	// Micalg "sha1" mimics older providers' headers (the signature stays SHA-256).
	// Empty = "sha-256".
	Micalg string
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Address is the provider's sender address for receipts and envelopes.
func (p *Provider) Address() string { return "posta-certificata@" + p.Domain }

// NewIdentificativo returns a fresh unique message identifier at the provider's domain
// (the daticert <identificativo>, and the envelope's Message-ID without brackets).
func (p *Provider) NewIdentificativo() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("opec.%s.%s@%s", p.now().UTC().Format("20060102150405"), hex.EncodeToString(b[:]), p.Domain)
}

// Original is the message a user submitted, as the provider reads it.
type Original struct {
	Raw          []byte // CRLF line endings
	MessageID    string // with angle brackets
	Subject      string
	From         string
	To, Cc       []string
	Bcc          []string
	ReplyTo      string
	TipoRicevuta string // completa (default), breve, sintetica
}

// ReadOriginal reads the header of a submitted message. Line endings are normalised to
// CRLF, as they are on the wire.
func ReadOriginal(raw []byte) (*Original, error) {
	raw = toCRLF(raw)
	m, _, err := pec.ReadMessage("original", raw, pec.Options{MaxSize: 1 << 40})
	if err != nil {
		return nil, fmt.Errorf("gestore: %w", err)
	}
	o := &Original{Raw: raw, MessageID: m.MessageID, Subject: m.Subject, From: m.From,
		To: m.To, Cc: m.Cc, Bcc: m.Bcc, ReplyTo: m.ReplyTo, TipoRicevuta: strings.ToLower(m.TipoRicevuta)}
	switch o.TipoRicevuta {
	case daticert.Completa, daticert.Breve, daticert.Sintetica:
	default:
		o.TipoRicevuta = daticert.Completa
	}
	return o, nil
}

func (o *Original) destinatari(esterni map[string]bool) []daticert.Destinatario {
	var out []daticert.Destinatario
	for _, a := range append(append([]string{}, o.To...), o.Cc...) {
		t := daticert.Certificato
		if esterni[a] {
			t = daticert.Esterno
		}
		out = append(out, daticert.Destinatario{Indirizzo: a, Tipo: t})
	}
	return out
}

func (o *Original) risposte() string {
	if o.ReplyTo != "" {
		return o.ReplyTo
	}
	return o.From
}

func (p *Provider) daticert(tipo daticert.Tipo, o *Original, id string, at time.Time) *daticert.Daticert {
	return &daticert.Daticert{
		Tipo: tipo, Errore: daticert.Nessuno,
		Mittente: o.From, Destinatari: o.destinatari(nil), Risposte: o.risposte(), Oggetto: o.Subject,
		GestoreEmittente: p.Name, Data: daticert.DataOf(at), Identificativo: id, MsgID: o.MessageID,
	}
}

// Envelope wraps o in a busta di trasporto with identifier id (see NewIdentificativo),
// for delivery to o's recipients.
func (p *Provider) Envelope(o *Original, id string) ([]byte, error) {
	at := p.now()
	d := p.daticert(daticert.PostaCertificata, o, id, at)
	d.Ricevuta = o.TipoRicevuta
	text := fmt.Sprintf("--Questo è un Messaggio di Posta Certificata--\r\n\r\n"+
		"Il giorno %s alle ore %s (%s) il messaggio\r\n\"%s\" è stato inviato da \"%s\"\r\nindirizzato a:\r\n%s\r\n"+
		"Il messaggio originale è incluso in allegato.\r\nIdentificativo messaggio: %s\r\n",
		d.Data.Giorno, d.Data.Ora, d.Data.Zona, o.Subject, o.From, strings.Join(append(append([]string{}, o.To...), o.Cc...), "\r\n"), id)
	hdr := []field{
		{"Date", at.Format(time.RFC1123Z)},
		{pec.HeaderTrasporto, "posta-certificata"},
		{"Message-ID", "<" + id + ">"},
		{pec.HeaderRiferimento, o.MessageID},
		{"From", fmt.Sprintf("%s <%s>", mime.QEncoding.Encode("utf-8", `"Per conto di: `+o.From+`"`), p.Address())},
		{"Reply-To", o.risposte()},
		{"To", strings.Join(o.To, ", ")},
		{"Cc", strings.Join(o.Cc, ", ")},
		{"Subject", encodeSubject("POSTA CERTIFICATA: " + o.Subject)},
		{pec.HeaderTipoRicevuta, o.TipoRicevuta},
	}
	return p.build(hdr, "Messaggio di posta certificata", text, d, o.Raw)
}

// Receipt is what a receipt or notice says beyond the original message.
type Receipt struct {
	Tipo           daticert.Tipo
	Identificativo string // the provider's id of the original message (as in its envelope)
	Consegna       string // recipient delivered to (avvenuta-consegna, errore-consegna, preavviso)
	Ricezione      []string
	Errore         daticert.Errore
	ErroreEsteso   string // e.g. "5.1.1 - Gestore - indirizzo non valido"
	Virus          bool   // a virus notice: X-VerificaSicurezza: errore, "PER VIRUS" subjects
	To             string // addressee; default the original sender
}

var subjects = map[daticert.Tipo]string{
	daticert.Accettazione:            "ACCETTAZIONE: ",
	daticert.NonAccettazione:         "AVVISO DI NON ACCETTAZIONE: ",
	daticert.PresaInCarico:           "PRESA IN CARICO: ",
	daticert.AvvenutaConsegna:        "CONSEGNA: ",
	daticert.ErroreConsegna:          "AVVISO DI MANCATA CONSEGNA: ",
	daticert.PreavvisoErroreConsegna: "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO: ",
	daticert.RilevazioneVirus:        "PROBLEMA DI SICUREZZA: ",
}

var titles = map[daticert.Tipo]string{
	daticert.Accettazione:            "Ricevuta di accettazione",
	daticert.NonAccettazione:         "Avviso di non accettazione",
	daticert.PresaInCarico:           "Ricevuta di presa in carico",
	daticert.AvvenutaConsegna:        "Ricevuta di avvenuta consegna",
	daticert.ErroreConsegna:          "Avviso di mancata consegna",
	daticert.PreavvisoErroreConsegna: "Avviso di mancata consegna per superamento dei tempi massimi",
	daticert.RilevazioneVirus:        "Avviso di rilevazione virus",
}

// Receipt builds a receipt or notice about o.
func (p *Provider) Receipt(o *Original, r Receipt) ([]byte, error) {
	prefix, ok := subjects[r.Tipo]
	if !ok {
		return nil, fmt.Errorf("gestore: tipo di ricevuta %q non previsto (unknown receipt type)", r.Tipo)
	}
	if r.Virus {
		switch r.Tipo {
		case daticert.NonAccettazione:
			prefix = "AVVISO DI NON ACCETTAZIONE PER VIRUS: "
		case daticert.ErroreConsegna:
			prefix = "AVVISO DI MANCATA CONSEGNA PER VIRUS: "
		}
		if r.Errore == "" {
			r.Errore = daticert.Virus
		}
	}
	at := p.now()
	d := p.daticert(r.Tipo, o, r.Identificativo, at)
	if d.Identificativo == "" {
		d.Identificativo = p.NewIdentificativo()
	}
	if r.Errore != "" {
		d.Errore = r.Errore
	}
	d.Consegna, d.Ricezione, d.ErroreEsteso = r.Consegna, r.Ricezione, r.ErroreEsteso
	var postacert []byte
	if r.Tipo == daticert.AvvenutaConsegna {
		d.Ricevuta = o.TipoRicevuta
		switch o.TipoRicevuta {
		case daticert.Completa:
			postacert = o.Raw
		case daticert.Breve:
			b, err := breve(o.Raw)
			if err != nil {
				return nil, err
			}
			postacert = b
		}
	}
	to := r.To
	if to == "" {
		to = o.From
	}
	var text strings.Builder
	fmt.Fprintf(&text, "-- %s --\r\n\r\nIl giorno %s alle ore %s (%s) il messaggio con Oggetto\r\n\"%s\" inviato da \"%s\"\r\n",
		titles[r.Tipo], d.Data.Giorno, d.Data.Ora, d.Data.Zona, o.Subject, o.From)
	switch r.Tipo {
	case daticert.Accettazione:
		fmt.Fprintf(&text, "ed indirizzato a:\r\n%s\r\nè stato accettato dal sistema ed inoltrato.\r\n", strings.Join(append(append([]string{}, o.To...), o.Cc...), "\r\n"))
	case daticert.NonAccettazione:
		fmt.Fprintf(&text, "non è stato accettato dal sistema per il seguente motivo:\r\n%s\r\n", r.ErroreEsteso)
	case daticert.PresaInCarico:
		fmt.Fprintf(&text, "è stato preso in carico dal gestore del destinatario per:\r\n%s\r\n", strings.Join(r.Ricezione, "\r\n"))
	case daticert.AvvenutaConsegna:
		fmt.Fprintf(&text, "ed indirizzato a \"%s\"\r\nè stato correttamente consegnato al destinatario.\r\n", r.Consegna)
	case daticert.ErroreConsegna:
		fmt.Fprintf(&text, "e destinato all'utente \"%s\"\r\nnon è stato consegnato per il seguente errore:\r\n%s\r\n", r.Consegna, r.ErroreEsteso)
	case daticert.PreavvisoErroreConsegna:
		fmt.Fprintf(&text, "e destinato all'utente \"%s\"\r\nnon è stato ancora consegnato entro 12 ore dall'invio: il gestore del destinatario potrebbe non essere in grado di consegnarlo.\r\n", r.Consegna)
	case daticert.RilevazioneVirus:
		fmt.Fprintf(&text, "contiene un virus informatico e non è stato consegnato.\r\n%s\r\n", r.ErroreEsteso)
	}
	fmt.Fprintf(&text, "Identificativo messaggio: %s\r\nL'allegato daticert.xml contiene informazioni di servizio sulla trasmissione\r\n", d.Identificativo)

	hdr := []field{
		{"Date", at.Format(time.RFC1123Z)},
		{"Message-ID", "<" + p.NewIdentificativo() + ">"},
		{pec.HeaderRicevuta, string(r.Tipo)},
		{pec.HeaderRiferimento, o.MessageID},
		{"From", p.Address()},
		{"To", to},
		{"Subject", encodeSubject(prefix + o.Subject)},
	}
	if r.Tipo == daticert.AvvenutaConsegna {
		hdr = append(hdr, field{pec.HeaderTipoRicevuta, o.TipoRicevuta})
	}
	if r.Virus {
		hdr = append(hdr, field{pec.HeaderVerificaSicurezza, "errore"})
	}
	return p.build(hdr, titles[r.Tipo], text.String(), d, postacert)
}

// Anomalia wraps a message that arrived without a valid PEC envelope (ordinary mail, a
// broken signature) in a busta di anomalia for recipient to. It has no daticert of its
// own.
func (p *Provider) Anomalia(received []byte, to string, reason string) ([]byte, error) {
	received = toCRLF(received)
	subj, from := "", ""
	if root, err := rawmime.Parse(received, rawmime.Limits{}); err == nil {
		subj = strings.Join(strings.Fields(rawmime.DecodeWords(root.Header.Get("Subject"))), " ")
		from = strings.Join(strings.Fields(root.Header.Get("From")), " ")
	}
	at := p.now()
	text := fmt.Sprintf("-- Anomalia nel messaggio --\r\n\r\nIl giorno %s il messaggio \"%s\" proveniente da \"%s\"\r\nè stato ricevuto ma presenta anomalie: i dati non sono certificati.\r\nMotivo: %s\r\n",
		at.Format("02/01/2006 15:04:05 (-0700)"), subj, from, reason)
	hdr := []field{
		{"Date", at.Format(time.RFC1123Z)},
		{pec.HeaderTrasporto, "errore"},
		{"Message-ID", "<" + p.NewIdentificativo() + ">"},
		{"From", fmt.Sprintf("%s <%s>", mime.QEncoding.Encode("utf-8", `"Per conto di: `+strings.Trim(from, "<>")+`"`), p.Address())},
		{"To", to},
		{"Subject", encodeSubject("ANOMALIA MESSAGGIO: " + subj)},
	}
	return p.build(hdr, "Anomalia nel messaggio", text, nil, received)
}

type field struct{ k, v string }

func encodeSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return mime.QEncoding.Encode("utf-8", s)
}

func boundary() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "----snodo-" + hex.EncodeToString(b[:])
}

// build assembles and signs: headers, multipart/signed over multipart/mixed with the
// text, daticert.xml (when d != nil) and postacert.eml (when postacert != nil).
func (p *Provider) build(hdr []field, title, text string, d *daticert.Daticert, postacert []byte) ([]byte, error) {
	var mixed bytes.Buffer
	bm, ba := boundary(), boundary()
	fmt.Fprintf(&mixed, "Content-Type: multipart/mixed; boundary=\"%s\"\r\nContent-Transfer-Encoding: binary\r\nMIME-Version: 1.0\r\n\r\n", bm)
	fmt.Fprintf(&mixed, "--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\nContent-Transfer-Encoding: binary\r\n\r\n", bm, ba)
	fmt.Fprintf(&mixed, "--%s\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", ba)
	writeQP(&mixed, text)
	htmlBody := "<html>\r\n<head><title>" + html.EscapeString(title) + "</title></head>\r\n<body>\r\n<h3>" + html.EscapeString(title) +
		"</h3>\r\n<hr><br>\r\n" + strings.ReplaceAll(html.EscapeString(text), "\r\n", "<br>\r\n") + "</body>\r\n</html>\r\n"
	fmt.Fprintf(&mixed, "\r\n--%s\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", ba)
	writeQP(&mixed, htmlBody)
	fmt.Fprintf(&mixed, "\r\n--%s--\r\n", ba)
	if d != nil {
		x, err := d.Marshal()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&mixed, "\r\n--%s\r\nContent-Type: application/xml; name=\"daticert.xml\"\r\nContent-Disposition: inline; filename=\"daticert.xml\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", bm)
		writeBase64(&mixed, x)
	}
	if postacert != nil {
		enc := "7bit"
		for _, c := range postacert {
			if c >= 0x80 || c == 0 {
				enc = "binary"
				break
			}
		}
		fmt.Fprintf(&mixed, "\r\n--%s\r\nContent-Type: message/rfc822; name=\"postacert.eml\"\r\nContent-Disposition: inline; filename=\"postacert.eml\"\r\nContent-Transfer-Encoding: %s\r\n\r\n", bm, enc)
		mixed.Write(postacert)
		if !bytes.HasSuffix(postacert, []byte("\r\n")) {
			mixed.WriteString("\r\n")
		}
	}
	fmt.Fprintf(&mixed, "\r\n--%s--\r\n", bm)

	content := mixed.Bytes()
	sig, err := smime.SignDetached(content, p.Signer)
	if err != nil {
		return nil, fmt.Errorf("gestore: %w", err)
	}
	micalg := p.Micalg
	if micalg == "" {
		micalg = "sha-256"
	}
	var out bytes.Buffer
	for _, f := range hdr {
		if f.v == "" {
			continue
		}
		fmt.Fprintf(&out, "%s: %s\r\n", f.k, f.v)
	}
	bs := boundary()
	fmt.Fprintf(&out, "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=\"%s\"; boundary=\"%s\"\r\n\r\n", micalg, bs)
	fmt.Fprintf(&out, "This is an S/MIME signed message\r\n\r\n--%s\r\n", bs)
	out.Write(content)
	fmt.Fprintf(&out, "\r\n--%s\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n", bs)
	writeBase64(&out, sig)
	fmt.Fprintf(&out, "\r\n--%s--\r\n", bs)
	return out.Bytes(), nil
}

func writeQP(b *bytes.Buffer, s string) {
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
}

func writeBase64(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
}

// toCRLF normalises line endings to CRLF.
func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	if bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// breve returns the original with every attachment's body replaced by its SHA-256, as
// a "ricevuta breve" carries it.
func breve(raw []byte) ([]byte, error) {
	root, err := rawmime.Parse(raw, rawmime.Limits{})
	if err != nil {
		return nil, fmt.Errorf("gestore: ricevuta breve: %w", err)
	}
	var out bytes.Buffer
	last := 0
	_ = root.Walk(func(part *rawmime.Part) error {
		if part.IsMultipart() || part.Path == "" || (part.FileName() == "" && part.Disposition() != "attachment") {
			return nil
		}
		data, err := part.Decoded()
		if err != nil {
			data = part.Body
		}
		sum := sha256.Sum256(data)
		start := offset(raw, part.Body)
		if start < last || start+len(part.Body) > len(raw) {
			return nil
		}
		out.Write(raw[last:start])
		out.WriteString(base64.StdEncoding.EncodeToString(sum[:]))
		last = start + len(part.Body)
		return nil
	})
	out.Write(raw[last:])
	return out.Bytes(), nil
}

// offset returns where sub starts inside b: sub must be a sub-slice of b made by
// slicing (as rawmime's spans are), so their capacities differ by the offset.
func offset(b, sub []byte) int {
	return cap(b) - cap(sub)
}
