package pec

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"snodo/pkg/pec/daticert"
	"snodo/pkg/pec/rawmime"
	"snodo/pkg/pec/smime"
)

// Kind is what a PEC message is. The receipt and envelope kinds carry the daticert tipo
// values; KindAnomalia and KindNonPEC have no tipo of their own.
type Kind string

// Kinds of message.
const (
	KindPostaCertificata        = Kind(daticert.PostaCertificata)
	KindAccettazione            = Kind(daticert.Accettazione)
	KindNonAccettazione         = Kind(daticert.NonAccettazione)
	KindPresaInCarico           = Kind(daticert.PresaInCarico)
	KindAvvenutaConsegna        = Kind(daticert.AvvenutaConsegna)
	KindErroreConsegna          = Kind(daticert.ErroreConsegna)
	KindPreavvisoErroreConsegna = Kind(daticert.PreavvisoErroreConsegna)
	KindRilevazioneVirus        = Kind(daticert.RilevazioneVirus)
	KindAnomalia                = Kind("anomalia")    // busta di anomalia (X-Trasporto: errore)
	KindNonPEC                  = Kind("non-pec")     // ordinary mail, not a PEC message
	KindUnknown                 = Kind("sconosciuto") // claims to be PEC with an unknown type
)

// Descrizione names the kind for people, Italian then English.
func (k Kind) Descrizione() string {
	switch k {
	case KindPostaCertificata:
		return "busta di trasporto (transport envelope)"
	case KindAccettazione:
		return "ricevuta di accettazione (acceptance receipt)"
	case KindNonAccettazione:
		return "avviso di non accettazione (non-acceptance notice)"
	case KindPresaInCarico:
		return "ricevuta di presa in carico (take-charge receipt)"
	case KindAvvenutaConsegna:
		return "ricevuta di avvenuta consegna (delivery receipt)"
	case KindErroreConsegna:
		return "avviso di mancata consegna (non-delivery notice)"
	case KindPreavvisoErroreConsegna:
		return "preavviso di mancata consegna, 12 ore (delivery timeout warning)"
	case KindRilevazioneVirus:
		return "avviso di rilevazione virus (virus notice)"
	case KindAnomalia:
		return "busta di anomalia (anomaly envelope)"
	case KindNonPEC:
		return "non è una PEC (not a PEC)"
	}
	return "tipo PEC sconosciuto (unknown PEC type)"
}

// IsReceipt reports whether k is a receipt or notice about a message sent (as opposed to
// an envelope carrying a message received).
func (k Kind) IsReceipt() bool {
	switch k {
	case KindAccettazione, KindNonAccettazione, KindPresaInCarico, KindAvvenutaConsegna,
		KindErroreConsegna, KindPreavvisoErroreConsegna, KindRilevazioneVirus:
		return true
	}
	return false
}

// Header names of the PEC rules (matched case-insensitively).
const (
	HeaderTrasporto               = "X-Trasporto"
	HeaderRicevuta                = "X-Ricevuta"
	HeaderRiferimento             = "X-Riferimento-Message-ID"
	HeaderTipoRicevuta            = "X-TipoRicevuta"
	HeaderVerificaSicurezza       = "X-VerificaSicurezza"
	trasportoPostaCert            = "posta-certificata"
	trasportoErrore               = "errore"
	DefaultMaxSize          int64 = 32 << 20 // 30 MB of PEC plus the envelope's own overhead
)

// Options tune Parse. The zero value is usable: 32 MiB cap, default MIME limits, no
// trust store (signatures are checked for integrity only, verdict Unchecked).
type Options struct {
	MaxSize int64             // refuse larger messages; 0 = DefaultMaxSize
	Limits  rawmime.Limits    // MIME depth and part caps
	Trust   *smime.TrustStore // providers' certificates or CAs
	Now     func() time.Time  // clock for certificate validity; nil = time.Now
}

// Envelope is a parsed PEC message. Header fields are those of the outer message as
// received (they are not signed); Daticert is signed.
type Envelope struct {
	Name string // the input's name, as given to Parse
	Kind Kind
	Size int
	Raw  []byte // the input (not copied)

	MessageID   string // envelope Message-ID, with angle brackets
	Subject     string // decoded
	From        string // address only
	FromName    string // display name, e.g. "Per conto di: mittente@pec.it"
	To, Cc      []string
	ReplyTo     string
	Date        time.Time
	Riferimento string // X-Riferimento-Message-ID: the original message's Message-ID
	// Raw values of the PEC headers.
	Trasporto, Ricevuta, TipoRicevuta, VerificaSicurezza string

	Daticert  *daticert.Daticert // nil when absent or unreadable
	Signature smime.Verdict
	Text      string   // the provider's human-readable text (plain)
	HTML      string   // the same as HTML
	Postacert *Message // the original message, when the envelope carries it

	Problems []Problem
}

