package soap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Fault codes, as SOAP 1.1 names them (SOAP 1.2 Sender and Receiver map to Client and
// Server).
const (
	CodeClient          = "Client"          // the request is wrong: do not retry it as is
	CodeServer          = "Server"          // the service failed: retry later
	CodeMustUnderstand  = "MustUnderstand"  // a mandatory header was not understood
	CodeVersionMismatch = "VersionMismatch" // unknown envelope namespace
)

// Fault is a SOAP fault: what a server answers when an operation fails, and the error
// [Client.Call] returns when it receives one.
type Fault struct {
	Code   string // CodeClient, CodeServer, ... (the local part of faultcode / Code/Value)
	String string // faultstring / Reason/Text: the human-readable reason
	Actor  string // faultactor / Role, rarely set
	Detail string // text content of detail / Detail, if any
	// HTTPStatus is the status the fault came with (client side only).
	HTTPStatus int
}

func (f *Fault) Error() string {
	s := "soap fault " + f.Code + ": " + f.String
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	return s
}

// ClientFault is a fault blaming the request (soap:Client / soap:Sender).
func ClientFault(format string, args ...any) *Fault {
	return &Fault{Code: CodeClient, String: fmt.Sprintf(format, args...)}
}

// ServerFault is a fault blaming the service (soap:Server / soap:Receiver): the caller
// should retry.
func ServerFault(format string, args ...any) *Fault {
	return &Fault{Code: CodeServer, String: fmt.Sprintf(format, args...)}
}

// textContent collects the text of an element and its descendants, whitespace collapsed.
type textContent string

func (t *textContent) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var b strings.Builder
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case xml.CharData:
			if b.Len() < 4096 {
				b.Write(v)
			}
		case xml.StartElement:
			depth++
			b.WriteByte(' ')
		case xml.EndElement:
			if depth == 0 {
				*t = textContent(strings.Join(strings.Fields(b.String()), " "))
				return nil
			}
			depth--
		}
	}
}

type fault11 struct {
	Code   textContent `xml:"faultcode"`
	String textContent `xml:"faultstring"`
	Actor  textContent `xml:"faultactor"`
	Detail textContent `xml:"detail"`
}

type fault12 struct {
	Code struct {
		Value textContent `xml:"Value"`
	} `xml:"Code"`
	Reason struct {
		Text []textContent `xml:"Text"`
	} `xml:"Reason"`
	Role   textContent `xml:"Role"`
	Detail textContent `xml:"Detail"`
}

// decodeFault reads the Fault element the message is positioned on.
func (m *Message) decodeFault() (*Fault, error) {
	m.used = true
	f := &Fault{}
	if m.Version == V12 {
		var v fault12
		if err := m.dec.DecodeElement(&v, &m.start); err != nil {
			return nil, m.xmlErr(err)
		}
		f.Code = localPart(string(v.Code.Value))
		switch f.Code {
		case "Sender":
			f.Code = CodeClient
		case "Receiver":
			f.Code = CodeServer
		}
		if len(v.Reason.Text) > 0 {
			f.String = string(v.Reason.Text[0])
		}
		f.Actor, f.Detail = string(v.Role), string(v.Detail)
	} else {
		var v fault11
		if err := m.dec.DecodeElement(&v, &m.start); err != nil {
			return nil, m.xmlErr(err)
		}
		f.Code = localPart(string(v.Code))
		f.String, f.Actor, f.Detail = string(v.String), string(v.Actor), string(v.Detail)
	}
	return f, nil
}

func localPart(qname string) string {
	if i := strings.LastIndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// marshalFault writes f as a complete SOAP message of version v.
func marshalFault(v Version, f *Fault) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header[:len(xml.Header)-1])
	b.WriteString(`<soap:Envelope xmlns:soap="`)
	b.WriteString(v.namespace())
	b.WriteString(`"><soap:Body><soap:Fault>`)
	code := f.Code
	if code == "" {
		code = CodeServer
	}
	if v == V12 {
		switch code {
		case CodeClient:
			code = "Sender"
		case CodeServer:
			code = "Receiver"
		}
		b.WriteString(`<soap:Code><soap:Value>soap:`)
		xml.EscapeText(&b, []byte(code))
		b.WriteString(`</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="it">`)
		xml.EscapeText(&b, []byte(f.String))
		b.WriteString(`</soap:Text></soap:Reason>`)
		if f.Detail != "" {
			b.WriteString(`<soap:Detail><detail>`)
			xml.EscapeText(&b, []byte(f.Detail))
			b.WriteString(`</detail></soap:Detail>`)
		}
	} else {
		b.WriteString(`<faultcode>soap:`)
		xml.EscapeText(&b, []byte(code))
		b.WriteString(`</faultcode><faultstring xml:lang="it">`)
		xml.EscapeText(&b, []byte(f.String))
		b.WriteString(`</faultstring>`)
		if f.Actor != "" {
			b.WriteString(`<faultactor>`)
			xml.EscapeText(&b, []byte(f.Actor))
			b.WriteString(`</faultactor>`)
		}
		if f.Detail != "" {
			b.WriteString(`<detail><message>`)
			xml.EscapeText(&b, []byte(f.Detail))
			b.WriteString(`</message></detail>`)
		}
	}
	b.WriteString(`</soap:Fault></soap:Body></soap:Envelope>`)
	return b.Bytes()
}
