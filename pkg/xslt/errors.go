package xslt

import (
	"fmt"
	"strings"
)

// ParseError says the input document is not well-formed XML (or carries a DTD), where.
type ParseError struct {
	Name    string
	Line    int // 1-based, 0 if unknown
	Column  int // 1-based, 0 if unknown
	Message string
	DTD     bool // refused for its DOCTYPE declaration
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s: XML non ben formato alla riga %d, colonna %d (malformed XML at line %d, column %d): %s",
		e.Name, e.Line, e.Column, e.Line, e.Column, e.Message)
}

// TransformError says a transformation failed: an error raised by the stylesheet
// (xsl:message terminate="yes", a runtime error) or a refused resource access.
type TransformError struct {
	Name       string // the input document
	Stylesheet string
	Denied     bool     // the stylesheet tried to read or write a file or the network
	Messages   []string // libxslt's messages
}

func (e *TransformError) Error() string {
	what := "trasformazione non riuscita (transformation failed)"
	if e.Denied {
		what = "accesso a file o rete negato durante la trasformazione (file or network access denied)"
	}
	return fmt.Sprintf("xslt: %s con %s: %s: %s", e.Name, e.Stylesheet, what, strings.Join(e.Messages, "; "))
}

// CompileError says why a stylesheet did not compile.
type CompileError struct {
	Stylesheet string
	Messages   []string // libxml2's and libxslt's messages, with lines where known
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("xslt: compilazione del foglio di stile %s non riuscita (stylesheet compilation failed): %s",
		e.Stylesheet, strings.Join(e.Messages, "; "))
}