// Message is an ordinary mail message: the original inside postacert.eml.
type Message struct {
	MessageID string
	Subject   string
	From      string
	To, Cc    []string
	Bcc       []string // present only in a message as submitted; a delivered one has none
	ReplyTo   string
	Date      time.Time
	// TipoRicevuta is the X-TipoRicevuta the sender asked for ("" = not asked).
	TipoRicevuta string
	Text, HTML   string
	Attachments  []Attachment
	Raw          []byte
}

// Attachment is one file of a message.
type Attachment struct {
	Name         string // safe to use as a file name (see SafeName)
	DeclaredName string // as the message declares it, decoded
	ContentType  string
	Size         int    // decoded size
	Data         []byte // decoded bytes
}

// Severity of a problem.
type Severity string

// Severities.
const (
	SeverityError   Severity = "errore" // the message must not be trusted as a valid PEC
	SeverityWarning Severity = "avviso" // recorded; the message is still usable
)

// Code names a class of problem, stable for programs.
type Code string

// Problem codes.
const (
	CodeTooLarge           Code = "troppo-grande"
	CodeMalformed          Code = "malformato"
	CodeNotPEC             Code = "non-pec"
	CodeStructure          Code = "struttura"
	CodeHeader             Code = "intestazione"
	CodeSignature          Code = "firma"
	CodeSignatureUntrusted Code = "firma-non-attendibile"
	CodeSignatureUnchecked Code = "firma-non-verificata"
	CodeDaticertMissing    Code = "daticert-assente"
	CodeDaticertInvalid    Code = "daticert-non-valido"
	CodeMismatch           Code = "incoerenza" // daticert and headers disagree
	CodePostacert          Code = "postacert"
	CodeAttachment         Code = "allegato"
)

// Problem is one thing wrong or odd with a message.
type Problem struct {
	Code     Code
	Severity Severity
	Reason   string // Italian, then English in parentheses
}

func (p Problem) String() string { return fmt.Sprintf("[%s] %s", p.Code, p.Reason) }

// Classes of fatal refusal, for errors.Is.
var (
	ErrTooLarge  = errors.New("message too large")
	ErrMalformed = errors.New("malformed message")
)

// Error lists the error-severity problems of a message.
type Error struct {
	Name     string
	Problems []Problem
	Err      error // ErrTooLarge, ErrMalformed or nil
}

func (e *Error) Error() string {
	var rs []string
	for _, p := range e.Problems {
		rs = append(rs, p.Reason)
	}
	return fmt.Sprintf("pec: %s: %s", e.Name, strings.Join(rs, "; "))
}

func (e *Error) Unwrap() error { return e.Err }

// Has reports whether the error includes a problem with code c.
func (e *Error) Has(c Code) bool {
	for _, p := range e.Problems {
		if p.Code == c {
			return true
		}
	}
	return false
}

// Err returns an *Error listing the error-severity problems, or nil when there are none:
// a nil Err means a well-formed, consistent PEC whose signature is intact (and trusted
// when a trust store was given).
func (e *Envelope) Err() error {
	var errs []Problem
	for _, p := range e.Problems {
		if p.Severity == SeverityError {
			errs = append(errs, p)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Name: e.Name, Problems: errs}
}

func (e *Envelope) add(c Code, s Severity, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Code: c, Severity: s, Reason: fmt.Sprintf(format, args...)})
}

// NormalizeMessageID returns id trimmed and in angle brackets, the form used to compare
// Message-IDs (the daticert msgid, X-Riferimento-Message-ID, the Message-ID sent).
func NormalizeMessageID(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	return "<" + strings.TrimSpace(id) + ">"
}

// addressOf returns the address of a header value holding one address, leniently.
func addressOf(v string) (addr, name string) {
	v = strings.TrimSpace(rawmime.DecodeWords(v))
	if v == "" {
		return "", ""
	}
	if a, err := mail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address), a.Name
	}
	// Lenient: "<addr>" somewhere, else the whole value.
	if i, j := strings.LastIndex(v, "<"), strings.LastIndex(v, ">"); i >= 0 && j > i {
		return strings.ToLower(strings.TrimSpace(v[i+1 : j])), strings.Trim(strings.TrimSpace(v[:i]), `"`)
	}
	return strings.ToLower(v), ""
}

func addressList(v string) []string {
	v = strings.TrimSpace(rawmime.DecodeWords(v))
	if v == "" {
		return nil
	}
	if as, err := mail.ParseAddressList(v); err == nil {
		out := make([]string, 0, len(as))
		for _, a := range as {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if a, _ := addressOf(p); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// SafeName turns a declared file name into one safe to create in a directory: the last
// path element, without control characters or leading dots, at most 200 bytes. It
// returns "" when nothing usable is left.
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r == '\uFFFD':
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	if len(name) > 200 {
		cut := 0
		for i := range name { // rune boundaries
			if i > 200 {
				break
			}
			cut = i
		}
		name = name[:cut]
	}
	return name
}
