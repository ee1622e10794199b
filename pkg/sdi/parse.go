package sdi

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"snodo/pkg/xmlsafe"
)

// Limits of the message parser.
const (
	// MaxMessageBytes bounds a message XML (an NS with 200 errors and suggestions, plus
	// its signature, stays far below).
	MaxMessageBytes = 2 << 20
	// MaxFileBytes is the SdI's limit for a file on SDICoop (5 MB; the SdI does not say
	// 10^6 or 2^20, so the larger is accepted).
	MaxFileBytes  = 5 << 20
	maxZipEntries = 8
)

// Messaggio is any of the message types: *RicevutaConsegna, *NotificaScarto,
// *NotificaMancataConsegna, *NotificaEsito, *MetadatiInvioFile,
// *NotificaEsitoCommittente, *ScartoEsitoCommittente, *NotificaDecorrenzaTermini,
// *AttestazioneTrasmissioneFattura.
type Messaggio interface {
	Tipo() Tipo
	// Identificativo is the IdentificativoSdI of the file the message is about.
	Identificativo() IdentificativoSdI
	// FileFattura is the name of the invoice file the message is about ("" for EC and
	// SE, which carry none).
	FileFattura() string
	hdr() *Header
}

func (h *Header) hdr() *Header { return h }

func (*RicevutaConsegna) Tipo() Tipo                { return RC }
func (*NotificaScarto) Tipo() Tipo                  { return NS }
func (*NotificaMancataConsegna) Tipo() Tipo         { return MC }
func (*NotificaEsito) Tipo() Tipo                   { return NE }
func (*MetadatiInvioFile) Tipo() Tipo               { return MT }
func (*NotificaEsitoCommittente) Tipo() Tipo        { return EC }
func (*ScartoEsitoCommittente) Tipo() Tipo          { return SE }
func (*NotificaDecorrenzaTermini) Tipo() Tipo       { return DT }
func (*AttestazioneTrasmissioneFattura) Tipo() Tipo { return AT }

func (m *RicevutaConsegna) Identificativo() IdentificativoSdI        { return m.IdentificativoSdI }
func (m *NotificaScarto) Identificativo() IdentificativoSdI          { return m.IdentificativoSdI }
func (m *NotificaMancataConsegna) Identificativo() IdentificativoSdI { return m.IdentificativoSdI }
func (m *NotificaEsito) Identificativo() IdentificativoSdI           { return m.IdentificativoSdI }
func (m *MetadatiInvioFile) Identificativo() IdentificativoSdI       { return m.IdentificativoSdI }
func (m *NotificaEsitoCommittente) Identificativo() IdentificativoSdI {
	return m.IdentificativoSdI
}
func (m *ScartoEsitoCommittente) Identificativo() IdentificativoSdI    { return m.IdentificativoSdI }
func (m *NotificaDecorrenzaTermini) Identificativo() IdentificativoSdI { return m.IdentificativoSdI }
func (m *AttestazioneTrasmissioneFattura) Identificativo() IdentificativoSdI {
	return m.IdentificativoSdI
}

func (m *RicevutaConsegna) FileFattura() string                { return m.NomeFile }
func (m *NotificaScarto) FileFattura() string                  { return m.NomeFile }
func (m *NotificaMancataConsegna) FileFattura() string         { return m.NomeFile }
func (m *NotificaEsito) FileFattura() string                   { return m.NomeFile }
func (m *MetadatiInvioFile) FileFattura() string               { return m.NomeFile }
func (m *NotificaEsitoCommittente) FileFattura() string        { return "" }
func (m *ScartoEsitoCommittente) FileFattura() string          { return "" }
func (m *NotificaDecorrenzaTermini) FileFattura() string       { return m.NomeFile }
func (m *AttestazioneTrasmissioneFattura) FileFattura() string { return m.NomeFile }

