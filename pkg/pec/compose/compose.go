// Package compose builds the mail the hub sends from a PEC mailbox: MIME
// multipart/mixed with a text (and optional HTML) body and the files as attachments, a
// generated Message-ID the hub records to correlate the provider's receipts, and the
// subject conventions per phase (see Subjects).
//
// It enforces what a PEC access point checks (RFC 6109 §3.1.1), so a message is not
// refused with a non-accettazione after the fact: a From address, at least one To, no
// Bcc, no line breaks smuggled into headers.
package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"path"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"snodo/pkg/pec"
)

// Mail is one message to send.
type Mail struct {
	From     string // the PEC mailbox (also the SMTP envelope sender)
	FromName string
	To, Cc   []string // every recipient: a PEC has no Bcc
	ReplyTo  string
	Subject  string
	Text     string // plain-text body
	HTML     string // optional HTML alternative

	Attachments []Attachment

	// MessageID is generated (at the From domain) when empty; with or without brackets.
	MessageID string
	Date      time.Time // now when zero
	// TipoRicevuta asks the provider for a delivery receipt kind: "completa" (the
	// default when empty, no header), "breve" or "sintetica".
	TipoRicevuta string
	// Header holds extra header fields (e.g. "X-Snodo-Ente"); values must be one line.
	Header map[string]string
}

// Attachment is one file.
type Attachment struct {
	Name        string // file name as the recipient will see it
	ContentType string // guessed from the extension when empty
	Data        []byte
}

// NewMessageID returns a fresh Message-ID "<time.random@domain>".
func NewMessageID(domain string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	if domain == "" {
		domain = "snodo.invalid"
	}
	return fmt.Sprintf("<%s.%s@%s>", time.Now().UTC().Format("20060102150405.000000"), hex.EncodeToString(b[:]), domain)
}

// ContentTypeFor guesses a content type from a file name: the types of SdI and
// FatturaPA files first, application/octet-stream otherwise.
func ContentTypeFor(name string) string {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".xml.p7m"), strings.HasSuffix(lower, ".p7m"):
		return "application/pkcs7-mime"
	}
	switch path.Ext(lower) {
	case ".xml":
		return "application/xml"
	case ".zip":
		return "application/zip"
	case ".pdf":
		return "application/pdf"
	case ".html", ".htm":
		return "text/html"
	case ".txt":
		return "text/plain"
	case ".csv":
		return "text/csv"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

func oneLine(field, v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("compose: %s contiene un a capo: non ammesso in un'intestazione (%s contains a line break: not allowed in a header)", field, field)
	}
	return nil
}

func parseAddr(field, v string) (*gomail.Address, error) {
	if err := oneLine(field, v); err != nil {
		return nil, err
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		return nil, fmt.Errorf("compose: %s %q non è un indirizzo valido: %v (not a valid address)", field, v, err)
	}
	return &gomail.Address{Name: a.Name, Address: a.Address}, nil
}

