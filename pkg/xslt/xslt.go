package xslt

/*
#cgo pkg-config: libxslt libxml-2.0
#include <stdlib.h>
#include "xslt.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"

	"snodo/pkg/xmlsafe"
)

func init() { C.snodo_xslt_init() }

const baseScheme = "snodo-fs://"

// ErrClosed is returned by Transform after Close.
var ErrClosed = errors.New("xslt: foglio di stile chiuso (stylesheet closed)")

// Stylesheet is a compiled XSLT stylesheet, safe for concurrent use. Close frees it (a
// Stylesheet no longer referenced is freed by the garbage collector anyway).
type Stylesheet struct {
	name string
	c    *compiled
}

type compiled struct {
	mu sync.RWMutex
	p  C.xsltStylesheetPtr
}

func (c *compiled) free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil {
		C.xsltFreeStylesheet(c.p)
		c.p = nil
	}
}

// Compile compiles the stylesheet xsl; name names it in errors. It may not import or
// include other modules (use CompileFS for that).
func Compile(name string, xsl []byte) (*Stylesheet, error) {
	return compile(name, xsl, nil)
}

// CompileFS compiles the stylesheet at path in fsys; its xsl:include and xsl:import
// resolve inside fsys only.
func CompileFS(fsys fs.FS, path string) (*Stylesheet, error) {
	if !fs.ValidPath(path) || path == "." {
		return nil, fmt.Errorf("xslt: compile %q: percorso non valido nel file system (invalid path in the FS)", path)
	}
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("xslt: compile %s: %w", path, err)
	}
	return compile(path, data, fsys)
}

func compile(name string, xsl []byte, fsys fs.FS) (*Stylesheet, error) {
	if err := xmlsafe.Check(name, xsl, 0); err != nil {
		return nil, fmt.Errorf("xslt: compile: %w", err)
	}
	if len(xsl) > math.MaxInt32 {
		return nil, fmt.Errorf("xslt: compile %s: foglio di stile troppo grande (stylesheet too large)", name)
	}
	var h C.uintptr_t
	var st *loadState
	if fsys != nil {
		st = &loadState{fsys: fsys}
		ch := cgo.NewHandle(st)
		defer ch.Delete()
		defer st.freeAll()
		h = C.uintptr_t(ch)
	}
	curl := C.CString(fsURL(name))
	defer C.free(unsafe.Pointer(curl))
	var log C.snodo_xslt_log
	defer C.snodo_xslt_log_free(&log)

	p := C.snodo_xslt_compile((*C.char)(unsafe.Pointer(&xsl[0])), C.int(len(xsl)), curl, h, &log)
	runtime.KeepAlive(xsl)
	if p == nil {
		ce := &CompileError{Stylesheet: name, Messages: messages(&log)}
		if st != nil {
			ce.Messages = append(ce.Messages, st.unresolved...)
		}
		if len(ce.Messages) == 0 {
			ce.Messages = []string{"libxslt non ha prodotto un foglio di stile (libxslt returned no stylesheet)"}
		}
		return nil, ce
	}
	s := &Stylesheet{name: name, c: &compiled{p: p}}
	runtime.AddCleanup(s, (*compiled).free, s.c)
	return s, nil
}

// Name is the name the stylesheet was compiled under.
func (s *Stylesheet) Name() string { return s.name }

// Close frees the stylesheet after the transformations in flight; later calls to
// Transform return ErrClosed.
func (s *Stylesheet) Close() { s.c.free() }

// Transform applies the stylesheet to doc and returns the serialised result (as its
// xsl:output says). name names the document in errors. params are top-level xsl:param
// values, passed as strings (never evaluated as XPath). The error is an *xmlsafe.Error,
// a *ParseError, a *TransformError, or says the transformation could not run.
func (s *Stylesheet) Transform(name string, doc []byte, params map[string]string) ([]byte, error) {
	if err := xmlsafe.Check(name, doc, 0); err != nil {
		return nil, err
	}
	return s.transform(name, doc, params)
}

// transform is Transform without the xmlsafe gate (tests prove the C-side DTD refusal).
func (s *Stylesheet) transform(name string, doc []byte, params map[string]string) ([]byte, error) {
	if len(doc) == 0 || len(doc) > math.MaxInt32 {
		return nil, fmt.Errorf("xslt: transform %s: dimensione %d non gestibile (unsupported size)", name, len(doc))
	}
	cparams, err := cParams(params)
	if err != nil {
		return nil, fmt.Errorf("xslt: transform %s with %s: %w", name, s.name, err)
	}
	defer freeParams(cparams)
	var pp **C.char
	if len(cparams) > 0 {
		pp = &cparams[0]
	}

	var log C.snodo_xslt_log
	defer C.snodo_xslt_log_free(&log)
	var out *C.uchar
	var outLen C.int
	s.c.mu.RLock()
	if s.c.p == nil {
		s.c.mu.RUnlock()
		return nil, ErrClosed
	}
	rc := C.snodo_xslt_apply(s.c.p, (*C.char)(unsafe.Pointer(&doc[0])), C.int(len(doc)), pp, &log, &out, &outLen)
	s.c.mu.RUnlock()
	runtime.KeepAlive(doc)
	defer C.snodo_xslt_free(unsafe.Pointer(out))

	switch rc {
	case C.SNODO_XSLT_OK:
		return C.GoBytes(unsafe.Pointer(out), outLen), nil
	case C.SNODO_XSLT_MALFORMED:
		pe := &ParseError{Name: name, Line: int(log.line), Column: int(log.column), Message: "XML non ben formato (malformed XML)"}
		if log.first != nil {
			pe.Message = strings.TrimSpace(C.GoString(log.first))
		}
		return nil, pe
	case C.SNODO_XSLT_DOCTYPE:
		return nil, &ParseError{Name: name, Line: 1, DTD: true,
			Message: "dichiarazione DOCTYPE non ammessa: rimuoverla dal documento (a DOCTYPE declaration is not allowed: remove it)"}
	case C.SNODO_XSLT_FAILED:
		return nil, &TransformError{Name: name, Stylesheet: s.name, Denied: int(log.denied) > 0, Messages: messages(&log)}
	default:
		return nil, fmt.Errorf("xslt: transform %s with %s: libxslt non ha potuto eseguire la trasformazione (libxslt could not run the transformation)", name, s.name)
	}
}

// cParams turns params into the NULL-terminated name, value, ... array libxslt takes.
func cParams(params map[string]string) ([]*C.char, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out := make([]*C.char, 0, 2*len(params)+1)
	for k, v := range params {
		if k == "" || strings.ContainsAny(k, "\x00 \t\r\n") || strings.ContainsRune(v, 0) {
			freeParams(append(out, nil))
			return nil, fmt.Errorf("parametro %q non valido: nome vuoto o con spazi, o carattere NUL (invalid parameter)", k)
		}
		out = append(out, C.CString(k), C.CString(v))
	}
	return append(out, nil), nil
}

func freeParams(p []*C.char) {
	for _, s := range p {
		if s != nil {
			C.free(unsafe.Pointer(s))
		}
	}
}

// messages splits the collected log into lines, without blanks and repeats.
func messages(log *C.snodo_xslt_log) []string {
	if log.text == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(C.GoStringN(log.text, C.int(log.n)), "\n") {
		l = strings.TrimSpace(strings.ReplaceAll(l, baseScheme+"/", ""))
		if l != "" && l != "error" && !seen[l] { // "error" alone is libxslt's prefix line
			seen[l] = true
			out = append(out, l)
		}
	}
	if log.truncated != 0 {
		out = append(out, "... (altri messaggi omessi; more messages omitted)")
	}
	return out
}

func fsURL(p string) string {
	return baseScheme + (&url.URL{Path: "/" + p}).EscapedPath()
}