// Errori lists the errors of a rejection for a person: "00100 Certificato di firma
// scaduto; 00200 ...".
func (m *NotificaScarto) Errori() string {
	parts := make([]string, 0, len(m.ListaErrori.Errore))
	for _, e := range m.ListaErrori.Errore {
		s := e.Codice + " " + e.Descrizione
		if e.Suggerimento != "" {
			s += " (" + e.Suggerimento + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Message is a parsed SdI message file.
type Message struct {
	Tipo Tipo
	// B2B is true for the B2B schema (MessaggiFatturaTypes).
	B2B bool
	// Signed says the message carries a ds:Signature (not verified here).
	Signed bool
	// NomeFile is the name of the message file as received, if known.
	NomeFile string
	// Raw is the message XML as received (inside the zip for an AT): signatures are
	// verified on these bytes.
	Raw []byte
	// Body is the typed content: type-switch on it.
	Body Messaggio

	// For an AT received as a zip: the original invoice file it holds, and whether its
	// sha256 equals HashFileOriginale.
	NomeFileOriginale string
	FileOriginale     []byte
	HashOriginaleOK   bool
}

// ParseError says why a message file could not be read, naming it.
type ParseError struct {
	Name   string
	Reason string // Italian, then English
	Err    error
}

func (e *ParseError) Error() string {
	s := e.Name + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

var nameTipo = regexp.MustCompile(`(?i)_(RC|NS|MC|NE|MT|EC|SE|DT|AT)_[A-Za-z0-9]{3}\.(xml|zip)$`)

// TipoFromName detects the message type from a file name ending in _TT_nnn.xml (or .zip
// for AT).
func TipoFromName(name string) (Tipo, bool) {
	m := nameTipo.FindStringSubmatch(path.Base(strings.ReplaceAll(name, "\\", "/")))
	if m == nil {
		return "", false
	}
	return Tipo(strings.ToUpper(m[1])), true
}

// Parse reads a message file: any SdI message XML (PA or B2B schema, detected by its
// root element), or an AT zip holding the AT message and the original file. name is the
// file name (may be empty); when it follows the _TT_nnn rule, the content must agree.
func Parse(name string, data []byte) (*Message, error) {
	label := name
	if label == "" {
		label = "messaggio SdI"
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")) {
		return parseZip(label, name, data)
	}
	m, err := parseXML(label, data)
	if err != nil {
		return nil, err
	}
	m.NomeFile = name
	if t, ok := TipoFromName(name); ok && t != m.Tipo {
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf(
			"il nome indica un messaggio %s ma il contenuto è %s: controllare il file (the name says %s, the content is %s)", t, m.Tipo, t, m.Tipo)}
	}
	return m, nil
}

func parseXML(label string, data []byte) (*Message, error) {
	if err := xmlsafe.Check(label, data, MaxMessageBytes); err != nil {
		return nil, &ParseError{Name: label, Reason: "messaggio rifiutato (message refused)", Err: err}
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = charsetReader
	var root xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, &ParseError{Name: label, Reason: "XML non valido (invalid XML)", Err: err}
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	b2b := false
	switch root.Name.Space {
	case NSMessaggi, NSMessaggiSenzaGov:
	case NSMessaggiB2B:
		b2b = true
	default:
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf(
			"elemento radice <%s> nel namespace %q: non è un messaggio SdI (root element is not an SdI message)", root.Name.Local, root.Name.Space)}
	}
	var body Messaggio
	for _, t := range Tipi {
		names := rootElements[t]
		if !b2b && names[0] == root.Name.Local || b2b && names[1] != "" && names[1] == root.Name.Local {
			body = newBody(t)
			break
		}
	}
	if body == nil {
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf(
			"elemento radice <%s> sconosciuto: non è un messaggio SdI (unknown root element)", root.Name.Local)}
	}
	if err := d.DecodeElement(body, &root); err != nil {
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf("%s non leggibile (unreadable %s)", root.Name.Local, root.Name.Local), Err: err}
	}
	body.hdr().B2B = b2b
	if body.Identificativo() == "" {
		return nil, &ParseError{Name: label, Reason: "IdentificativoSdI mancante (IdentificativoSdI missing)"}
	}
	return &Message{Tipo: body.Tipo(), B2B: b2b, Signed: signed(body), Raw: data, Body: body}, nil
}

func newBody(t Tipo) Messaggio {
	switch t {
	case RC:
		return &RicevutaConsegna{}
	case NS:
		return &NotificaScarto{}
	case MC:
		return &NotificaMancataConsegna{}
	case NE:
		return &NotificaEsito{}
	case MT:
		return &MetadatiInvioFile{}
	case EC:
		return &NotificaEsitoCommittente{}
	case SE:
		return &ScartoEsitoCommittente{}
	case DT:
		return &NotificaDecorrenzaTermini{}
	case AT:
		return &AttestazioneTrasmissioneFattura{}
	}
	return nil
}

func signed(m Messaggio) bool {
	switch v := m.(type) {
	case *RicevutaConsegna:
		return bool(v.Signature)
	case *NotificaScarto:
		return bool(v.Signature)
	case *NotificaMancataConsegna:
		return bool(v.Signature)
	case *NotificaEsito:
		return bool(v.Signature)
	case *NotificaEsitoCommittente:
		return bool(v.Signature)
	case *ScartoEsitoCommittente:
		return bool(v.Signature)
	case *NotificaDecorrenzaTermini:
		return bool(v.Signature)
	case *AttestazioneTrasmissioneFattura:
		return bool(v.Signature)
	}
	return false
}

// charsetReader accepts ISO-8859-1 besides UTF-8 (the only other encoding seen on
// messages written by hand); others are refused with a clear error.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		data, err := io.ReadAll(io.LimitReader(input, MaxMessageBytes+1))
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(data)+len(data)/8)
		for _, c := range data {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("codifica %q non supportata: usare UTF-8 (unsupported encoding)", charset)
}

