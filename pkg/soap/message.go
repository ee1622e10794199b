package soap

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"net/url"
	"strings"

	"snodo/pkg/xmlsafe"
)

// Message is a parsed SOAP message positioned on its body element. Decode the payload
// with [Message.Decode]; a fault body is already decoded in Fault.
type Message struct {
	Version Version
	// MTOM is true when the message came as an XOP package.
	MTOM bool
	// Body is the name of the first (and only) element of the SOAP Body.
	Body xml.Name
	// Fault is set when the body is a SOAP fault.
	Fault *Fault

	name  string
	dec   *xml.Decoder
	start xml.StartElement
	used  bool
}

// Parse reads a SOAP message: a bare envelope (text/xml, application/soap+xml) or an
// MTOM/XOP package (multipart/related). contentType is the HTTP Content-Type (empty is
// read as XML); name names the input in errors. Errors are of class [ErrMalformed].
func Parse(name, contentType string, body []byte) (*Message, error) {
	root, parts, mtom, err := unpack(name, contentType, body)
	if err != nil {
		return nil, err
	}
	if err := xmlsafe.Check(name, root, 0); err != nil {
		return nil, &inputError{name: name, msg: "busta SOAP rifiutata (SOAP envelope refused)", class: ErrMalformed, cause: err}
	}
	base := xml.NewDecoder(bytes.NewReader(root))
	var dec *xml.Decoder
	if mtom {
		dec = xml.NewTokenDecoder(&xopReader{d: base, parts: parts, name: name})
	} else {
		dec = base
	}
	m := &Message{MTOM: mtom, name: name, dec: dec}
	if err := m.open(); err != nil {
		return nil, err
	}
	return m, nil
}

// open reads up to the first element inside Body.
func (m *Message) open() error {
	env, err := m.nextStart()
	if err != nil {
		return err
	}
	switch {
	case env.Name.Local == "Envelope" && env.Name.Space == NS11:
		m.Version = V11
	case env.Name.Local == "Envelope" && env.Name.Space == NS12:
		m.Version = V12
	case env.Name.Local == "Envelope":
		return malformed(m.name, "Envelope nel namespace %q: attesi %s (SOAP 1.1) o %s (SOAP 1.2) (unknown SOAP namespace)", env.Name.Space, NS11, NS12)
	default:
		return malformed(m.name, "elemento radice <%s> invece di soap:Envelope: non è un messaggio SOAP (root element is not soap:Envelope: not a SOAP message)", env.Name.Local)
	}
	ns := m.Version.namespace()
	for {
		el, err := m.nextStart()
		if err != nil {
			return err
		}
		if el.Name.Space == ns && el.Name.Local == "Header" {
			if err := m.dec.Skip(); err != nil {
				return m.xmlErr(err)
			}
			continue
		}
		if el.Name.Space != ns || el.Name.Local != "Body" {
			return malformed(m.name, "elemento <%s> al posto di soap:Body (element in place of soap:Body)", el.Name.Local)
		}
		break
	}
	// First element of the body.
	for {
		tok, err := m.dec.Token()
		if err != nil {
			return m.xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			m.start = t.Copy()
			m.Body = t.Name
			if t.Name.Space == ns && t.Name.Local == "Fault" {
				f, err := m.decodeFault()
				if err != nil {
					return err
				}
				m.Fault = f
			}
			return nil
		case xml.EndElement:
			return malformed(m.name, "soap:Body vuoto: manca l'elemento dell'operazione (empty soap:Body: the operation element is missing)")
		case xml.CharData:
			if len(trimXMLSpace(t)) > 0 {
				return malformed(m.name, "testo fuori da un elemento in soap:Body (text outside an element in soap:Body)")
			}
		}
	}
}

func (m *Message) nextStart() (xml.StartElement, error) {
	for {
		tok, err := m.dec.Token()
		if err != nil {
			return xml.StartElement{}, m.xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Copy(), nil
		case xml.EndElement:
			return xml.StartElement{}, malformed(m.name, "busta SOAP incompleta: </%s> prima del corpo (incomplete SOAP envelope)", t.Name.Local)
		case xml.CharData:
			if len(trimXMLSpace(t)) > 0 {
				return xml.StartElement{}, malformed(m.name, "testo fuori posto nella busta SOAP (stray text in the SOAP envelope)")
			}
		}
	}
}

func (m *Message) xmlErr(err error) error {
	if errors.Is(err, io.EOF) {
		return malformed(m.name, "busta SOAP troncata: il documento finisce prima di soap:Body (truncated SOAP envelope)")
	}
	var ie *inputError
	if errors.As(err, &ie) {
		return err
	}
	return &inputError{name: m.name, msg: "XML non valido nella busta SOAP (invalid XML in the SOAP envelope)", class: ErrMalformed, cause: err}
}

