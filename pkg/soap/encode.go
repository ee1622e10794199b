package soap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"mime/multipart"
	"reflect"
	"strings"
)

// Marshal builds a SOAP message of version v whose body holds payload (an encoding/xml
// struct with an XMLName field, or nil for an empty body). With mtom, every [Binary]
// field travels as an XOP attachment in a multipart/related package; without attachments
// the result is a plain envelope either way. It returns the HTTP Content-Type and body.
func Marshal(v Version, payload any, mtom bool) (contentType string, body []byte, err error) {
	var env bytes.Buffer
	env.WriteString(xml.Header[:len(xml.Header)-1])
	env.WriteString(`<soap:Envelope xmlns:soap="`)
	env.WriteString(v.namespace())
	env.WriteString(`"><soap:Body>`)
	var col *xopCollector
	if payload != nil {
		start, err := payloadStart(payload)
		if err != nil {
			return "", nil, err
		}
		enc := xml.NewEncoder(&env)
		if mtom {
			col = &xopCollector{prefix: randomToken()}
			xopCollectors.Store(enc, col)
		}
		err = enc.EncodeElement(payload, start)
		if mtom {
			xopCollectors.Delete(enc)
		}
		if err == nil {
			err = enc.Close()
		}
		if err != nil {
			return "", nil, fmt.Errorf("soap: marshal <%s>: %w", start.Name.Local, err)
		}
	}
	env.WriteString(`</soap:Body></soap:Envelope>`)
	if col == nil || len(col.parts) == 0 {
		return v.contentType(), env.Bytes(), nil
	}
	return packXOP(v, env.Bytes(), col.parts)
}

// payloadStart names the root element after the payload's XMLName (its value if set,
// else its tag), with a prefix so that unqualified children stay in no namespace.
func payloadStart(payload any) (xml.StartElement, error) {
	rv := reflect.ValueOf(payload)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return xml.StartElement{}, fmt.Errorf("soap: nil payload %T", payload)
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return xml.StartElement{}, fmt.Errorf("soap: payload %T is not a struct", payload)
	}
	f, ok := rv.Type().FieldByName("XMLName")
	if !ok || f.Type != reflect.TypeOf(xml.Name{}) {
		return xml.StartElement{}, fmt.Errorf("soap: payload %T has no XMLName field", payload)
	}
	name := rv.FieldByIndex(f.Index).Interface().(xml.Name)
	if name.Local == "" {
		tag := strings.Split(f.Tag.Get("xml"), ",")[0]
		if i := strings.LastIndexByte(tag, ' '); i >= 0 {
			name = xml.Name{Space: tag[:i], Local: tag[i+1:]}
		} else {
			name = xml.Name{Local: tag}
		}
	}
	if name.Local == "" {
		return xml.StartElement{}, fmt.Errorf("soap: payload %T: XMLName has no element name", payload)
	}
	if name.Space == "" {
		return xml.StartElement{Name: xml.Name{Local: name.Local}}, nil
	}
	return xml.StartElement{
		Name: xml.Name{Local: "m:" + name.Local},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:m"}, Value: name.Space}},
	}, nil
}

// packXOP wraps an envelope and its attachments in a multipart/related XOP package.
func packXOP(v Version, env []byte, parts []attachment) (string, []byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	boundary := "MIMEBoundary_" + randomToken()
	if err := mw.SetBoundary(boundary); err != nil {
		return "", nil, err
	}
	inner := "text/xml"
	if v == V12 {
		inner = "application/soap+xml"
	}
	rootID := "root." + randomToken() + "@snodo"
	w, err := mw.CreatePart(mimeHeader(
		"Content-Type", contentTypeXOP+`; charset=UTF-8; type="`+inner+`"`,
		"Content-Transfer-Encoding", "binary",
		"Content-ID", "<"+rootID+">",
	))
	if err != nil {
		return "", nil, err
	}
	w.Write(env)
	for _, p := range parts {
		w, err := mw.CreatePart(mimeHeader(
			"Content-Type", "application/octet-stream",
			"Content-Transfer-Encoding", "binary",
			"Content-ID", "<"+p.id+">",
		))
		if err != nil {
			return "", nil, err
		}
		w.Write(p.data)
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	ct := `multipart/related; boundary="` + boundary + `"; type="` + contentTypeXOP + `"; start="<` + rootID + `>"; start-info="` + inner + `"`
	return ct, b.Bytes(), nil
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
