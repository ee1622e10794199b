package xsd

import (
	"fmt"
	"strings"
)

// Violation is one schema violation of a document.
type Violation struct {
	Line    int    // 1-based line of the element, 0 if unknown
	Element string // local name of the element (for an attribute, its element)
	// Path locates the element by local names from the root, with a 1-based index where
	// siblings share a name, e.g. /FatturaElettronica/FatturaElettronicaBody[2]/DatiGenerali.
	// libxml2 reports an attribute's problem on its element (the message names the
	// attribute); should it report the attribute node itself, the path ends in /@name.
	Path    string
	Message string // libxml2's message (English), e.g. "Element 'IdPaese': [facet 'pattern'] ..."
}

func (v Violation) String() string {
	return fmt.Sprintf("riga %d <%s> %s: %s", v.Line, v.Element, v.Path, v.Message)
}

// ValidationError lists the schema violations of a well-formed document.
type ValidationError struct {
	Name       string
	Violations []Violation
	// Truncated says there were more violations than the maximum asked for: only the
	// first ones are listed (the SdI stops at 50 and answers code 00201).
	Truncated bool
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Truncated {
		fmt.Fprintf(&b, "%s: non conforme allo schema XSD, oltre %d errori (not valid against the XSD schema, more than %d violations)",
			e.Name, len(e.Violations), len(e.Violations))
	} else {
		fmt.Fprintf(&b, "%s: non conforme allo schema XSD, %d errori (not valid against the XSD schema, %d violations)",
			e.Name, len(e.Violations), len(e.Violations))
	}
	for i, v := range e.Violations {
		if i == 3 {
			fmt.Fprintf(&b, "; ... altri %d (%d more)", len(e.Violations)-i, len(e.Violations)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(v.String())
	}
	return b.String()
}

// ParseError says a document is not well-formed XML (or carries a DTD), where.
type ParseError struct {
	Name    string
	Line    int // 1-based, 0 if unknown
	Column  int // 1-based, 0 if unknown
	Message string
	DTD     bool // the document was refused for its DOCTYPE declaration
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: XML non ben formato alla riga %d, colonna %d (malformed XML at line %d, column %d): %s",
		e.Name, e.Line, e.Column, e.Line, e.Column, e.Message)
}

// CompileError says why a schema did not compile.
type CompileError struct {
	Schema     string    // the main schema path
	Problems   []Problem // libxml2's errors, with file and line
	Unresolved []string  // imports or includes that do not resolve inside the FS, with why
}

// Problem is one error found while compiling a schema.
type Problem struct {
	File    string // path in the schema FS
	Line    int
	Message string
}

func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "xsd: compilazione dello schema %s non riuscita (schema compilation failed)", e.Schema)
	for _, u := range e.Unresolved {
		fmt.Fprintf(&b, "; riferimento non risolto (unresolved reference) %s", u)
	}
	for i, p := range e.Problems {
		if i == 5 {
			fmt.Fprintf(&b, "; ... altri %d (%d more)", len(e.Problems)-i, len(e.Problems)-i)
			break
		}
		fmt.Fprintf(&b, "; %s:%d: %s", p.File, p.Line, p.Message)
	}
	return b.String()
}
