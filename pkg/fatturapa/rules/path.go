package rules

import (
	"fmt"
	"strconv"
	"strings"

	"snodo/pkg/fatturapa/xmltree"
)

// The path language, an XPath 1.0 subset:
//
//	expr      = path { "|" path }
//	path      = [ "/" | "//" ] step { ( "/" | "//" ) step }
//	step      = ( name | "*" | "." ) { predicate }
//	predicate = "[" integer "]"              position among the matches under one parent, from 1
//	          | "[" relpath "]"              has such a descendant
//	          | "[" relpath "=" literal "]"  one of them has this value
//	          | "[" relpath "!=" literal "]" none of them has this value (or there is none)
//	relpath   = step { "/" step }  ("." for the element itself)
//	literal   = 'text' | "text"
//
// Names are local (a prefix such as p: is accepted and ignored). Unlike XPath, a path
// is evaluated from the invoice being checked (the FatturaElettronicaBody): "A/B" and
// "//B" start there ("//B" is any B inside the body); only a path beginning with a
// single "/" starts at the document root (/FatturaElettronica/FatturaElettronicaHeader/...).
// Values are compared after trimming white space.

type expr struct {
	src   string
	paths []*path
}

type path struct {
	absolute bool // starts at the document root
	steps    []step
}

type step struct {
	descendant bool   // reached by "//"
	name       string // local name, "*" or "."
	preds      []pred
}

type pred struct {
	pos   int   // > 0: positional
	rel   *path // relative path (nil with pos)
	op    string
	value string
}

type pathError struct {
	at  int
	msg string
}

func (e *pathError) Error() string { return fmt.Sprintf("carattere %d: %s", e.at+1, e.msg) }

type pathParser struct {
	s   string
	pos int
}

// parseExpr compiles a path expression, checking every name against the schema.
func parseExpr(src string) (*expr, error) {
	p := &pathParser{s: src}
	e := &expr{src: src}
	for {
		p.space()
		pt, err := p.path(false)
		if err != nil {
			return nil, err
		}
		e.paths = append(e.paths, pt)
		p.space()
		if p.pos == len(p.s) {
			return e, nil
		}
		if p.s[p.pos] != '|' {
			return nil, &pathError{p.pos, fmt.Sprintf("atteso '|' o fine, trovato %q (expected '|' or end)", p.s[p.pos:p.pos+1])}
		}
		p.pos++
	}
}

func (p *pathParser) space() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n') {
		p.pos++
	}
}

func (p *pathParser) path(relOnly bool) (*path, error) {
	pt := &path{}
	descendant := false
	switch {
	case strings.HasPrefix(p.s[p.pos:], "//"):
		if relOnly {
			return nil, &pathError{p.pos, "'//' non ammesso in un predicato (not allowed in a predicate)"}
		}
		descendant = true
		p.pos += 2
	case strings.HasPrefix(p.s[p.pos:], "/"):
		if relOnly {
			return nil, &pathError{p.pos, "percorso assoluto non ammesso in un predicato (absolute path not allowed in a predicate)"}
		}
		pt.absolute = true
		p.pos++
	}
	for {
		st, err := p.step()
		if err != nil {
			return nil, err
		}
		st.descendant = descendant
		pt.steps = append(pt.steps, st)
		switch {
		case strings.HasPrefix(p.s[p.pos:], "//"):
			if relOnly {
				return nil, &pathError{p.pos, "'//' non ammesso in un predicato (not allowed in a predicate)"}
			}
			descendant = true
			p.pos += 2
		case strings.HasPrefix(p.s[p.pos:], "/"):
			descendant = false
			p.pos++
		default:
			if pt.absolute && pt.steps[0].name != "FatturaElettronica" && pt.steps[0].name != "*" {
				return nil, &pathError{0, fmt.Sprintf("un percorso assoluto inizia con /FatturaElettronica, non /%s (an absolute path starts at /FatturaElettronica)", pt.steps[0].name)}
			}
			return pt, nil
		}
	}
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func (p *pathParser) step() (step, error) {
	start := p.pos
	var st step
	switch {
	case p.pos < len(p.s) && p.s[p.pos] == '*':
		st.name = "*"
		p.pos++
	case p.pos < len(p.s) && p.s[p.pos] == '.' && (p.pos+1 == len(p.s) || !isNameChar(p.s[p.pos+1])):
		st.name = "."
		p.pos++
	default:
		for p.pos < len(p.s) && (isNameChar(p.s[p.pos]) || p.s[p.pos] == ':') {
			p.pos++
		}
		name := p.s[start:p.pos]
		if i := strings.LastIndexByte(name, ':'); i >= 0 {
			name = name[i+1:]
		}
		if name == "" {
			if p.pos < len(p.s) {
				return st, &pathError{start, fmt.Sprintf("atteso un nome di elemento, trovato %q (expected an element name)", p.s[p.pos:p.pos+1])}
			}
			return st, &pathError{start, "atteso un nome di elemento, il percorso è finito (expected an element name, the path ended)"}
		}
		if !elements[name] {
			return st, &pathError{start, fmt.Sprintf("elemento %q sconosciuto nello schema FatturaPA 1.2.3: controllare ortografia e maiuscole "+
				"(element %q is not in the FatturaPA schema: check spelling and case)", name, name)}
		}
		st.name = name
	}
	for p.pos < len(p.s) && p.s[p.pos] == '[' {
		pr, err := p.pred()
		if err != nil {
			return st, err
		}
		st.preds = append(st.preds, pr)
	}
	return st, nil
}

func (p *pathParser) pred() (pred, error) {
	open := p.pos
	p.pos++ // '['
	p.space()
	var pr pred
	if p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		start := p.pos
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.Atoi(p.s[start:p.pos])
		if err != nil || n < 1 || n > 100000 {
			return pr, &pathError{start, "posizione non valida: da 1 in su (invalid position: from 1)"}
		}
		pr.pos = n
	} else {
		rel, err := p.path(true)
		if err != nil {
			return pr, err
		}
		pr.rel = rel
		p.space()
		switch {
		case strings.HasPrefix(p.s[p.pos:], "!="):
			pr.op = "!="
			p.pos += 2
		case strings.HasPrefix(p.s[p.pos:], "="):
			pr.op = "="
			p.pos++
		}
		if pr.op != "" {
			p.space()
			v, err := p.literal()
			if err != nil {
				return pr, err
			}
			pr.value = v
		}
	}
	p.space()
	if p.pos >= len(p.s) || p.s[p.pos] != ']' {
		return pr, &pathError{open, "predicato non chiuso: manca ']' (predicate not closed)"}
	}
	p.pos++
	return pr, nil
}

