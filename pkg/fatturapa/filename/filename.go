// Package filename applies the SdI naming rules to invoice, archive and message files,
// and builds names for the files the hub sends.
//
// Invoice and archive files (Specifiche tecniche SdI §2.2, quoted in sdi-facts.md §10):
//
//	<IdPaese><IdCodice>_<progressivo>.<ext>
//
// IdPaese is the transmitter's ISO 3166-1 alpha-2 country code; IdCodice its identifier
// (11 to 16 letters or digits for IT, a partita IVA or a codice fiscale; 2 to 28 for other
// countries); progressivo 1 to 5 letters or digits; ext .xml (unsigned or XAdES),
// .xml.p7m (CAdES) or .zip (archive). Message files append _<TT>_<nnn> to the invoice
// file name without its extension, TT being RC NS MC NE MT EC SE DT AT and nnn 3 letters
// or digits; AT travels as a .zip holding the AT .xml. Names are at most 50 characters
// (NomeFile in the SdI web services: [a-zA-Z0-9_.]{9,50}).
//
// A name that breaks a rule yields an *Error (SdI code 00001) saying which part is wrong.
// The extension is matched case-insensitively, as regional intermediaries that have
// talked to the SdI for years do; the names we build are always lower case.
package filename

import (
	"fmt"
	"strings"
)

// Code is the SdI code of every error of this package: "Nome file non valido".
const Code = "00001"

// MaxLen is the longest file name the SdI accepts.
const MaxLen = 50

// Extensions of the files the SdI exchanges.
const (
	ExtXML = ".xml"     // unsigned or XAdES-signed invoice, or message
	ExtP7M = ".xml.p7m" // CAdES-signed invoice
	ExtZIP = ".zip"     // archive of invoice files, or AT message
)

// Error says why a name breaks the SdI rules, in Italian first, then English.
type Error struct {
	Name   string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Name, e.Reason) }

// Code returns the SdI code, 00001.
func (e *Error) Code() string { return Code }

// Invoice is the parsed name of an invoice or archive file.
type Invoice struct {
	IdPaese     string // "IT"
	IdCodice    string // "01234567890"
	Progressivo string // "00001"
	Ext         string // ExtXML, ExtP7M or ExtZIP, lower case
}

// Base is the name without extension: "IT01234567890_00001".
func (n Invoice) Base() string { return n.IdPaese + n.IdCodice + "_" + n.Progressivo }

// String is the name in canonical form (lower-case extension).
func (n Invoice) String() string { return n.Base() + n.Ext }

// IsArchive reports whether the name is that of an archive (.zip) file.
func (n Invoice) IsArchive() bool { return n.Ext == ExtZIP }

// MessageTypes are the two-letter message types of the SdI.
var MessageTypes = []string{"RC", "NS", "MC", "NE", "MT", "EC", "SE", "DT", "AT"}

// Message is the parsed name of an SdI message file.
type Message struct {
	Invoice Invoice // the invoice file it refers to (Ext is "")
	Tipo    string  // RC, NS, MC, NE, MT, EC, SE, DT, AT
	Numero  string  // the 3-character progressive of the message
	Ext     string  // ExtXML, or ExtZIP for AT
}

// String is the name in canonical form.
func (m Message) String() string { return m.Invoice.Base() + "_" + m.Tipo + "_" + m.Numero + m.Ext }

// ParseInvoice checks an invoice or archive file name.
func ParseInvoice(name string) (Invoice, error) {
	if err := common(name); err != nil {
		return Invoice{}, err
	}
	base, ext, ok := splitExt(name, ExtP7M, ExtXML, ExtZIP)
	if !ok {
		return Invoice{}, &Error{Name: name, Reason: "estensione non ammessa: usare .xml, .xml.p7m o .zip " +
			"(extension not allowed: use .xml, .xml.p7m or .zip)"}
	}
	inv, err := parseBase(name, base)
	if err != nil {
		return Invoice{}, err
	}
	inv.Ext = ext
	return inv, nil
}

