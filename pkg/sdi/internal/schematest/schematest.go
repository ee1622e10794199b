// Package schematest validates documents against the official SdI schemas in tests,
// compiled once each with snodo/pkg/xsd from the embedded copies in snodo/xsd/sdi.
package schematest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"snodo/pkg/xsd"
	sdixsd "snodo/xsd/sdi"
)

var (
	mu      sync.Mutex
	schemas = map[string]*xsd.Schema{}
)

// Violations validates doc against the schema file name of snodo/xsd/sdi (e.g.
// sdixsd.MessaggiTypes) and returns the violation messages (nil when valid).
func Violations(t testing.TB, name string, doc []byte) []string {
	t.Helper()
	mu.Lock()
	s, ok := schemas[name]
	if !ok {
		var err error
		s, err = xsd.Compile(sdixsd.FS, name)
		if err != nil {
			mu.Unlock()
			t.Fatalf("schema %s: %v", name, err)
		}
		schemas[name] = s
	}
	mu.Unlock()
	err := s.Validate("documento di test", doc, 50)
	if err == nil {
		return nil
	}
	var ve *xsd.ValidationError
	if errors.As(err, &ve) {
		var out []string
		for _, v := range ve.Violations {
			out = append(out, strings.TrimSpace(v.Message))
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