// Build returns the message as it goes on the wire (CRLF line endings) and its
// Message-ID (with angle brackets).
func Build(m Mail) ([]byte, string, error) {
	from, err := parseAddr("From", m.From)
	if err != nil {
		return nil, "", err
	}
	from.Name = m.FromName
	if err := oneLine("FromName", m.FromName); err != nil {
		return nil, "", err
	}
	if len(m.To) == 0 {
		return nil, "", fmt.Errorf("compose: nessun destinatario To: una PEC ne richiede almeno uno (no To recipient: a PEC needs at least one)")
	}
	var to, cc []*gomail.Address
	for _, a := range m.To {
		ad, err := parseAddr("To", a)
		if err != nil {
			return nil, "", err
		}
		to = append(to, ad)
	}
	for _, a := range m.Cc {
		ad, err := parseAddr("Cc", a)
		if err != nil {
			return nil, "", err
		}
		cc = append(cc, ad)
	}
	if err := oneLine("Subject", m.Subject); err != nil {
		return nil, "", err
	}
	switch m.TipoRicevuta {
	case "", "completa", "breve", "sintetica":
	default:
		return nil, "", fmt.Errorf("compose: TipoRicevuta %q: ammessi completa, breve, sintetica (allowed: completa, breve, sintetica)", m.TipoRicevuta)
	}

	var h gomail.Header
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	h.SetDate(date)
	h.SetAddressList("From", []*gomail.Address{from})
	h.SetAddressList("To", to)
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	if m.ReplyTo != "" {
		rt, err := parseAddr("Reply-To", m.ReplyTo)
		if err != nil {
			return nil, "", err
		}
		h.SetAddressList("Reply-To", []*gomail.Address{rt})
	}
	h.SetSubject(m.Subject)
	id := m.MessageID
	if id == "" {
		_, domain, _ := strings.Cut(from.Address, "@")
		id = NewMessageID(domain)
	}
	if err := oneLine("MessageID", id); err != nil {
		return nil, "", err
	}
	id = pec.NormalizeMessageID(id)
	h.SetMessageID(strings.Trim(id, "<>"))
	if m.TipoRicevuta != "" {
		h.Set(pec.HeaderTipoRicevuta, m.TipoRicevuta)
	}
	for k, v := range m.Header {
		if err := oneLine(k, v); err != nil {
			return nil, "", err
		}
		if k == "" || strings.ContainsAny(k, ": \t") || strings.EqualFold(k, "Bcc") {
			return nil, "", fmt.Errorf("compose: intestazione %q non ammessa (header not allowed)", k)
		}
		h.Set(k, mime.QEncoding.Encode("utf-8", v))
	}
	h.Set("MIME-Version", "1.0")

	var buf bytes.Buffer
	w, err := gomail.CreateWriter(&buf, h)
	if err != nil {
		return nil, "", fmt.Errorf("compose: %w", err)
	}
	iw, err := w.CreateInline()
	if err != nil {
		return nil, "", fmt.Errorf("compose: %w", err)
	}
	if err := writeInline(iw, "text/plain", m.Text); err != nil {
		return nil, "", err
	}
	if m.HTML != "" {
		if err := writeInline(iw, "text/html", m.HTML); err != nil {
			return nil, "", err
		}
	}
	if err := iw.Close(); err != nil {
		return nil, "", fmt.Errorf("compose: %w", err)
	}
	for i, a := range m.Attachments {
		name := pec.SafeName(a.Name)
		if name == "" || name != a.Name {
			return nil, "", fmt.Errorf("compose: allegato %d: nome %q non sicuro: usare un nome di file senza percorso né caratteri di controllo (attachment name not safe: use a plain file name)", i+1, a.Name)
		}
		ct := a.ContentType
		if ct == "" {
			ct = ContentTypeFor(name)
		}
		var ah gomail.AttachmentHeader
		ah.Set("Content-Type", mime.FormatMediaType(ct, map[string]string{"name": name}))
		if ah.Get("Content-Type") == "" {
			return nil, "", fmt.Errorf("compose: allegato %s: content type %q non valido (invalid content type)", name, ct)
		}
		ah.SetFilename(name)
		aw, err := w.CreateAttachment(ah)
		if err != nil {
			return nil, "", fmt.Errorf("compose: allegato %s: %w", name, err)
		}
		if _, err := aw.Write(a.Data); err != nil {
			return nil, "", fmt.Errorf("compose: allegato %s: %w", name, err)
		}
		if err := aw.Close(); err != nil {
			return nil, "", fmt.Errorf("compose: allegato %s: %w", name, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), id, nil
}

func writeInline(iw *gomail.InlineWriter, ct, body string) error {
	var ih gomail.InlineHeader
	ih.SetContentType(ct, map[string]string{"charset": "utf-8"})
	pw, err := iw.CreatePart(ih)
	if err != nil {
		return fmt.Errorf("compose: %s: %w", ct, err)
	}
	if _, err := pw.Write([]byte(body)); err != nil {
		return fmt.Errorf("compose: %s: %w", ct, err)
	}
	return pw.Close()
}
