// Package schematest validates documents against the official SdI schemas in tests,
// with libxml2 (go-xsd-validate), from the schema files in the repository.
package schematest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	xsdvalidate "github.com/terminalstatic/go-xsd-validate"
)

var (
	once    sync.Once
	mu      sync.Mutex
	schemas = map[string]*xsdvalidate.XsdHandler{}
)

// repoRoot is the repository root, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// Violations validates doc against the schema at rel (relative to the repository
// root, e.g. "xsd/sdi/MessaggiTypes_v1.1.xsd") and returns the violation messages.
func Violations(t testing.TB, rel string, doc []byte) []string {
	t.Helper()
	once.Do(func() {
		// The B2B schema imports XMLDSig by its W3C URL: map it to the repository copy
		// with an XML catalog, read lazily by libxml2, so nothing goes to the network.
		dir, err := os.MkdirTemp("", "schematest")
		if err != nil {
			t.Fatal(err)
		}
		cat := filepath.Join(dir, "catalog.xml")
		dsig := filepath.Join(repoRoot(), "xsd", "sdi", "xmldsig-core-schema.xsd")
		os.WriteFile(cat, []byte(`<?xml version="1.0"?><catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">`+
			`<uri name="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://`+dsig+`"/>`+
			`<system systemId="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://`+dsig+`"/>`+
			`</catalog>`), 0o644)
		os.Setenv("XML_CATALOG_FILES", cat)
		if err := xsdvalidate.Init(); err != nil {
			t.Fatalf("libxml2: %v", err)
		}
	})
	mu.Lock()
	h, ok := schemas[rel]
	if !ok {
		var err error
		h, err = xsdvalidate.NewXsdHandlerUrl(filepath.Join(repoRoot(), rel), xsdvalidate.ParsErrVerbose)
		if err != nil {
			mu.Unlock()
			t.Fatalf("schema %s: %v", rel, err)
		}
		schemas[rel] = h
	}
	mu.Unlock()
	err := h.ValidateMem(doc, xsdvalidate.ValidErrDefault)
	if err == nil {
		return nil
	}
	var ve xsdvalidate.ValidationError
	if errors.As(err, &ve) {
		var out []string
		for _, e := range ve.Errors {
			out = append(out, strings.TrimSpace(e.Message))
		}
		return out
	}
	return []string{err.Error()}
}

// OnlyMissingSignature reports whether the violations are exactly the missing
// ds:Signature that a signer adds to SdI-issued messages.
func OnlyMissingSignature(v []string) bool {
	return len(v) == 1 && strings.Contains(v[0], "Signature") && strings.Contains(v[0], "Missing child element")
}
