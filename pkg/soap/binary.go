package soap

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Binary is the value of an xsd:base64Binary element. On the wire it is either inline
// base64 text or, in an MTOM package, an xop:Include pointing at a MIME part; reading
// accepts both, writing follows the encoder (see [Marshal]).
type Binary []byte

// xopMarker is the target of the ProcInst token the XOP reader puts in place of an
// xop:Include; its Inst holds the attachment bytes. The XML parser never yields a
// target with a space, so a document cannot forge it.
const xopMarker = "snodo xop"

// xopCollectors maps an *xml.Encoder writing an MTOM package to the collector of its
// attachments. encoding/xml gives MarshalXML no other way to reach per-call state; an
// entry lives only for the duration of one Marshal call.
var xopCollectors sync.Map // *xml.Encoder -> *xopCollector

type xopCollector struct {
	prefix string
	parts  []attachment
}

type attachment struct {
	id   string // Content-ID without angle brackets
	data []byte
}

var attachmentSeq atomic.Uint64

func (c *xopCollector) add(data []byte) string {
	id := c.prefix + "." + strconv.FormatUint(attachmentSeq.Add(1), 10) + "@snodo"
	c.parts = append(c.parts, attachment{id: id, data: data})
	return id
}

// MarshalXML writes b as base64 text, or as an xop:Include when the encoder is writing
// an MTOM package.
func (b Binary) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if c, ok := xopCollectors.Load(e); ok {
		id := c.(*xopCollector).add(b)
		inc := xml.StartElement{
			Name: xml.Name{Space: NSXOP, Local: "Include"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "href"}, Value: "cid:" + id}},
		}
		if err := e.EncodeToken(inc); err != nil {
			return err
		}
		if err := e.EncodeToken(inc.End()); err != nil {
			return err
		}
	} else if len(b) > 0 {
		enc := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
		base64.StdEncoding.Encode(enc, b)
		if err := e.EncodeToken(xml.CharData(enc)); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML reads base64 text (whitespace allowed) or a resolved xop:Include.
func (b *Binary) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var text []byte
	var att []byte
	haveAtt := false
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("elemento %s: %w", start.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.ProcInst:
			if t.Target == xopMarker {
				if haveAtt {
					return fmt.Errorf("elemento %s: più di un xop:Include (more than one xop:Include)", start.Name.Local)
				}
				att, haveAtt = t.Inst, true
			}
		case xml.StartElement:
			if t.Name.Space == NSXOP && t.Name.Local == "Include" {
				return fmt.Errorf("elemento %s: xop:Include fuori da un pacchetto MTOM (xop:Include outside an MTOM package)", start.Name.Local)
			}
			return fmt.Errorf("elemento %s: elemento figlio <%s> inatteso in un campo base64 (unexpected child element in a base64 field)", start.Name.Local, t.Name.Local)
		case xml.EndElement:
			if haveAtt {
				if len(trimXMLSpace(text)) > 0 {
					return fmt.Errorf("elemento %s: testo e xop:Include insieme (both text and xop:Include)", start.Name.Local)
				}
				*b = att
				return nil
			}
			data, err := decodeBase64(text)
			if err != nil {
				return fmt.Errorf("elemento %s: base64 non valido (invalid base64): %w", start.Name.Local, err)
			}
			*b = data
			return nil
		}
	}
}

// decodeBase64 decodes standard base64, ignoring XML whitespace and tolerating missing
// padding. It reuses text's storage.
func decodeBase64(text []byte) ([]byte, error) {
	n := 0
	for _, c := range text {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			text[n] = c
			n++
		}
	}
	text = text[:n]
	enc := base64.StdEncoding
	if n%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out := make([]byte, enc.DecodedLen(n))
	m, err := enc.Decode(out, text)
	if err != nil {
		return nil, err
	}
	return out[:m], nil
}

func trimXMLSpace(b []byte) []byte {
	for len(b) > 0 && isXMLSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isXMLSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// xopReader is an xml.TokenReader that replaces each xop:Include with a ProcInst token
// carrying the attachment it names, for [Binary.UnmarshalXML].
type xopReader struct {
	d     *xml.Decoder
	parts map[string][]byte
	name  string
}

func (r *xopReader) Token() (xml.Token, error) {
	tok, err := r.d.Token()
	if err != nil {
		return tok, err
	}
	se, ok := tok.(xml.StartElement)
	if !ok || se.Name.Space != NSXOP || se.Name.Local != "Include" {
		return tok, nil
	}
	href := ""
	for _, a := range se.Attr {
		if a.Name.Local == "href" && a.Name.Space == "" {
			href = a.Value
		}
	}
	id := cidFromHref(href)
	data, found := r.parts[id]
	if !found {
		return nil, malformed(r.name, "xop:Include href=%q non corrisponde a nessuna parte MIME: controllare i Content-ID (refers to no MIME part: check the Content-IDs)", href)
	}
	// Skip the Include's content (it is empty, or holds extension elements).
	if err := r.d.Skip(); err != nil {
		return nil, err
	}
	return xml.ProcInst{Target: xopMarker, Inst: data}, nil
}