// ParseMessage checks a message file name.
func ParseMessage(name string) (Message, error) {
	if err := common(name); err != nil {
		return Message{}, err
	}
	base, ext, ok := splitExt(name, ExtXML, ExtZIP)
	if !ok {
		return Message{}, &Error{Name: name, Reason: "estensione non ammessa per un messaggio: usare .xml (.zip solo per AT) " +
			"(extension not allowed for a message: use .xml, or .zip for AT)"}
	}
	// base = <IdPaese><IdCodice>_<progressivo>_<TT>_<nnn>
	parts := strings.Split(base, "_")
	if len(parts) != 4 {
		return Message{}, &Error{Name: name, Reason: "il nome deve avere la forma <IdPaese><IdCodice>_<progressivo>_<tipo>_<nnn>" +
			ext + " (a message name is <country><id>_<progressive>_<type>_<nnn>" + ext + ")"}
	}
	inv, err := parseBase(name, parts[0]+"_"+parts[1])
	if err != nil {
		return Message{}, err
	}
	tipo, num := parts[2], parts[3]
	if !isMessageType(tipo) {
		return Message{}, &Error{Name: name, Reason: fmt.Sprintf("tipo messaggio %q sconosciuto: ammessi %s (unknown message type %q)",
			tipo, strings.Join(MessageTypes, " "), tipo)}
	}
	if len(num) != 3 || !alnum(num) {
		return Message{}, &Error{Name: name, Reason: fmt.Sprintf("progressivo del messaggio %q non valido: servono 3 lettere o cifre "+
			"(message progressive %q must be 3 letters or digits)", num, num)}
	}
	if ext == ExtZIP && tipo != "AT" {
		return Message{}, &Error{Name: name, Reason: "solo l'attestazione AT viaggia come .zip: usare .xml " +
			"(only the AT message is a .zip: use .xml)"}
	}
	return Message{Invoice: inv, Tipo: tipo, Numero: num, Ext: ext}, nil
}

// IsMessage reports whether name has the shape of a message file name (four parts, a
// known type), whether or not every part is valid: it tells the two kinds apart
// before the strict parse.
func IsMessage(name string) bool {
	base, _, ok := splitExt(name, ExtXML, ExtZIP)
	if !ok {
		return false
	}
	parts := strings.Split(base, "_")
	return len(parts) == 4 && isMessageType(parts[2])
}

// common applies the rules every name shares: length and character set.
func common(name string) error {
	if name == "" {
		return &Error{Name: `""`, Reason: "nome file vuoto (empty file name)"}
	}
	if len(name) > MaxLen {
		return &Error{Name: quote(name), Reason: fmt.Sprintf("nome di %d caratteri oltre il massimo di %d (name of %d characters exceeds %d)",
			len(name), MaxLen, len(name), MaxLen)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isAlnum(c) || c == '_' || c == '.') {
			return &Error{Name: quote(name), Reason: fmt.Sprintf(
				"carattere %q non ammesso in posizione %d: sono ammessi solo lettere, cifre, '_' e '.' "+
					"(character %q at position %d not allowed: only letters, digits, '_' and '.')", rune(c), i+1, rune(c), i+1)}
		}
	}
	return nil
}

// quote shows a hostile name safely in a message.
func quote(name string) string {
	for i := 0; i < len(name); i++ {
		if !(isAlnum(name[i]) || name[i] == '_' || name[i] == '.' || name[i] == '-') {
			return fmt.Sprintf("%q", name)
		}
	}
	return name
}

func splitExt(name string, exts ...string) (base, ext string, ok bool) {
	lower := strings.ToLower(name)
	for _, e := range exts {
		if strings.HasSuffix(lower, e) && len(name) > len(e) {
			return name[:len(name)-len(e)], e, true
		}
	}
	return "", "", false
}

