// Package xmltree parses a small, DTD-free XML document (a FatturaPA invoice, an SdI
// message) into a light tree of elements that remember the line they start on, so a
// check can point an operator at the element it rejects.
//
// It is a strict, non-validating parser written for speed: the whole document is read
// once, element and text values share the input's memory when no entity has to be
// decoded, and siblings are linked rather than collected in slices. What it accepts is
// well-formed XML 1.0 without a document type declaration: elements, attributes,
// character and entity references (the five predefined ones and numeric ones), CDATA
// sections, comments and processing instructions. Anything else is a *SyntaxError
// naming the input, the line and the fault; it never panics and never reads outside
// the input. Namespace prefixes are kept as written and ignored when matching names:
// FatturaPA qualifies only its root element, and senders differ in the prefix they
// choose.
//
// Callers pass documents through snodo/pkg/xmlsafe.Check first; Parse refuses a DTD
// again by itself.
package xmltree

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds element nesting. FatturaPA nests about ten levels; anything deeper
// is hostile or not an invoice.
const MaxDepth = 256

// Attr is one attribute as written.
type Attr struct {
	Prefix string // "xmlns" for a namespace declaration, "" when unprefixed
	Name   string // local name
	Value  string // decoded value
}

// Node is one element.
type Node struct {
	Prefix string // namespace prefix as written, "" when none
	Name   string // local name
	Attrs  []Attr
	Line   int // line of the element's start tag, counting from 1

	Parent, FirstChild, LastChild, NextSibling, PrevSibling *Node

	text string // character data directly inside the element, decoded
}

// Document is a parsed document.
type Document struct {
	Name     string // the input's name, as given to Parse
	Root     *Node
	Encoding string // as declared, "" when not declared (UTF-8)
}

// SyntaxError says why a document is not well-formed XML.
type SyntaxError struct {
	Name string // the input
	Line int
	Msg  string // Italian first, then English in parentheses
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s: riga %d: %s", e.Name, e.Line, e.Msg)
}

// Text is the element's own character data with leading and trailing XML white space
// removed (the value an XSD token or decimal sees).
func (n *Node) Text() string {
	if n == nil {
		return ""
	}
	return strings.Trim(n.text, " \t\r\n")
}

// RawText is the element's own character data, entities decoded and line ends
// normalised; white space between child elements (indentation) is left out.
func (n *Node) RawText() string {
	if n == nil {
		return ""
	}
	return n.text
}

// Attr returns the value of the attribute with the given local name.
func (n *Node) Attr(name string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attrs {
		if a.Name == name && a.Prefix != "xmlns" {
			return a.Value, true
		}
	}
	return "", false
}

// Namespace resolves the element's prefix against the declarations in scope.
func (n *Node) Namespace() string {
	for m := n; m != nil; m = m.Parent {
		for _, a := range m.Attrs {
			if n.Prefix == "" && a.Prefix == "" && a.Name == "xmlns" {
				return a.Value
			}
			if n.Prefix != "" && a.Prefix == "xmlns" && a.Name == n.Prefix {
				return a.Value
			}
		}
	}
	return ""
}

