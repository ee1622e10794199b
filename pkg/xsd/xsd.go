package xsd

/*
#cgo pkg-config: libxml-2.0
#include <stdlib.h>
#include "xsd.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"path"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"

	"snodo/pkg/xmlsafe"
)

func init() { C.snodo_xsd_init() }

// DefaultMaxErrors is the number of violations Validate lists when the caller asks for
// no limit: the SdI's own limit (beyond 50 format errors it answers code 00201).
const DefaultMaxErrors = 50

// XMLDSigURL is the W3C location the FatturaPA schemas import XMLDSig from. Compile maps
// it to xmldsig-core-schema.xsd next to the main schema unless WithLocation says otherwise.
const XMLDSigURL = "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd"

const baseScheme = "snodo-fs://"

// maxParseIssues bounds the parse problems kept: libxml2 stops at the first fatal one.
const maxParseIssues = 8

// maxCompileIssues bounds the schema problems kept for a CompileError.
const maxCompileIssues = 20

// ErrClosed is returned by Validate after Close.
var ErrClosed = errors.New("xsd: schema chiuso (schema closed)")

// Schema is a compiled XML Schema. It is safe for concurrent use; Close frees it (a
// Schema no longer referenced is freed by the garbage collector anyway).
type Schema struct {
	name string
	c    *compiled
}

// compiled owns the C schema; the lock lets Close (and the GC cleanup) wait for
// validations in flight.
type compiled struct {
	mu sync.RWMutex
	p  C.xmlSchemaPtr
}

func (c *compiled) free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil {
		C.xmlSchemaFree(c.p)
		c.p = nil
	}
}

// Option adjusts Compile.
type Option func(*compileConfig)

type compileConfig struct {
	locations map[string]string
}

// WithLocation resolves the absolute schemaLocation url to the file fsPath of the
// schema FS (for an import by URL such as the W3C XMLDSig one).
func WithLocation(url, fsPath string) Option {
	return func(c *compileConfig) { c.locations[url] = fsPath }
}

// Compile compiles the schema main of fsys and everything it imports or includes, all
// resolved inside fsys (see the package documentation).
func Compile(fsys fs.FS, main string, opts ...Option) (*Schema, error) {
	if !fs.ValidPath(main) || main == "." {
		return nil, fmt.Errorf("xsd: compile %q: percorso non valido nel file system degli schemi (invalid path in the schema FS)", main)
	}
	if C.snodo_xsd_loader_installed() == 0 {
		// Another component replaced libxml2's process-wide loader: imports could then
		// reach the network or the disk, so refuse rather than compile differently.
		return nil, fmt.Errorf("xsd: compile %s: il caricatore di entità esterne di libxml2 è stato sostituito da un altro componente "+
			"(libxml2's external entity loader was replaced by another component): schemas cannot be resolved offline", main)
	}
	cfg := compileConfig{locations: map[string]string{
		XMLDSigURL: path.Join(path.Dir(main), "xmldsig-core-schema.xsd"),
	}}
	for _, o := range opts {
		o(&cfg)
	}
	st := &loadState{fsys: fsys, locations: cfg.locations}
	h := cgo.NewHandle(st)
	defer h.Delete()
	defer st.freeAll()

	var issues C.snodo_issues
	if C.snodo_issues_init(&issues, maxCompileIssues, 1) != 0 {
		return nil, fmt.Errorf("xsd: compile %s: memoria esaurita (out of memory)", main)
	}
	defer C.snodo_issues_free(&issues)
	curl := C.CString(fsURL(main))
	defer C.free(unsafe.Pointer(curl))

	p := C.snodo_xsd_compile(curl, C.uintptr_t(h), &issues)
	if p == nil || len(st.unresolved) > 0 || issues.errors > 0 {
		if p != nil {
			C.xmlSchemaFree(p)
		}
		ce := &CompileError{Schema: main, Unresolved: st.unresolved}
		for _, it := range issueSlice(&issues) {
			if it.level < C.XML_ERR_ERROR && len(st.unresolved) == 0 {
				continue // warnings matter only to explain an unresolved import
			}
			ce.Problems = append(ce.Problems, Problem{
				File:    strings.TrimPrefix(goString(it.file), baseScheme+"/"),
				Line:    int(it.line),
				Message: strings.ReplaceAll(goString(it.message), baseScheme+"/", ""),
			})
		}
		if len(ce.Problems) == 0 && len(ce.Unresolved) == 0 {
			ce.Problems = append(ce.Problems, Problem{File: main, Message: "libxml2 non ha prodotto uno schema (libxml2 returned no schema)"})
		}
		return nil, ce
	}
	s := &Schema{name: main, c: &compiled{p: p}}
	runtime.AddCleanup(s, (*compiled).free, s.c)
	return s, nil
}

// Name is the path of the main schema in its FS.
func (s *Schema) Name() string { return s.name }

// Close frees the compiled schema after the validations in flight; later calls to
// Validate return ErrClosed.
func (s *Schema) Close() { s.c.free() }

// Validate checks doc against the schema. name names the document in errors. At most
// maxErrors violations are listed (DefaultMaxErrors when maxErrors < 1). The result is
// nil (valid), *ValidationError, *ParseError, *xmlsafe.Error, or an error saying the
// validation could not run.
func (s *Schema) Validate(name string, doc []byte, maxErrors int) error {
	if err := xmlsafe.Check(name, doc, 0); err != nil {
		return err
	}
	return s.validate(name, doc, maxErrors)
}

// validate is Validate without the xmlsafe gate (tests prove the C-side DTD refusal).
func (s *Schema) validate(name string, doc []byte, maxErrors int) error {
	if len(doc) == 0 || len(doc) > math.MaxInt32 {
		return fmt.Errorf("xsd: validate %s: dimensione %d non gestibile (unsupported size)", name, len(doc))
	}
	if maxErrors < 1 {
		maxErrors = DefaultMaxErrors
	}
	var parse, viol C.snodo_issues
	if C.snodo_issues_init(&parse, maxParseIssues, 0) != 0 {
		return fmt.Errorf("xsd: validate %s: memoria esaurita (out of memory)", name)
	}
	defer C.snodo_issues_free(&parse)
	if C.snodo_issues_init(&viol, C.int(min(maxErrors, math.MaxInt32)), 0) != 0 {
		return fmt.Errorf("xsd: validate %s: memoria esaurita (out of memory)", name)
	}
	defer C.snodo_issues_free(&viol)

	s.c.mu.RLock()
	if s.c.p == nil {
		s.c.mu.RUnlock()
		return ErrClosed
	}
	// doc holds no Go pointers, so C may read it in place for the duration of the call.
	rc := C.snodo_xsd_validate(s.c.p, (*C.char)(unsafe.Pointer(&doc[0])), C.int(len(doc)), &parse, &viol)
	s.c.mu.RUnlock()
	runtime.KeepAlive(doc)

	switch rc {
	case C.SNODO_VALID:
		return nil
	case C.SNODO_INVALID:
		ve := &ValidationError{Name: name, Truncated: int(viol.errors) > int(viol.n)}
		for _, it := range issueSlice(&viol) {
			ve.Violations = append(ve.Violations, Violation{
				Line:    int(it.line),
				Element: goString(it.element),
				Path:    goString(it.path),
				Message: goString(it.message),
			})
		}
		if len(ve.Violations) == 0 {
			ve.Violations = []Violation{{Message: "documento non valido, libxml2 non ha indicato l'errore (invalid document, libxml2 gave no detail)"}}
		}
		return ve
	case C.SNODO_MALFORMED:
		pe := &ParseError{Name: name, Message: "XML non ben formato (malformed XML)"}
		if items := issueSlice(&parse); len(items) > 0 {
			pe.Line, pe.Column, pe.Message = int(items[0].line), int(items[0].column), goString(items[0].message)
		}
		return pe
	case C.SNODO_DOCTYPE:
		return &ParseError{Name: name, Line: 1, DTD: true,
			Message: "dichiarazione DOCTYPE non ammessa: rimuoverla dal documento (a DOCTYPE declaration is not allowed: remove it)"}
	default:
		return fmt.Errorf("xsd: validate %s: libxml2 non ha potuto validare il documento (libxml2 could not validate the document)", name)
	}
}

func issueSlice(is *C.snodo_issues) []C.snodo_issue {
	if is.items == nil || is.n == 0 {
		return nil
	}
	return unsafe.Slice(is.items, int(is.n))
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// fsURL is the base URL under which the FS file p is parsed.
func fsURL(p string) string {
	return baseScheme + (&url.URL{Path: "/" + p}).EscapedPath()
}