// parseBase checks <IdPaese><IdCodice>_<progressivo>.
func parseBase(name, base string) (Invoice, error) {
	id, prog, found := strings.Cut(base, "_")
	if !found {
		return Invoice{}, &Error{Name: name, Reason: "manca il separatore '_' tra identificativo del trasmittente e progressivo " +
			"(missing '_' between the transmitter id and the progressive)"}
	}
	if strings.Contains(prog, "_") {
		return Invoice{}, &Error{Name: name, Reason: "un solo '_' ammesso nel nome di una fattura (only one '_' in an invoice file name)"}
	}
	if strings.Contains(base, ".") {
		return Invoice{}, &Error{Name: name, Reason: "'.' ammesso solo prima dell'estensione ('.' only before the extension)"}
	}
	if len(id) < 2 || !isUpper(id[0]) || !isUpper(id[1]) {
		return Invoice{}, &Error{Name: name, Reason: "il nome deve iniziare con il codice paese ISO del trasmittente in maiuscolo, es. IT " +
			"(the name must start with the transmitter's ISO country code in capitals, e.g. IT)"}
	}
	paese, codice := id[:2], id[2:]
	if !isCountry(paese) {
		return Invoice{}, &Error{Name: name, Reason: fmt.Sprintf("codice paese %q non è un codice ISO 3166-1 (country code %q is not ISO 3166-1)", paese, paese)}
	}
	minLen, maxLen := 2, 28
	if paese == "IT" {
		minLen, maxLen = 11, 16
	}
	if len(codice) < minLen || len(codice) > maxLen {
		return Invoice{}, &Error{Name: name, Reason: fmt.Sprintf(
			"identificativo del trasmittente %q di %d caratteri: per %s ne servono da %d a %d "+
				"(transmitter id %q has %d characters: %s needs %d to %d)",
			codice, len(codice), paese, minLen, maxLen, codice, len(codice), paese, minLen, maxLen)}
	}
	if !alnum(codice) {
		return Invoice{}, &Error{Name: name, Reason: fmt.Sprintf("identificativo del trasmittente %q: solo lettere e cifre (transmitter id: letters and digits only)", codice)}
	}
	if len(prog) < 1 || len(prog) > 5 || !alnum(prog) {
		return Invoice{}, &Error{Name: name, Reason: fmt.Sprintf(
			"progressivo %q non valido: da 1 a 5 lettere o cifre (progressive %q must be 1 to 5 letters or digits)", prog, prog)}
	}
	return Invoice{IdPaese: paese, IdCodice: codice, Progressivo: prog}, nil
}

func isMessageType(t string) bool {
	for _, m := range MessageTypes {
		if t == m {
			return true
		}
	}
	return false
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return s != ""
}

// InvoiceName builds the name of an invoice or archive file the hub sends:
// InvoiceName("IT", "01234567890", "0000A", ExtXML) = "IT01234567890_0000A.xml". It
// checks the result against the same rules ParseInvoice applies.
func InvoiceName(idPaese, idCodice, progressivo, ext string) (string, error) {
	name := idPaese + idCodice + "_" + progressivo + strings.ToLower(ext)
	inv, err := ParseInvoice(name)
	if err != nil {
		return "", err
	}
	return inv.String(), nil
}

// MessageName builds the name of a message about invoiceFile (an invoice file name,
// with or without extension): MessageName("IT01234567890_11111.xml.p7m", "EC", 1) =
// "IT01234567890_11111_EC_001.xml". n runs from 0 to 999 in decimal; the SdI allows
// letters too, which we never need.
func MessageName(invoiceFile, tipo string, n int) (string, error) {
	base := invoiceFile
	if b, _, ok := splitExt(invoiceFile, ExtP7M, ExtXML, ExtZIP); ok {
		base = b
	}
	if n < 0 || n > 999 {
		return "", &Error{Name: invoiceFile, Reason: fmt.Sprintf("numero di messaggio %d fuori da 0..999 (message number out of range)", n)}
	}
	ext := ExtXML
	if tipo == "AT" {
		ext = ExtZIP
	}
	name := fmt.Sprintf("%s_%s_%03d%s", base, tipo, n, ext)
	m, err := ParseMessage(name)
	if err != nil {
		return "", err
	}
	return m.String(), nil
}