// Child is the first child element with the given local name, or nil.
func (n *Node) Child(name string) *Node {
	if n == nil {
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Children yields the child elements with the given local name; "*" yields all.
func (n *Node) Children(name string) iter.Seq[*Node] {
	return func(yield func(*Node) bool) {
		if n == nil {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if (name == "*" || c.Name == name) && !yield(c) {
				return
			}
		}
	}
}

// Find follows a path of child names separated by "/" ("DatiGenerali/DatiGeneraliDocumento")
// and returns the first match, or nil.
func (n *Node) Find(path string) *Node {
	for n != nil && path != "" {
		step, rest, _ := strings.Cut(path, "/")
		n, path = n.Child(step), rest
	}
	return n
}

// FindAll returns every element reached by the path, in document order.
func (n *Node) FindAll(path string) []*Node {
	if n == nil {
		return nil
	}
	nodes := []*Node{n}
	for path != "" {
		step, rest, _ := strings.Cut(path, "/")
		var next []*Node
		for _, m := range nodes {
			for c := range m.Children(step) {
				next = append(next, c)
			}
		}
		nodes, path = next, rest
	}
	return nodes
}

// Value is the Text of Find(path), "" when absent.
func (n *Node) Value(path string) string { return n.Find(path).Text() }

// Has reports whether Find(path) exists.
func (n *Node) Has(path string) bool { return n.Find(path) != nil }

// Index is the element's 1-based position among its siblings of the same name.
func (n *Node) Index() int {
	i := 1
	for s := n.PrevSibling; s != nil; s = s.PrevSibling {
		if s.Name == n.Name {
			i++
		}
	}
	return i
}

// repeated reports whether the element has a sibling of the same name.
func (n *Node) repeated() bool {
	for s := n.PrevSibling; s != nil; s = s.PrevSibling {
		if s.Name == n.Name {
			return true
		}
	}
	for s := n.NextSibling; s != nil; s = s.NextSibling {
		if s.Name == n.Name {
			return true
		}
	}
	return false
}

// Path is the element's absolute location, with local names and a 1-based [n] where
// the element has siblings of the same name:
// "/FatturaElettronica/FatturaElettronicaBody[2]/DatiBeniServizi/DettaglioLinee[3]".
func (n *Node) Path() string {
	if n == nil {
		return ""
	}
	var parts []string
	for m := n; m != nil; m = m.Parent {
		p := m.Name
		if m.repeated() {
			p += "[" + strconv.Itoa(m.Index()) + "]"
		}
		parts = append(parts, p)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// Parse reads data (named name in errors) into a Document.
func Parse(name string, data []byte) (*Document, error) {
	s, enc, err := decodeInput(name, data)
	if err != nil {
		return nil, err
	}
	p := &parser{name: name, s: s, line: 1}
	// one slab for every element: at most one per '<' that does not start an end tag
	if n := strings.Count(s, "<") - strings.Count(s, "</"); n > 0 {
		p.nodes = make([]Node, 0, n)
	}
	doc := &Document{Name: name, Encoding: enc}
	doc.Root, err = p.document()
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// decodeInput turns the bytes into a UTF-8 string, honouring a Latin-1 or Windows-1252
// declaration, and refuses bytes XML 1.0 forbids.
func decodeInput(name string, data []byte) (string, string, error) {
	data = trimBOM(data)
	enc := declaredEncoding(data)
	switch strings.ToLower(enc) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	case "iso-8859-1", "latin1", "iso_8859-1", "latin-1":
		data = latin1ToUTF8(data, false)
	case "windows-1252", "cp1252":
		data = latin1ToUTF8(data, true)
	default:
		return "", enc, &SyntaxError{Name: name, Line: 1, Msg: fmt.Sprintf(
			"codifica %q non supportata: salvare il file in UTF-8 (encoding %q not supported: save the file as UTF-8)", enc, enc)}
	}
	if i := controlChar(data); i >= 0 {
		b := data[i]
		return "", enc, &SyntaxError{Name: name, Line: 1 + bytes.Count(data[:i], []byte("\n")), Msg: fmt.Sprintf(
			"carattere di controllo 0x%02X non ammesso in XML: rimuoverlo (control character 0x%02X is not allowed in XML)", b, b)}
	}
	s := string(data)
	if !utf8.ValidString(s) {
		bad := 0
		for i, r := range s {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
					bad = i
					break
				}
			}
		}
		return "", enc, &SyntaxError{Name: name, Line: 1 + strings.Count(s[:bad], "\n"), Msg: "byte non UTF-8: salvare il file in UTF-8 " +
			"o dichiarare la codifica usata (invalid UTF-8: save the file as UTF-8 or declare its encoding)"}
	}
	return s, enc, nil
}

// controlChar returns the index of the first byte below 0x20 other than tab, line
// feed and carriage return, or -1. It tests eight bytes at a time and looks closer only
// at words holding a byte below 0x20.
func controlChar(b []byte) int {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if (w-lo)&^w&hi == 0 {
			continue // no byte below 0x20 (bytes >= 0x80 never set the flag)
		}
		for j := i; j < i+8; j++ {
			if c := b[j]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return j
			}
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return -1
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}

// declaredEncoding reads encoding="..." from a leading XML declaration.
func declaredEncoding(b []byte) string {
	if len(b) < 6 || string(b[:6]) != "<?xml " {
		return ""
	}
	end := indexOf(b, "?>")
	if end < 0 {
		return ""
	}
	decl := string(b[:end])
	i := strings.Index(decl, "encoding")
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if !strings.HasPrefix(rest, "=") {
		return ""
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	if rest == "" || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	j := strings.IndexByte(rest[1:], q)
	if j < 0 {
		return ""
	}
	return rest[1 : 1+j]
}

func indexOf(b []byte, sep string) int { return bytes.Index(b, []byte(sep)) }

// cp1252 maps bytes 0x80..0x9F of Windows-1252 to runes (0 where undefined: kept as
// the C1 control of Latin-1).
var cp1252 = [32]rune{
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
}

func latin1ToUTF8(b []byte, windows bool) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for _, c := range b {
		r := rune(c)
		if windows && c >= 0x80 && c <= 0x9f && cp1252[c-0x80] != 0 {
			r = cp1252[c-0x80]
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

type parser struct {
	name string
	s    string
	pos  int
	// line bookkeeping: the line of lineOff is line.
	line    int
	lineOff int
	depth   int
	nodes   []Node // slab the nodes are carved from
}

func (p *parser) lineAt(off int) int {
	if off < p.lineOff { // never happens in a forward scan; keep it correct anyway
		return 1 + strings.Count(p.s[:off], "\n")
	}
	p.line += strings.Count(p.s[p.lineOff:off], "\n")
	p.lineOff = off
	return p.line
}

func (p *parser) errAt(off int, format string, args ...any) error {
	if off > len(p.s) {
		off = len(p.s)
	}
	return &SyntaxError{Name: p.name, Line: 1 + strings.Count(p.s[:off], "\n"), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) newNode() *Node {
	if len(p.nodes) == cap(p.nodes) {
		p.nodes = make([]Node, 0, 128)
	}
	p.nodes = p.nodes[:len(p.nodes)+1]
	return &p.nodes[len(p.nodes)-1]
}

// class marks bytes: space (XML white space) and stop (ends a name).
var class = func() (t [256]uint8) {
	for _, c := range " \t\r\n" {
		t[c] |= space | stop
	}
	for _, c := range "></=<\"'&" {
		t[c] |= stop
	}
	return t
}()

const (
	space = 1 << iota
	stop
)

func isSpace(c byte) bool { return class[c]&space != 0 }

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// misc skips comments, processing instructions and white space outside the root
// element. It stops at the first other markup or text.
func (p *parser) misc(allowDecl bool) error {
	for {
		p.skipSpace()
		rest := p.s[p.pos:]
		switch {
		case strings.HasPrefix(rest, "<?"):
			end := strings.Index(rest[2:], "?>")
			if end < 0 {
				return p.errAt(p.pos, "istruzione di elaborazione non chiusa (unterminated processing instruction)")
			}
			end += 2
			target := rest[2:end]
			if i := strings.IndexAny(target, " \t\r\n"); i >= 0 {
				target = target[:i]
			}
			if strings.EqualFold(target, "xml") && (!allowDecl || p.pos != 0) {
				return p.errAt(p.pos, "dichiarazione XML fuori posto: deve essere all'inizio del file (misplaced XML declaration)")
			}
			allowDecl = false
			p.pos += end + 2
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return p.errAt(p.pos, "commento non chiuso (unterminated comment)")
			}
			p.pos += 4 + end + 3
			allowDecl = false
		case strings.HasPrefix(rest, "<!"):
			return p.errAt(p.pos, "dichiarazione DOCTYPE/ENTITY non ammessa: rimuoverla (a DOCTYPE or ENTITY declaration is not allowed: remove it)")
		default:
			return nil
		}
	}
}

func (p *parser) document() (*Node, error) {
	if err := p.misc(true); err != nil {
		return nil, err
	}
	if p.pos >= len(p.s) {
		return nil, p.errAt(p.pos, "manca l'elemento radice (no root element)")
	}
	if p.s[p.pos] != '<' {
		return nil, p.errAt(p.pos, "testo prima dell'elemento radice (text before the root element)")
	}
	root, err := p.content()
	if err != nil {
		return nil, err
	}
	if err := p.misc(false); err != nil {
		return nil, err
	}
	if p.pos < len(p.s) {
		return nil, p.errAt(p.pos, "contenuto dopo la chiusura dell'elemento radice (content after the root element)")
	}
	return root, nil
}

// content parses the root element and everything inside it, iteratively.
func (p *parser) content() (*Node, error) {
	var root, cur *Node
	for {
		if cur != nil {
			// character data up to the next markup
			lt := strings.IndexByte(p.s[p.pos:], '<')
			if lt < 0 {
				return nil, p.errAt(len(p.s), "elemento <%s> non chiuso: il file è troncato? (element <%s> not closed: truncated file?)", cur.qname(), cur.qname())
			}
			if lt > 0 {
				if err := p.appendText(cur, p.pos, p.pos+lt); err != nil {
					return nil, err
				}
				p.pos += lt
			}
		}
		rest := p.s[p.pos:]
		switch {
		case strings.HasPrefix(rest, "</"):
			if cur == nil {
				return nil, p.errAt(p.pos, "tag di chiusura senza apertura (end tag without start tag)")
			}
			start := p.pos
			p.pos += 2
			if n := p.closes(cur); n > 0 { // the expected end tag, compared in place
				p.pos += n
				p.depth--
				cur = cur.Parent
				if cur == nil {
					return root, nil
				}
				continue
			}
			prefix, local, ok := p.qname()
			if !ok {
				return nil, p.errAt(start, "nome mancante nel tag di chiusura (missing name in end tag)")
			}
			p.skipSpace()
			if p.pos >= len(p.s) || p.s[p.pos] != '>' {
				return nil, p.errAt(start, "tag di chiusura </%s> non terminato da '>' (end tag not closed)", join(prefix, local))
			}
			p.pos++
			if prefix != cur.Prefix || local != cur.Name {
				return nil, p.errAt(start, "tag di chiusura </%s> non corrisponde a <%s> aperto alla riga %d (end tag does not match the start tag)",
					join(prefix, local), cur.qname(), cur.Line)
			}
			p.depth--
			cur = cur.Parent
			if cur == nil {
				return root, nil
			}
		case strings.HasPrefix(rest, "<!--"):
			if cur == nil {
				return nil, p.errAt(p.pos, "commento al posto dell'elemento radice (comment where the root element was expected)")
			}
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return nil, p.errAt(p.pos, "commento non chiuso (unterminated comment)")
			}
			p.pos += 4 + end + 3
		case strings.HasPrefix(rest, "<![CDATA["):
			if cur == nil {
				return nil, p.errAt(p.pos, "sezione CDATA fuori dall'elemento radice (CDATA outside the root element)")
			}
			end := strings.Index(rest[9:], "]]>")
			if end < 0 {
				return nil, p.errAt(p.pos, "sezione CDATA non chiusa (unterminated CDATA section)")
			}
			cur.text += rest[9 : 9+end]
			p.pos += 9 + end + 3
		case strings.HasPrefix(rest, "<!"):
			return nil, p.errAt(p.pos, "dichiarazione DOCTYPE/ENTITY non ammessa: rimuoverla (a DOCTYPE or ENTITY declaration is not allowed: remove it)")
		case strings.HasPrefix(rest, "<?"):
			if cur == nil {
				return nil, p.errAt(p.pos, "istruzione di elaborazione al posto dell'elemento radice (processing instruction where the root element was expected)")
			}
			end := strings.Index(rest[2:], "?>")
			if end < 0 {
				return nil, p.errAt(p.pos, "istruzione di elaborazione non chiusa (unterminated processing instruction)")
			}
			p.pos += 2 + end + 2
		default: // start tag
			n, selfClosing, err := p.startTag()
			if err != nil {
				return nil, err
			}
			if cur == nil {
				root = n
			} else {
				n.Parent = cur
				if cur.LastChild == nil {
					cur.FirstChild = n
				} else {
					cur.LastChild.NextSibling = n
					n.PrevSibling = cur.LastChild
				}
				cur.LastChild = n
			}
			if selfClosing {
				if cur == nil {
					return root, nil
				}
				continue
			}
			p.depth++
			if p.depth > MaxDepth {
				return nil, p.errAt(p.pos, "annidamento oltre %d livelli (nesting deeper than %d levels)", MaxDepth, MaxDepth)
			}
			cur = n
		}
	}
}

func (n *Node) qname() string { return join(n.Prefix, n.Name) }

// closes reports how many bytes from p.pos make the end tag of n (its name, optional
// white space, '>'), or 0 when they do not.
func (p *parser) closes(n *Node) int {
	rest := p.s[p.pos:]
	i := 0
	if n.Prefix != "" {
		if !strings.HasPrefix(rest, n.Prefix) || len(rest) <= len(n.Prefix) || rest[len(n.Prefix)] != ':' {
			return 0
		}
		i = len(n.Prefix) + 1
	}
	if !strings.HasPrefix(rest[i:], n.Name) {
		return 0
	}
	i += len(n.Name)
	for i < len(rest) && isSpace(rest[i]) {
		i++
	}
	if i >= len(rest) || rest[i] != '>' {
		return 0
	}
	return i + 1
}

func join(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// nameEnd reports whether c ends a name.
func nameEnd(c byte) bool { return class[c]&stop != 0 }

// qname reads prefix:local at p.pos.
func (p *parser) qname() (prefix, local string, ok bool) {
	start := p.pos
	colon := -1
	for p.pos < len(p.s) && !nameEnd(p.s[p.pos]) {
		if p.s[p.pos] == ':' && colon < 0 {
			colon = p.pos
		}
		p.pos++
	}
	name := p.s[start:p.pos]
	if name == "" || !validNameStart(name) {
		return "", "", false
	}
	if colon < 0 {
		return "", name, true
	}
	prefix, local = p.s[start:colon], p.s[colon+1:p.pos]
	if prefix == "" || local == "" || strings.IndexByte(local, ':') >= 0 || !validNameStart(local) {
		return "", "", false
	}
	return prefix, local, true
}

func validNameStart(name string) bool {
	c := name[0]
	return c == '_' || c == ':' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= 0x80
}

func (p *parser) startTag() (*Node, bool, error) {
	start := p.pos
	p.pos++ // '<'
	prefix, local, ok := p.qname()
	if !ok {
		return nil, false, p.errAt(start, "nome di elemento non valido (invalid element name)")
	}
	n := p.newNode()
	n.Prefix, n.Name, n.Line = prefix, local, p.lineAt(start)
	for {
		hadSpace := p.pos < len(p.s) && isSpace(p.s[p.pos])
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, false, p.errAt(start, "tag <%s> non chiuso (start tag not closed)", n.qname())
		}
		switch c := p.s[p.pos]; {
		case c == '>':
			p.pos++
			return n, false, nil
		case c == '/':
			if p.pos+1 >= len(p.s) || p.s[p.pos+1] != '>' {
				return nil, false, p.errAt(p.pos, "'/' non seguito da '>' nel tag <%s> (stray '/')", n.qname())
			}
			p.pos += 2
			return n, true, nil
		case !hadSpace:
			return nil, false, p.errAt(p.pos, "manca uno spazio prima dell'attributo nel tag <%s> (missing white space before an attribute)", n.qname())
		}
		attrStart := p.pos
		ap, an, ok := p.qname()
		if !ok {
			return nil, false, p.errAt(attrStart, "nome di attributo non valido nel tag <%s> (invalid attribute name)", n.qname())
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '=' {
			return nil, false, p.errAt(attrStart, "attributo %s senza valore (attribute without value)", join(ap, an))
		}
		p.pos++
		p.skipSpace()
		if p.pos >= len(p.s) || (p.s[p.pos] != '"' && p.s[p.pos] != '\'') {
			return nil, false, p.errAt(attrStart, "valore dell'attributo %s senza virgolette (unquoted attribute value)", join(ap, an))
		}
		q := p.s[p.pos]
		end := strings.IndexByte(p.s[p.pos+1:], q)
		if end < 0 {
			return nil, false, p.errAt(attrStart, "valore dell'attributo %s non chiuso (unterminated attribute value)", join(ap, an))
		}
		raw := p.s[p.pos+1 : p.pos+1+end]
		if strings.IndexByte(raw, '<') >= 0 {
			return nil, false, p.errAt(attrStart, "carattere '<' nel valore dell'attributo %s (a '<' in an attribute value)", join(ap, an))
		}
		val, err := p.decode(raw, attrStart, true)
		if err != nil {
			return nil, false, err
		}
		for _, a := range n.Attrs {
			if a.Prefix == ap && a.Name == an {
				return nil, false, p.errAt(attrStart, "attributo %s ripetuto (duplicate attribute)", join(ap, an))
			}
		}
		n.Attrs = append(n.Attrs, Attr{Prefix: ap, Name: an, Value: val})
		p.pos += 1 + end + 1
	}
}

func (p *parser) appendText(n *Node, from, to int) error {
	raw := p.s[from:to]
	if (n.FirstChild != nil || n.text != "") && blank(raw) {
		return nil // indentation between child elements: not data
	}
	if strings.IndexByte(raw, ']') >= 0 && strings.Contains(raw, "]]>") {
		return p.errAt(from, "sequenza ']]>' non ammessa nel testo (']]>' is not allowed in text)")
	}
	t, err := p.decode(raw, from, false)
	if err != nil {
		return err
	}
	if n.text == "" {
		n.text = t
	} else {
		n.text += t
	}
	return nil
}

func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

// decode resolves entity and character references in raw (found at offset off).
// Attribute values also get their white space normalised as XML requires.
func (p *parser) decode(raw string, off int, attr bool) (string, error) {
	if strings.IndexByte(raw, '&') < 0 && strings.IndexByte(raw, '\r') < 0 && !(attr && strings.ContainsAny(raw, "\t\n")) {
		return raw, nil
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\r' { // XML end-of-line handling: CR LF and a lone CR become LF
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
				continue
			}
			c = '\n'
		}
		if c != '&' {
			if attr && (c == '\t' || c == '\n' || c == '\r') {
				c = ' '
			}
			b.WriteByte(c)
			i++
			continue
		}
		semi := strings.IndexByte(raw[i:], ';')
		if semi < 0 || semi > 12 {
			return "", p.errAt(off+i, "'&' non seguito da un riferimento valido: scrivere &amp;amp; ('&' must be written &amp;amp;)")
		}
		ref := raw[i+1 : i+semi]
		switch ref {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "apos":
			b.WriteByte('\'')
		case "quot":
			b.WriteByte('"')
		default:
			r, ok := charRef(ref)
			if !ok {
				return "", p.errAt(off+i, "riferimento &%s; sconosciuto o non ammesso (unknown or invalid reference &%s;)", ref, ref)
			}
			b.WriteRune(r)
		}
		i += semi + 1
	}
	return b.String(), nil
}

// charRef decodes "#123" or "#x1F" into an XML 1.0 character.
func charRef(ref string) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	var v uint64
	var err error
	if ref[1] == 'x' {
		if len(ref) < 3 {
			return 0, false
		}
		v, err = strconv.ParseUint(ref[2:], 16, 32)
	} else {
		v, err = strconv.ParseUint(ref[1:], 10, 32)
	}
	if err != nil {
		return 0, false
	}
	r := rune(v)
	switch {
	case r == '\t' || r == '\n' || r == '\r':
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
	default:
		return 0, false
	}
	return r, true
}
