// Package rawmime splits an Internet message into its tree of MIME parts while keeping,
// for every part, the exact bytes it occupies in the input.
//
// Exact bytes matter for PEC: the provider's S/MIME signature covers the first part of a
// multipart/signed byte for byte (CRLF included), so a parser that re-serialises the
// part cannot verify it. go-message exposes decoded bodies, not raw spans, and does not
// descend into message/rfc822; this package does both, and bounds the work: the caller
// sets the maximum nesting depth and number of parts, so a nested-multipart bomb is
// refused with a named error instead of exhausting memory.
//
// The parser is tolerant the way real PEC traffic needs: LF or CRLF line endings (even
// mixed), a missing closing boundary, an mbox "From " line, header lines without a
// colon. Each tolerance is recorded as a defect on the part, never silently.
package rawmime

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
)

// Defaults for Limits fields left at zero.
const (
	DefaultMaxDepth = 20
	DefaultMaxParts = 1000
)

// Limits bound the work of Parse. Zero fields take the defaults above.
type Limits struct {
	MaxDepth int // nesting of multiparts and enclosed messages below the root
	MaxParts int // parts in the whole tree, enclosed messages included
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = DefaultMaxParts
	}
	return l
}

// Classes of refusal, for errors.Is.
var (
	ErrTooDeep      = errors.New("MIME nesting too deep")
	ErrTooManyParts = errors.New("too many MIME parts")
	ErrEmpty        = errors.New("empty message")
)

// Error says why a message was refused, naming the part (IMAP-style section path, ""
// for the root).
type Error struct {
	Path   string
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return fmt.Sprintf("parte %s: %s", e.Path, e.Reason)
}
func (e *Error) Unwrap() error { return e.Err }

// Part is one MIME entity. Raw, HeaderRaw and Body are sub-slices of the parsed input
// (or of the decoded body of an enclosing message/rfc822 that was transfer-encoded):
// do not modify them.
type Part struct {
	Header    message.Header
	Raw       []byte // header, blank line and body exactly as in the input
	HeaderRaw []byte // the header block as in the input, without the blank line
	Body      []byte // the body as in the input, still transfer-encoded

	MediaType string            // lower case; "text/plain" when the header has none (RFC 2045)
	Params    map[string]string // Content-Type parameters (keys lower case)

	Parts   []*Part // children of a multipart, in order
	Message *Part   // the enclosed message of a message/rfc822 part
	Path    string  // section path as in IMAP: "" for the root, "1", "1.2", ...
	Depth   int

	// Defects lists what was tolerated in this part (not its children), in Italian
	// then English.
	Defects []string
}

// IsMultipart reports whether the part is a multipart/* container.
func (p *Part) IsMultipart() bool { return strings.HasPrefix(p.MediaType, "multipart/") }

// Parse splits data into its MIME tree. It fails only when data is empty or the tree
// exceeds lim; malformed but readable structure is kept and listed in Defects.
func Parse(data []byte, lim Limits) (*Part, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Err: ErrEmpty, Reason: "messaggio vuoto (empty message)"}
	}
	p := &parser{lim: lim.withDefaults()}
	var defects []string
	// An mbox separator line ("From sender date") is not a header: skip it.
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
			defects = append(defects, "riga mbox \"From \" iniziale ignorata (leading mbox From line skipped)")
		}
	}
	root, err := p.parse(data, "", 0)
	if err != nil {
		return nil, err
	}
	root.Defects = append(defects, root.Defects...)
	return root, nil
}

type parser struct {
	lim   Limits
	count int
}

func (p *parser) parse(raw []byte, path string, depth int) (*Part, error) {
	p.count++
	if p.count > p.lim.MaxParts {
		return nil, &Error{Path: path, Err: ErrTooManyParts, Reason: fmt.Sprintf(
			"più di %d parti MIME: messaggio rifiutato (more than %d MIME parts: message refused)",
			p.lim.MaxParts, p.lim.MaxParts)}
	}
	if depth > p.lim.MaxDepth {
		return nil, &Error{Path: path, Err: ErrTooDeep, Reason: fmt.Sprintf(
			"annidamento MIME oltre %d livelli: messaggio rifiutato (MIME nesting deeper than %d levels: message refused)",
			p.lim.MaxDepth, p.lim.MaxDepth)}
	}
	part := &Part{Raw: raw, Path: path, Depth: depth}
	hdrEnd, bodyStart := splitHeader(raw)
	part.HeaderRaw = raw[:hdrEnd]
	part.Body = raw[bodyStart:]
	part.Header, part.Defects = parseHeader(part.HeaderRaw)

	part.MediaType, part.Params = "text/plain", map[string]string{}
	if ct := part.Header.Get("Content-Type"); ct != "" {
		mt, params, err := parseParams(ct)
		if err != nil {
			part.Defects = append(part.Defects, fmt.Sprintf(
				"Content-Type non leggibile %q: trattato come dati (unreadable Content-Type: treated as data)", clip(ct)))
			part.MediaType = "application/octet-stream"
		} else {
			part.MediaType, part.Params = mt, params
		}
	}

	switch {
	case part.IsMultipart():
		boundary := part.Params["boundary"]
		if boundary == "" {
			part.Defects = append(part.Defects, "multipart senza boundary: trattato come dati (multipart without boundary: treated as data)")
			return part, nil
		}
		bodies, defects := splitMultipart(part.Body, boundary)
		part.Defects = append(part.Defects, defects...)
		for i, b := range bodies {
			child, err := p.parse(b, joinPath(path, i+1), depth+1)
			if err != nil {
				return nil, err
			}
			part.Parts = append(part.Parts, child)
		}
	case part.MediaType == "message/rfc822" || part.MediaType == "message/global":
		body := part.Body
		if enc := strings.ToLower(strings.TrimSpace(part.Header.Get("Content-Transfer-Encoding"))); enc == "base64" || enc == "quoted-printable" {
			dec, err := Decode(enc, body)
			if err != nil {
				part.Defects = append(part.Defects, fmt.Sprintf("messaggio allegato non decodificabile (%s): %v (enclosed message cannot be decoded)", enc, err))
				return part, nil
			}
			body = dec
		}
		if len(bytes.TrimSpace(body)) == 0 {
			part.Defects = append(part.Defects, "messaggio allegato vuoto (empty enclosed message)")
			return part, nil
		}
		// As in IMAP, an enclosed message answers to its part's path and its parts
		// continue it ("2" holds the message whose first part is "2.1").
		msg, err := p.parse(body, path, depth+1)
		if err != nil {
			return nil, err
		}
		part.Message = msg
	}
	return part, nil
}

