// Package xmlsafe is the gate every XML document passes before a parser sees it.
//
// It refuses what no message of the SdI, the pagoPA Node or an ente ever needs and what
// attackers use: a document type declaration (and with it every entity trick: XXE,
// billion laughs, external DTD fetches) and documents beyond a size cap. The check reads
// only the prolog, so it costs nothing next to parsing; the parsers behind it (encoding/xml,
// etree, libxml2 with XML_PARSE_NONET) then never meet a DTD.
package xmlsafe

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Error says why a document was refused, in Italian first, then English, naming the
// input and what to do.
type Error struct {
	Name   string // the input: a file name or a description such as "corpo SOAP"
	Reason string
	Err    error // the class: ErrDoctype, ErrTooLarge, ErrEmpty, ErrNotXML
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Name, e.Reason) }
func (e *Error) Unwrap() error { return e.Err }

// Classes of refusal, for errors.Is.
var (
	ErrDoctype  = errors.New("document type declaration refused")
	ErrTooLarge = errors.New("document too large")
	ErrEmpty    = errors.New("empty document")
	ErrNotXML   = errors.New("not an XML document")
)

// Check refuses data whose size exceeds max (when max > 0), that is empty, that does not
// start like XML, or whose prolog holds a <!DOCTYPE (and so any <!ENTITY). name names the
// input in the error.
func Check(name string, data []byte, max int64) error {
	if max > 0 && int64(len(data)) > max {
		return &Error{Name: name, Err: ErrTooLarge, Reason: fmt.Sprintf(
			"documento di %d byte oltre il limite di %d: ridurre il file (document of %d bytes exceeds the %d-byte limit)",
			len(data), max, len(data), max)}
	}
	rest := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	rest = trimSpace(rest)
	if len(rest) == 0 {
		return &Error{Name: name, Err: ErrEmpty, Reason: "documento vuoto (empty document)"}
	}
	if len(rest) >= 2 && (rest[0] == 0xfe && rest[1] == 0xff || rest[0] == 0xff && rest[1] == 0xfe) {
		return &Error{Name: name, Err: ErrNotXML, Reason: "codifica UTF-16 non accettata: salvare il file in UTF-8 (UTF-16 is not accepted: save the file as UTF-8)"}
	}
	for {
		rest = trimSpace(rest)
		if len(rest) == 0 {
			return &Error{Name: name, Err: ErrNotXML, Reason: "manca l'elemento radice (no root element)"}
		}
		if rest[0] != '<' {
			return &Error{Name: name, Err: ErrNotXML, Reason: fmt.Sprintf(
				"non è XML: inizia con %q (not XML: it starts with %q)", head(rest), head(rest))}
		}
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return &Error{Name: name, Err: ErrNotXML, Reason: "istruzione di elaborazione non chiusa (unterminated processing instruction)"}
			}
			rest = rest[end+2:]
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return &Error{Name: name, Err: ErrNotXML, Reason: "commento non chiuso (unterminated comment)"}
			}
			rest = rest[4+end+3:]
		case hasPrefixFold(rest, "<!DOCTYPE"), bytes.HasPrefix(rest, []byte("<!")):
			return &Error{Name: name, Err: ErrDoctype, Reason: "dichiarazione DOCTYPE/ENTITY non ammessa: rimuoverla dal documento " +
				"(a DOCTYPE or ENTITY declaration is not allowed: remove it)"}
		default:
			return nil // the root element starts: no DTD can follow.
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	return b
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

func head(b []byte) string {
	n := 0
	for i := range b {
		if i >= 16 {
			break
		}
		n = i + 1
	}
	s := b[:n]
	for !utf8.Valid(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return string(s)
}

// ErrDeclaration classes a malformed XML declaration.
var ErrDeclaration = errors.New("malformed XML declaration")

// Declaration checks the XML declaration at the start of data, when there is one, as
// the XML 1.0 grammar and libxml2 do (encoding/xml does not look inside it):
//
//	'<?xml' S 'version' Eq ('"1.x"' | "'1.x'") [S 'encoding' Eq name] [S 'standalone' Eq ('yes'|'no')] S? '?>'
//
// Readers that must refuse what the schema validators refuse call it after Check.
func Declaration(name string, data []byte) error {
	d := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !bytes.HasPrefix(d, []byte("<?xml")) || len(d) > 5 && !isSpace(d[5]) && !bytes.HasPrefix(d[5:], []byte("?>")) {
		return nil // no declaration (a PI whose target only starts with "xml" is another matter)
	}
	end := bytes.Index(d, []byte("?>"))
	if end < 0 {
		return declErr(name, "dichiarazione XML non chiusa (unterminated XML declaration)")
	}
	rest := d[5:end]
	order := []string{"version", "encoding", "standalone"}
	seen := 0
	for {
		trimmed := trimSpace(rest)
		if len(trimmed) == 0 {
			break
		}
		if len(trimmed) == len(rest) {
			return declErr(name, "manca uno spazio fra gli attributi della dichiarazione XML (missing space in the XML declaration)")
		}
		rest = trimmed
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 {
			return declErr(name, "attributo della dichiarazione XML senza valore (attribute without value)")
		}
		key := string(bytes.TrimRight(rest[:eq], " \t\r\n"))
		val := trimSpace(rest[eq+1:])
		if len(val) < 2 || val[0] != '"' && val[0] != '\'' {
			return declErr(name, fmt.Sprintf("valore di %q non tra virgolette (unquoted value)", key))
		}
		q := bytes.IndexByte(val[1:], val[0])
		if q < 0 {
			return declErr(name, fmt.Sprintf("valore di %q non chiuso (unterminated value)", key))
		}
		v := string(val[1 : 1+q])
		i := seen
		for i < len(order) && order[i] != key {
			i++
		}
		if i == len(order) || seen == 0 && key != "version" {
			return declErr(name, fmt.Sprintf("attributo %q non ammesso nella dichiarazione XML o fuori ordine (version, encoding, standalone)", key))
		}
		if !validDeclValue(key, v) {
			return declErr(name, fmt.Sprintf("valore %q non valido per %s (invalid value)", v, key))
		}
		seen = i + 1
		rest = val[1+q+1:]
	}
	if seen == 0 {
		return declErr(name, "la dichiarazione XML richiede version (version is required)")
	}
	return nil
}

func validDeclValue(key, v string) bool {
	switch key {
	case "version":
		if len(v) < 3 || v[:2] != "1." {
			return false
		}
		for _, c := range v[2:] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	case "encoding":
		for i, c := range v {
			letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
			if i == 0 && !letter || i > 0 && !letter && !(c >= '0' && c <= '9') && c != '.' && c != '_' && c != '-' {
				return false
			}
		}
		return v != ""
	case "standalone":
		return v == "yes" || v == "no"
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func declErr(name, reason string) error {
	return &Error{Name: name, Err: ErrDeclaration, Reason: reason}
}
