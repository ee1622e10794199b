// Package c14n writes the canonical form of XML held in an etree tree: Canonical XML 1.0
// and 1.1 and Exclusive XML Canonicalization 1.0, each with or without comments, of a
// whole document or of one element's subtree (a document subset whose apex is that
// element), optionally leaving out chosen subtrees.
//
// It is what XML Signature references need: the enveloped-signature transform and the
// XPath Filter 2.0 "subtract /descendant::ds:Signature" transform both remove whole
// ds:Signature subtrees, and a same-document reference ("#id") canonicalizes an element
// in the namespace context of its ancestors. The writer walks the tree once, never
// copies or changes it, and streams into any io.Writer (typically a hash).
//
// Limits, by design: the only node-set shapes supported are "a subtree minus some
// subtrees" (general XPath node-sets are not); Canonical XML 1.1 inherits xml:lang and
// xml:space onto the apex but does not perform the xml:base fix-up.
package c14n

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Method is a canonicalization algorithm family.
type Method int

const (
	C14N10    Method = iota // Canonical XML 1.0 (inclusive)
	C14N11                  // Canonical XML 1.1 (inclusive)
	Exclusive               // Exclusive XML Canonicalization 1.0
)

// Algorithm URIs as they appear in XML Signature.
const (
	URIC14N10             = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	URIC14N10Comments     = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
	URIC14N11             = "http://www.w3.org/2006/12/xml-c14n11"
	URIC14N11Comments     = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
	URIExclusive          = "http://www.w3.org/2001/10/xml-exc-c14n#"
	URIExclusiveComments  = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	xmlNamespace          = "http://www.w3.org/XML/1998/namespace"
	defaultNamespaceToken = "#default"
)

// Options select the algorithm and the node-set.
type Options struct {
	Method   Method
	Comments bool
	// InclusivePrefixes is the Exclusive method's InclusiveNamespaces PrefixList: these
	// prefixes are rendered as Canonical XML 1.0 would. "#default" names the default
	// namespace. Ignored by the inclusive methods.
	InclusivePrefixes []string
	// Exclude, when set, leaves out every element for which it returns true, with its
	// whole subtree (attributes, namespaces, text, descendants).
	Exclude func(*etree.Element) bool
}

// ForAlgorithm returns the Options for an algorithm URI, and false when the URI names
// no canonicalization algorithm this package implements.
func ForAlgorithm(uri string) (Options, bool) {
	switch uri {
	case URIC14N10:
		return Options{Method: C14N10}, true
	case URIC14N10Comments:
		return Options{Method: C14N10, Comments: true}, true
	case URIC14N11:
		return Options{Method: C14N11}, true
	case URIC14N11Comments:
		return Options{Method: C14N11, Comments: true}, true
	case URIExclusive:
		return Options{Method: Exclusive}, true
	case URIExclusiveComments:
		return Options{Method: Exclusive, Comments: true}, true
	}
	return Options{}, false
}

// ErrUndeclaredPrefix is returned when an element or attribute uses a namespace prefix
// that no ancestor declares.
var ErrUndeclaredPrefix = errors.New("c14n: undeclared namespace prefix")

// WriteDocument writes the canonical form of the whole document: the root element and,
// around it, the processing instructions (and, with Comments, the comments) that sit
// outside it. The XML declaration and whitespace outside the root are not part of the
// canonical form.
func WriteDocument(w io.Writer, doc *etree.Document, o Options) error {
	c := newWriter(w, o)
	root := doc.Root()
	if root == nil {
		return errors.New("c14n: document has no root element")
	}
	seenRoot := false
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			if t != root {
				return errors.New("c14n: document has more than one root element")
			}
			seenRoot = true
			if o.Exclude != nil && o.Exclude(root) {
				continue
			}
			if err := c.element(root, true); err != nil {
				return err
			}
		case *etree.ProcInst:
			if t.Target == "xml" {
				continue // the XML declaration is not a processing instruction
			}
			if seenRoot {
				c.s("\n")
			}
			c.procInst(t)
			if !seenRoot {
				c.s("\n")
			}
		case *etree.Comment:
			if !o.Comments {
				continue
			}
			if seenRoot {
				c.s("\n")
			}
			c.comment(t)
			if !seenRoot {
				c.s("\n")
			}
		case *etree.Directive:
			return errors.New("c14n: document type declarations are not supported")
		}
	}
	return c.flush()
}

