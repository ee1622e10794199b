package c14n

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/beevik/etree"
)

// MaxDepth is the deepest element nesting Parse accepts.
const MaxDepth = 256

// Parse reads a document into an etree tree the way canonicalization needs it, which
// etree alone does not guarantee:
//   - attribute values are normalized as the XML specification requires (a literal
//     tab, newline or carriage return becomes a space; character references stay),
//     which encoding/xml skips: a schemaLocation split over lines must canonicalize as
//     libxml2 and every other signer see it;
//   - a repeated attribute is an error, not silently collapsed;
//   - the document holds exactly one root element and nothing but whitespace, comments
//     and processing instructions around it; no DTD;
//   - nesting deeper than MaxDepth is refused.
//
// data is not modified; a normalized copy is made only when an attribute needs it.
// Callers pass data that went through xmlsafe.Check first.
func Parse(data []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: MaxDepth}
	if err := doc.ReadFromBytes(normalizeAttributes(data)); err != nil {
		return nil, err
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, errors.New("more than one root element")
			}
			root = t
		case *etree.CharData:
			if !isSpace(t.Data) {
				return nil, errors.New("text outside the root element")
			}
		case *etree.Directive:
			return nil, errors.New("document type declaration")
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	if err := checkAttrs(root); err != nil {
		return nil, err
	}
	return doc, nil
}

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// checkAttrs refuses an element carrying the same attribute name twice.
func checkAttrs(el *etree.Element) error {
	stack := []*etree.Element{el}
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for i := 1; i < len(e.Attr); i++ {
			for j := 0; j < i; j++ {
				if e.Attr[i].Space == e.Attr[j].Space && e.Attr[i].Key == e.Attr[j].Key {
					return fmt.Errorf("element <%s> repeats attribute %q", e.FullTag(), e.Attr[i].FullKey())
				}
			}
		}
		for _, t := range e.Child {
			if c, ok := t.(*etree.Element); ok {
				stack = append(stack, c)
			}
		}
	}
	return nil
}

// normalizeAttributes returns data with literal tabs, newlines and carriage returns
// inside attribute values replaced by spaces (a CRLF pair by one space), as XML
// attribute-value normalization requires. It returns data itself when nothing changes.
func normalizeAttributes(data []byte) []byte {
	var out []byte // nil until the first change
	last := 0      // data[:last] is already in out
	const (
		text = iota
		tag
		value
	)
	state, quote := text, byte(0)
	for i := 0; i < len(data); i++ {
		b := data[i]
		switch state {
		case text:
			if b != '<' {
				continue
			}
			rest := data[i:]
			var end []byte
			switch {
			case bytes.HasPrefix(rest, []byte("<!--")):
				end = []byte("-->")
			case bytes.HasPrefix(rest, []byte("<![CDATA[")):
				end = []byte("]]>")
			case bytes.HasPrefix(rest, []byte("<?")):
				end = []byte("?>")
			case bytes.HasPrefix(rest, []byte("<!")):
				end = []byte(">")
			}
			if end == nil {
				state = tag
				continue
			}
			k := bytes.Index(rest[2:], end)
			if k < 0 {
				i = len(data) // unterminated: the parser will say so
			} else {
				i += 2 + k + len(end) - 1
			}
		case tag:
			switch b {
			case '"', '\'':
				state, quote = value, b
			case '>':
				state = text
			}
		case value:
			if b == quote {
				state = tag
				continue
			}
			if b != '\t' && b != '\n' && b != '\r' {
				continue
			}
			if out == nil {
				out = make([]byte, 0, len(data))
			}
			out = append(out, data[last:i]...)
			out = append(out, ' ')
			if b == '\r' && i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			last = i + 1
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}
