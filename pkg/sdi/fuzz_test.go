package sdi

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes and names to the message parser (XML and AT zip):
// errors are fine, panics and hangs are not; what parses must marshal.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"sdi-official", "testsdi-unsigned", "b2b"} {
		entries, _ := os.ReadDir(filepath.Join(samples, dir))
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(samples, dir, e.Name()))
			if err == nil {
				f.Add(e.Name(), data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		m, err := Parse(name, data)
		if err != nil {
			return
		}
		if m.Body == nil || m.Body.Tipo() != m.Tipo {
			t.Fatalf("inconsistent message %+v", m)
		}
		if _, err := Marshal(m.Body); err != nil {
			t.Fatalf("parsed message does not marshal: %v", err)
		}
	})
}