// WriteElement writes the canonical form of el's subtree as a document subset whose
// apex is el: the namespaces in scope from el's ancestors are rendered on el (for the
// inclusive methods all of them, for Exclusive those el visibly uses), and for the
// inclusive methods the xml:* attributes el inherits are rendered on it too.
func WriteElement(w io.Writer, el *etree.Element, o Options) error {
	c := newWriter(w, o)
	if o.Exclude != nil && o.Exclude(el) {
		return c.flush()
	}
	// Ancestors' declarations, outermost first, form the starting scope.
	var chain []*etree.Element
	for p := el.Parent(); p != nil; p = p.Parent() {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		c.declare(chain[i])
	}
	if o.Method != Exclusive {
		c.inherited = inheritedXMLAttrs(chain, el, o.Method)
	}
	if err := c.element(el, true); err != nil {
		return err
	}
	return c.flush()
}

type binding struct{ prefix, uri string }

type writer struct {
	w    *bufio.Writer
	o    Options
	incl map[string]bool // exclusive InclusiveNamespaces, "" for the default namespace

	scope    []binding // declarations in scope, innermost last
	rendered []binding // declarations rendered by output ancestors, innermost last

	inherited []etree.Attr // xml:* attributes the apex inherits
	err       error
}

type sortAttr struct {
	uri string
	a   *etree.Attr
}

func newWriter(w io.Writer, o Options) *writer {
	c := &writer{w: bufio.NewWriterSize(w, 32<<10), o: o}
	if o.Method == Exclusive && len(o.InclusivePrefixes) > 0 {
		c.incl = make(map[string]bool, len(o.InclusivePrefixes))
		for _, p := range o.InclusivePrefixes {
			if p == defaultNamespaceToken {
				p = ""
			}
			c.incl[p] = true
		}
	}
	return c
}

func (c *writer) flush() error {
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

func (c *writer) s(s string) {
	if c.err == nil {
		_, c.err = c.w.WriteString(s)
	}
}

// declare pushes el's namespace declarations onto the scope.
func (c *writer) declare(el *etree.Element) {
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			c.scope = append(c.scope, binding{a.Key, a.Value})
		case a.Space == "" && a.Key == "xmlns":
			c.scope = append(c.scope, binding{"", a.Value})
		}
	}
}

func lookup(bs []binding, prefix string) (string, bool) {
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].prefix == prefix {
			return bs[i].uri, true
		}
	}
	return "", false
}

func (c *writer) resolve(prefix string) (string, error) {
	if prefix == "xml" {
		return xmlNamespace, nil
	}
	uri, ok := lookup(c.scope, prefix)
	if prefix == "" {
		return uri, nil // no default namespace: the empty namespace
	}
	if !ok || uri == "" {
		return "", fmt.Errorf("%w %q", ErrUndeclaredPrefix, prefix)
	}
	return uri, nil
}

func isNamespaceDecl(a *etree.Attr) bool {
	return a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns")
}

