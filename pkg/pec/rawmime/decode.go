package rawmime

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // ISO-8859-x, Windows-125x and the rest, for message.CharsetReader
)

var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	if message.CharsetReader == nil {
		return nil, fmt.Errorf("charset %q non gestito (unhandled charset)", cs)
	}
	return message.CharsetReader(strings.ToLower(cs), r)
}}

// DecodeWords decodes RFC 2047 encoded-words in a header value; on failure it returns the
// value as it is.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	out, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

// parseParams parses a Content-Type or Content-Disposition value. It falls back to a
// lenient reading of parameters the standard parser refuses (unquoted spaces, duplicate
// names), which are common in mail from real clients, and decodes RFC 2047 words inside
// parameter values (non-standard, but what many clients send for file names).
func parseParams(v string) (string, map[string]string, error) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		if err != mime.ErrInvalidMediaParameter {
			// The media type itself may be fine with broken parameters after it.
			head, _, _ := strings.Cut(v, ";")
			mt2, _, err2 := mime.ParseMediaType(head)
			if err2 != nil {
				return "", nil, err
			}
			mt = mt2
		}
		params = lenientParams(v)
	}
	for k, val := range params {
		params[k] = DecodeWords(val)
	}
	return strings.ToLower(mt), params, nil
}

func lenientParams(v string) map[string]string {
	out := map[string]string{}
	_, rest, _ := strings.Cut(v, ";")
	for rest != "" {
		var item string
		// A quoted value may hold ';'.
		item, rest = cutParam(rest)
		k, val, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = strings.ReplaceAll(val[1:len(val)-1], `\"`, `"`)
		}
		if _, dup := out[k]; !dup && k != "" {
			out[k] = val
		}
	}
	return out
}

func cutParam(s string) (item, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				return s[:i], s[i+1:]
			}
		}
	}
	return s, ""
}

// Decode undoes a Content-Transfer-Encoding. base64 is read leniently (line breaks,
// spaces and missing padding are fine; other characters are an error, since they mean
// the body is corrupt). Unknown encodings are an error naming the encoding.
func Decode(encoding string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "base64":
		return decodeBase64(body)
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return out, fmt.Errorf("quoted-printable non valido: %w (invalid quoted-printable)", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("codifica di trasferimento %q non supportata (unsupported transfer encoding)", encoding)
	}
}

func decodeBase64(body []byte) ([]byte, error) {
	clean := make([]byte, 0, len(body))
	pad := false
	for i, c := range body {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			if pad {
				return nil, fmt.Errorf("base64 non valido: dati dopo il padding al byte %d (invalid base64: data after padding)", i)
			}
			clean = append(clean, c)
		case c == '=':
			pad = true
		case c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return nil, fmt.Errorf("base64 non valido: carattere %q al byte %d (invalid base64 character)", c, i)
		}
	}
	if len(clean)%4 == 1 {
		return nil, fmt.Errorf("base64 non valido: lunghezza troncata (invalid base64: truncated)")
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("base64 non valido: %w (invalid base64)", err)
	}
	return out[:n], nil
}

// Decoded returns the body with its Content-Transfer-Encoding undone.
func (p *Part) Decoded() ([]byte, error) {
	return Decode(p.Header.Get("Content-Transfer-Encoding"), p.Body)
}

// Text returns a text part's body decoded to UTF-8 (transfer encoding and charset). An
// unknown charset gives the bytes with invalid UTF-8 replaced, and an error.
func (p *Part) Text() (string, error) {
	b, err := p.Decoded()
	if err != nil {
		return "", err
	}
	cs := strings.ToLower(p.Params["charset"])
	if cs != "" && cs != "utf-8" && cs != "us-ascii" && cs != "utf8" {
		if message.CharsetReader == nil {
			return strings.ToValidUTF8(string(b), "\uFFFD"), fmt.Errorf("charset %q non gestito (unhandled charset)", cs)
		}
		r, err := message.CharsetReader(cs, bytes.NewReader(b))
		if err != nil {
			return strings.ToValidUTF8(string(b), "\uFFFD"), fmt.Errorf("charset %q sconosciuto (unknown charset): %w", cs, err)
		}
		conv, err := io.ReadAll(r)
		if err != nil {
			return strings.ToValidUTF8(string(b), "\uFFFD"), fmt.Errorf("charset %q: %w", cs, err)
		}
		b = conv
	}
	if !utf8.Valid(b) {
		return strings.ToValidUTF8(string(b), "\uFFFD"), nil
	}
	return string(b), nil
}

// Disposition returns the Content-Disposition type in lower case ("inline",
// "attachment") or "" when absent or unreadable.
func (p *Part) Disposition() string {
	v := p.Header.Get("Content-Disposition")
	if v == "" {
		return ""
	}
	d, _, err := parseParams(v)
	if err != nil {
		return ""
	}
	return d
}

// FileName returns the file name the part declares, Content-Disposition filename first,
// then Content-Type name, with RFC 2231 and RFC 2047 encodings decoded. It is the name as
// declared: sanitise it before using it as a path.
func (p *Part) FileName() string {
	if v := p.Header.Get("Content-Disposition"); v != "" {
		if _, params, err := parseParams(v); err == nil && params["filename"] != "" {
			return params["filename"]
		}
	}
	return p.Params["name"]
}

// Walk calls fn for p and every part below it in depth-first order. It does not enter
// enclosed messages (message/rfc822): those are one part of their parent, reachable
// through Part.Message.
func (p *Part) Walk(fn func(*Part) error) error {
	if err := fn(p); err != nil {
		return err
	}
	for _, c := range p.Parts {
		if err := c.Walk(fn); err != nil {
			return err
		}
	}
	return nil
}