func joinPath(path string, n int) string {
	if path == "" {
		return strconv.Itoa(n)
	}
	return path + "." + strconv.Itoa(n)
}

// splitHeader finds the blank line that ends the header. hdrEnd is the end of the
// header block (its last line ending included), bodyStart the first byte after the blank
// line. With no blank line the whole input is header.
func splitHeader(raw []byte) (hdrEnd, bodyStart int) {
	pos := 0
	for pos < len(raw) {
		if raw[pos] == '\n' {
			return pos, pos + 1
		}
		if raw[pos] == '\r' && pos+1 < len(raw) && raw[pos+1] == '\n' {
			return pos, pos + 2
		}
		i := bytes.IndexByte(raw[pos:], '\n')
		if i < 0 {
			return len(raw), len(raw)
		}
		pos += i + 1
	}
	return len(raw), len(raw)
}

// parseHeader reads header fields leniently: a line that is neither a field nor a
// continuation is skipped and recorded as a defect. A field and its continuation lines
// are contiguous in the block, so each field is one span of it (no copying, whatever
// the number of continuation lines).
func parseHeader(block []byte) (message.Header, []string) {
	type span struct{ start, end int }
	var fields []span
	var defects []string
	pos := 0
	for pos < len(block) {
		end := bytes.IndexByte(block[pos:], '\n')
		next := len(block)
		if end >= 0 {
			next = pos + end + 1
		}
		line := block[pos:next]
		switch {
		case line[0] == ' ' || line[0] == '\t':
			if len(fields) == 0 {
				defects = append(defects, "riga di continuazione senza campo: ignorata (continuation line without a field: skipped)")
			} else if fields[len(fields)-1].end == pos {
				fields[len(fields)-1].end = next
			}
		default:
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 || !validKey(bytes.TrimRight(line[:colon], " \t")) {
				if len(defects) < 20 {
					defects = append(defects, fmt.Sprintf("riga di intestazione non valida ignorata: %q (invalid header line skipped)", clip(string(bytes.TrimSpace(line)))))
				}
			} else {
				fields = append(fields, span{pos, next})
			}
		}
		pos = next
	}
	var h message.Header
	// textproto keeps fields last-first (Get returns the first in the input): add them in
	// reverse so the header behaves like one read by textproto.ReadHeader.
	for i := len(fields) - 1; i >= 0; i-- {
		kv := block[fields[i].start:fields[i].end:fields[i].end]
		if !bytes.HasSuffix(kv, []byte("\n")) {
			kv = append(kv, '\r', '\n') // capped slice: this copies
		}
		h.AddRaw(kv)
	}
	return h, defects
}

func validKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

// splitMultipart returns the bodies between the delimiter lines of boundary (RFC 2046
// §5.1.1): the line ending before a delimiter belongs to the delimiter, so each body is
// exactly the bytes a signature over that part covers.
func splitMultipart(body []byte, boundary string) ([][]byte, []string) {
	delim := []byte("--" + boundary)
	var parts [][]byte
	var defects []string
	start := -1 // start of the current part's content
	pos := 0
	for {
		at := indexDelimiter(body, pos, delim)
		if at < 0 {
			break
		}
		after := at + len(delim)
		closing := bytes.HasPrefix(body[after:], []byte("--"))
		if closing {
			after += 2
		}
		// The rest of the delimiter line must be transport padding.
		lineEnd := bytes.IndexByte(body[after:], '\n')
		var next int
		if lineEnd < 0 {
			if len(bytes.Trim(body[after:], " \t\r")) != 0 {
				pos = after
				continue
			}
			next = len(body)
		} else {
			if len(bytes.Trim(body[after:after+lineEnd], " \t\r")) != 0 {
				pos = after
				continue
			}
			next = after + lineEnd + 1
		}
		if start >= 0 {
			parts = append(parts, trimEOL(body[start:at]))
		}
		if closing {
			return parts, defects
		}
		start = next
		pos = next
	}
	if start < 0 {
		defects = append(defects, "multipart senza alcuna parte (multipart without any part)")
		return nil, defects
	}
	parts = append(parts, body[start:])
	defects = append(defects, "multipart senza boundary di chiusura (multipart without closing boundary)")
	return parts, defects
}

// indexDelimiter finds delim at the start of a line of b, at or after from.
func indexDelimiter(b []byte, from int, delim []byte) int {
	for {
		i := bytes.Index(b[from:], delim)
		if i < 0 {
			return -1
		}
		at := from + i
		if at == 0 || b[at-1] == '\n' {
			return at
		}
		from = at + 1
	}
}

func trimEOL(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		return b[:len(b)-1]
	}
	return b
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