func (c *writer) element(el *etree.Element, apex bool) error {
	scopeMark, renderedMark := len(c.scope), len(c.rendered)
	c.declare(el)

	// Namespace nodes to render.
	var ns []binding
	switch {
	case c.o.Method != Exclusive && apex:
		// Every namespace in scope, innermost binding of each prefix.
		for i := len(c.scope) - 1; i >= 0; i-- {
			b := c.scope[i]
			if b.prefix == "xml" || containsPrefix(ns, b.prefix) {
				continue
			}
			ns = append(ns, b)
		}
		ns = slices.DeleteFunc(ns, func(b binding) bool { return b.prefix == "" && b.uri == "" })
	case c.o.Method != Exclusive:
		// Only declarations on this element that change what the parent had.
		for _, a := range el.Attr {
			if !isNamespaceDecl(&a) {
				continue
			}
			prefix := a.Key
			if a.Space == "" {
				prefix = ""
			}
			if prefix == "xml" || containsPrefix(ns, prefix) {
				continue
			}
			uri, _ := lookup(c.scope, prefix) // the innermost: this element's own value
			parent, ok := lookup(c.scope[:scopeMark], prefix)
			if ok && parent == uri || !ok && prefix == "" && uri == "" {
				continue
			}
			ns = append(ns, binding{prefix, uri})
		}
	default:
		// Exclusive: the prefixes this element visibly uses, plus the inclusive list.
		used := func(prefix string) error {
			if prefix == "xml" || containsPrefix(ns, prefix) {
				return nil
			}
			uri, err := c.resolve(prefix)
			if err != nil {
				return err
			}
			r, ok := lookup(c.rendered, prefix)
			if ok && r == uri || !ok && prefix == "" && uri == "" {
				return nil
			}
			ns = append(ns, binding{prefix, uri})
			return nil
		}
		if err := used(el.Space); err != nil {
			return err
		}
		for i := range el.Attr {
			a := &el.Attr[i]
			if !isNamespaceDecl(a) && a.Space != "" {
				if err := used(a.Space); err != nil {
					return err
				}
			}
		}
		for p := range c.incl {
			if _, ok := lookup(c.scope, p); ok {
				if err := used(p); err != nil {
					return err
				}
			}
		}
	}
	slices.SortFunc(ns, func(a, b binding) int { return strings.Compare(a.prefix, b.prefix) })
	c.rendered = append(c.rendered, ns...)

	// Attributes, sorted by namespace URI then local name.
	var attrs []sortAttr
	for i := range el.Attr {
		a := &el.Attr[i]
		if isNamespaceDecl(a) {
			continue
		}
		uri := ""
		if a.Space != "" {
			var err error
			if uri, err = c.resolve(a.Space); err != nil {
				return err
			}
		}
		attrs = append(attrs, sortAttr{uri, a})
	}
	if apex {
		for i := range c.inherited {
			a := &c.inherited[i]
			if el.SelectAttr("xml:"+a.Key) == nil {
				attrs = append(attrs, sortAttr{xmlNamespace, a})
			}
		}
	}
	slices.SortFunc(attrs, func(x, y sortAttr) int {
		return cmp.Or(strings.Compare(x.uri, y.uri), strings.Compare(x.a.Key, y.a.Key))
	})
	for i := 1; i < len(attrs); i++ {
		if attrs[i].uri == attrs[i-1].uri && attrs[i].a.Key == attrs[i-1].a.Key {
			return fmt.Errorf("c14n: element <%s> repeats attribute %q", el.FullTag(), attrs[i].a.Key)
		}
	}
	if _, err := c.resolve(el.Space); err != nil {
		return err
	}

	c.s("<")
	c.s(el.FullTag())
	for _, b := range ns {
		if b.prefix == "" {
			c.s(` xmlns="`)
		} else {
			c.s(" xmlns:")
			c.s(b.prefix)
			c.s(`="`)
		}
		c.attrValue(b.uri)
		c.s(`"`)
	}
	for _, sa := range attrs {
		c.s(" ")
		if sa.a.Space != "" {
			c.s(sa.a.Space)
			c.s(":")
		}
		c.s(sa.a.Key)
		c.s(`="`)
		c.attrValue(sa.a.Value)
		c.s(`"`)
	}
	c.s(">")

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if c.o.Exclude != nil && c.o.Exclude(t) {
				continue
			}
			if err := c.element(t, false); err != nil {
				return err
			}
		case *etree.CharData:
			c.text(t.Data)
		case *etree.Comment:
			if c.o.Comments {
				c.comment(t)
			}
		case *etree.ProcInst:
			c.procInst(t)
		case *etree.Directive:
			return errors.New("c14n: directive inside an element")
		}
		if c.err != nil {
			return c.err
		}
	}
	c.s("</")
	c.s(el.FullTag())
	c.s(">")
	c.scope, c.rendered = c.scope[:scopeMark], c.rendered[:renderedMark]
	return c.err
}

func containsPrefix(bs []binding, prefix string) bool {
	for _, b := range bs {
		if b.prefix == prefix {
			return true
		}
	}
	return false
}

func (c *writer) comment(t *etree.Comment) {
	c.s("<!--")
	c.s(t.Data)
	c.s("-->")
}

func (c *writer) procInst(t *etree.ProcInst) {
	c.s("<?")
	c.s(t.Target)
	if t.Inst != "" {
		c.s(" ")
		c.s(t.Inst)
	}
	c.s("?>")
}

// text writes character data escaped as Canonical XML requires.
func (c *writer) text(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '\r':
			rep = "&#xD;"
		default:
			continue
		}
		c.s(s[start:i])
		c.s(rep)
		start = i + 1
	}
	c.s(s[start:])
}

// attrValue writes an attribute value escaped as Canonical XML requires.
func (c *writer) attrValue(s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '"':
			rep = "&quot;"
		case '\t':
			rep = "&#x9;"
		case '\n':
			rep = "&#xA;"
		case '\r':
			rep = "&#xD;"
		default:
			continue
		}
		c.s(s[start:i])
		c.s(rep)
		start = i + 1
	}
	c.s(s[start:])
}

// inheritedXMLAttrs returns the xml:* attributes the apex inherits from its ancestors
// (chain is innermost first): for Canonical XML 1.0 every xml:* attribute, for 1.1
// xml:lang and xml:space only.
func inheritedXMLAttrs(chain []*etree.Element, apex *etree.Element, m Method) []etree.Attr {
	var out []etree.Attr
	for _, p := range chain {
		for _, a := range p.Attr {
			if a.Space != "xml" {
				continue
			}
			if m == C14N11 && a.Key != "lang" && a.Key != "space" {
				continue
			}
			if apex.SelectAttr("xml:"+a.Key) != nil || slices.ContainsFunc(out, func(o etree.Attr) bool { return o.Key == a.Key }) {
				continue
			}
			out = append(out, etree.Attr{Space: "xml", Key: a.Key, Value: a.Value})
		}
	}
	return out
}
