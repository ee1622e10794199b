package pafornode

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Envelope is a parsed SOAP 1.1 envelope: the first element of its Body.
type Envelope struct {
	Element   string // local name of the body element, e.g. paSendRTV2Request or Fault
	Namespace string // its namespace
	dec       *xml.Decoder
	start     xml.StartElement
	used      bool
}

// ErrEnvelope is the class of envelope errors (not SOAP, SOAP 1.2, no body...).
var ErrEnvelope = errors.New("pafornode: not a SOAP 1.1 envelope")

func envErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrEnvelope, fmt.Sprintf(format, args...))
}

// ParseEnvelope reads data up to the first element inside soap:Body. data must have
// passed xmlsafe.Check (no DTD, bounded size).
func ParseEnvelope(data []byte) (*Envelope, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth := 0
	inBody := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, envErr("corpo SOAP vuoto o troncato (empty or truncated SOAP body)")
		}
		if err != nil {
			return nil, envErr("XML non ben formato: %v (malformed XML)", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name.Local != "Envelope" {
					return nil, envErr("elemento radice %q invece di Envelope (root element is not a SOAP Envelope)", t.Name.Local)
				}
				if t.Name.Space == NSSOAP12 {
					return nil, envErr("SOAP 1.2 non supportato: il servizio usa SOAP 1.1 (SOAP 1.2 is not supported: use SOAP 1.1)")
				}
				if t.Name.Space != NSSOAP11 {
					return nil, envErr("namespace dell'Envelope %q: atteso %s (unexpected envelope namespace)", t.Name.Space, NSSOAP11)
				}
			case depth == 2 && t.Name.Local == "Body" && t.Name.Space == NSSOAP11:
				inBody = true
			case depth == 2:
				if err := d.Skip(); err != nil { // Header, or anything else
					return nil, envErr("XML non ben formato: %v (malformed XML)", err)
				}
				depth--
			case depth == 3 && inBody:
				return &Envelope{Element: t.Name.Local, Namespace: t.Name.Space, dec: d, start: t}, nil
			}
		case xml.EndElement:
			depth--
			if inBody && depth == 1 {
				return nil, envErr("soap:Body vuoto (empty soap:Body)")
			}
		}
	}
}

// Decode decodes the body element into v (once). Unknown child elements are ignored.
func (e *Envelope) Decode(v any) error {
	if e.used {
		return errors.New("pafornode: body already decoded")
	}
	e.used = true
	if err := e.dec.DecodeElement(v, &e.start); err != nil {
		return fmt.Errorf("pafornode: %s: XML non conforme: %v (malformed element)", e.Element, err)
	}
	return nil
}

// IsFault reports whether the body is a SOAP Fault.
func (e *Envelope) IsFault() bool { return e.Element == "Fault" && e.Namespace == NSSOAP11 }

// SOAPFault is a SOAP 1.1 Fault: the answer when a request cannot be understood at all.
type SOAPFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
}

func (f *SOAPFault) Error() string { return "SOAP Fault " + f.Code + ": " + f.String }

const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="` + NSSOAP11 + `" xmlns:pafn="` + NS + `"><soapenv:Body>`
const envelopeEnd = `</soapenv:Body></soapenv:Envelope>`

// Encode writes a SOAP 1.1 envelope whose body is v as the paForNode element.
func Encode(w io.Writer, element string, v any) error {
	var buf bytes.Buffer
	buf.Grow(1024)
	buf.WriteString(envelopeStart)
	enc := xml.NewEncoder(&buf)
	if err := enc.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "pafn:" + element}}); err != nil {
		return fmt.Errorf("pafornode: encode %s: %w", element, err)
	}
	if err := enc.Flush(); err != nil {
		return fmt.Errorf("pafornode: encode %s: %w", element, err)
	}
	buf.WriteString(envelopeEnd)
	_, err := w.Write(buf.Bytes())
	return err
}

// EncodeFault writes a SOAP 1.1 Fault envelope. code is "Client" or "Server".
func EncodeFault(w io.Writer, code, text string) error {
	var buf bytes.Buffer
	buf.WriteString(envelopeStart)
	buf.WriteString(`<soapenv:Fault><faultcode>soapenv:`)
	xml.EscapeText(&buf, []byte(code))
	buf.WriteString(`</faultcode><faultstring>`)
	xml.EscapeText(&buf, []byte(strings.ToValidUTF8(text, "?")))
	buf.WriteString(`</faultstring></soapenv:Fault>`)
	buf.WriteString(envelopeEnd)
	_, err := w.Write(buf.Bytes())
	return err
}