func (p *pathParser) literal() (string, error) {
	if p.pos >= len(p.s) || (p.s[p.pos] != '\'' && p.s[p.pos] != '"') {
		return "", &pathError{p.pos, "atteso un valore tra apici, es. 'TD01' (expected a quoted value)"}
	}
	q := p.s[p.pos]
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", &pathError{p.pos, "apice non chiuso (unterminated quote)"}
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

// eval returns the elements the expression selects from ctx (root is the document
// root), without duplicates, in document order of first selection.
func (e *expr) eval(root, ctx *xmltree.Node) []*xmltree.Node {
	var out []*xmltree.Node
	seen := map[*xmltree.Node]bool{}
	for _, pt := range e.paths {
		for _, n := range pt.eval(root, ctx) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func (pt *path) eval(root, ctx *xmltree.Node) []*xmltree.Node {
	var cur []*xmltree.Node
	steps := pt.steps
	if pt.absolute {
		// the first step matches the root itself
		first := steps[0]
		if first.name != "*" && first.name != root.Name {
			return nil
		}
		cur = applyPreds([]*xmltree.Node{root}, first.preds)
		steps = steps[1:]
	} else {
		cur = []*xmltree.Node{ctx}
	}
	for _, st := range steps {
		var next []*xmltree.Node
		for _, n := range cur {
			next = append(next, st.apply(n)...)
		}
		cur = next
		if len(cur) == 0 {
			return nil
		}
	}
	return cur
}

// apply evaluates one step from one context node.
func (st step) apply(n *xmltree.Node) []*xmltree.Node {
	if st.name == "." {
		return applyPreds([]*xmltree.Node{n}, st.preds)
	}
	var out []*xmltree.Node
	if !st.descendant {
		return applyPreds(children(n, st.name), st.preds)
	}
	// descendant-or-self::node()/child::name, positions counted per parent
	var walk func(*xmltree.Node)
	walk = func(m *xmltree.Node) {
		out = append(out, applyPreds(children(m, st.name), st.preds)...)
		for c := m.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func children(n *xmltree.Node, name string) []*xmltree.Node {
	var out []*xmltree.Node
	for c := range n.Children(name) {
		out = append(out, c)
	}
	return out
}

func applyPreds(nodes []*xmltree.Node, preds []pred) []*xmltree.Node {
	for _, pr := range preds {
		if pr.pos > 0 {
			if pr.pos > len(nodes) {
				return nil
			}
			nodes = nodes[pr.pos-1 : pr.pos]
			continue
		}
		var kept []*xmltree.Node
		for _, n := range nodes {
			if pr.holds(n) {
				kept = append(kept, n)
			}
		}
		nodes = kept
	}
	return nodes
}

func (pr pred) holds(n *xmltree.Node) bool {
	found := pr.rel.eval(n, n)
	switch pr.op {
	case "":
		return len(found) > 0
	case "=":
		for _, f := range found {
			if f.Text() == pr.value {
				return true
			}
		}
		return false
	default: // "!="
		for _, f := range found {
			if f.Text() == pr.value {
				return false
			}
		}
		return true
	}
}