// parseZip reads an AT zip: the AT message and the original file.
func parseZip(label, name string, data []byte) (*Message, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &ParseError{Name: label, Reason: "archivio zip non valido (invalid zip archive)", Err: err}
	}
	if len(zr.File) == 0 || len(zr.File) > maxZipEntries {
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf(
			"l'archivio ha %d file: attesi il messaggio AT e il file originale (the archive has %d files: expected the AT message and the original file)", len(zr.File), len(zr.File))}
	}
	var at *Message
	var others []*zip.File
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		entry := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
		if at == nil {
			if t, ok := TipoFromName(entry); ok && t == AT {
				raw, err := readZipEntry(label, f, MaxMessageBytes)
				if err != nil {
					return nil, err
				}
				m, err := parseXML(label+"/"+entry, raw)
				if err != nil {
					return nil, err
				}
				if m.Tipo != AT {
					return nil, &ParseError{Name: label + "/" + entry, Reason: fmt.Sprintf("atteso un messaggio AT, trovato %s (expected an AT message)", m.Tipo)}
				}
				m.NomeFile = entry
				at = m
				continue
			}
		}
		others = append(others, f)
	}
	if at == nil {
		return nil, &ParseError{Name: label, Reason: "nessun messaggio _AT_nnn.xml nell'archivio (no AT message in the archive)"}
	}
	if len(others) > 1 {
		return nil, &ParseError{Name: label, Reason: fmt.Sprintf("l'archivio contiene %d file oltre all'AT: atteso solo il file originale (more than one file besides the AT)", len(others))}
	}
	if len(others) == 1 {
		f := others[0]
		orig, err := readZipEntry(label, f, MaxFileBytes)
		if err != nil {
			return nil, err
		}
		at.NomeFileOriginale = path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
		at.FileOriginale = orig
		sum := sha256.Sum256(orig)
		at.HashOriginaleOK = strings.EqualFold(hex.EncodeToString(sum[:]), strings.TrimSpace(at.Body.(*AttestazioneTrasmissioneFattura).HashFileOriginale))
	}
	if name != "" {
		at.NomeFile = name
	}
	return at, nil
}

func readZipEntry(label string, f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, &ParseError{Name: label + "/" + f.Name, Reason: fmt.Sprintf("file di %d byte oltre il limite di %d (file too large)", f.UncompressedSize64, max)}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, &ParseError{Name: label + "/" + f.Name, Reason: "voce dello zip illeggibile (unreadable zip entry)", Err: err}
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, &ParseError{Name: label + "/" + f.Name, Reason: "voce dello zip illeggibile (unreadable zip entry)", Err: err}
	}
	if int64(len(data)) > max {
		return nil, &ParseError{Name: label + "/" + f.Name, Reason: fmt.Sprintf("file oltre il limite di %d byte (file too large)", max)}
	}
	return data, nil
}