// Decode unmarshals the body element into v (an encoding/xml struct) and checks that the
// envelope closes properly after it. It can be called once.
func (m *Message) Decode(v any) error {
	if m.used {
		return fmt.Errorf("soap: %s: body already decoded", m.name)
	}
	m.used = true
	if err := m.dec.DecodeElement(v, &m.start); err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			return err
		}
		return &inputError{name: m.name, msg: fmt.Sprintf("contenuto di <%s> non valido (invalid content of <%s>)", m.Body.Local, m.Body.Local), class: ErrMalformed, cause: err}
	}
	return m.close()
}

// close reads the rest of the envelope: only whitespace and the closing Body and
// Envelope tags may follow the payload.
func (m *Message) close() error {
	for {
		tok, err := m.dec.Token()
		if errors.Is(err, io.EOF) {
			return nil // the decoder reports EOF inside an open element as a syntax error
		}
		if err != nil {
			return m.xmlErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return malformed(m.name, "più di un elemento in soap:Body (<%s> after <%s>): è ammesso un solo elemento (more than one element in soap:Body)", t.Name.Local, m.Body.Local)
		case xml.CharData:
			if len(trimXMLSpace(t)) > 0 {
				return malformed(m.name, "testo dopo il corpo SOAP (text after the SOAP body)")
			}
		}
	}
}

// unpack returns the root XML of a message and, for MTOM, its attachments by Content-ID.
func unpack(name, contentType string, body []byte) (root []byte, parts map[string][]byte, mtom bool, err error) {
	if strings.TrimSpace(contentType) == "" {
		return body, nil, false, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, nil, false, malformed(name, "Content-Type %q non valido (invalid Content-Type): %v", contentType, err)
	}
	switch mt {
	case "text/xml", "application/soap+xml", "application/xml", contentTypeXOP:
		return body, nil, false, nil
	case "multipart/related":
	default:
		return nil, nil, false, malformed(name, "Content-Type %q non è SOAP: attesi text/xml, application/soap+xml o multipart/related (not a SOAP content type)", mt)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, nil, false, malformed(name, "multipart/related senza boundary (multipart/related without a boundary)")
	}
	start := normalizeCID(params["start"])
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	parts = map[string][]byte{}
	var first []byte
	haveFirst := false
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, false, &inputError{name: name, msg: "pacchetto multipart non valido (invalid multipart package)", class: ErrMalformed, cause: err}
		}
		if i >= maxParts {
			return nil, nil, false, malformed(name, "più di %d parti MIME (more than %d MIME parts)", maxParts, maxParts)
		}
		data, err := readPart(p)
		if err != nil {
			return nil, nil, false, &inputError{name: name, msg: fmt.Sprintf("parte MIME %d illeggibile (unreadable MIME part)", i+1), class: ErrMalformed, cause: err}
		}
		id := normalizeCID(p.Header.Get("Content-Id"))
		if !haveFirst {
			first, haveFirst = data, true
		}
		if id != "" {
			if _, dup := parts[id]; dup {
				return nil, nil, false, malformed(name, "Content-ID <%s> ripetuto (duplicate Content-ID)", id)
			}
			parts[id] = data
		}
	}
	if !haveFirst {
		return nil, nil, false, malformed(name, "pacchetto multipart senza parti (multipart package with no parts)")
	}
	root = first
	if start != "" {
		r, ok := parts[start]
		if !ok {
			return nil, nil, false, malformed(name, "la parte radice start=<%s> non è nel pacchetto (the start part is missing)", start)
		}
		root = r
		delete(parts, start)
	}
	return root, parts, true, nil
}

// readPart reads a MIME part, decoding base64 and quoted-printable transfer encodings.
func readPart(p *multipart.Part) ([]byte, error) {
	var r io.Reader = p
	switch strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))) {
	case "", "binary", "8bit", "7bit":
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: p})
	case "quoted-printable":
		r = quotedprintable.NewReader(p)
	default:
		return nil, fmt.Errorf("Content-Transfer-Encoding %q non supportato (unsupported)", p.Header.Get("Content-Transfer-Encoding"))
	}
	return io.ReadAll(r)
}

// base64Cleaner drops CR, LF and spaces from a base64 stream.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		k := 0
		for _, b := range p[:n] {
			if !isXMLSpace(b) {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// normalizeCID turns "<id>", "cid:id" or "id" into "id".
func normalizeCID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return strings.TrimSpace(s)
}

// cidFromHref turns an xop:Include href "cid:a%40b" (RFC 2392) into "a@b".
func cidFromHref(href string) string {
	href = strings.TrimSpace(href)
	if len(href) >= 4 && strings.EqualFold(href[:4], "cid:") {
		href = href[4:]
	}
	if u, err := url.PathUnescape(href); err == nil {
		href = u
	}
	return normalizeCID(href)
}

// mimeHeader builds a part header.
func mimeHeader(kv ...string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
