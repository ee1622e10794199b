package sdixsl

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"regexp"
	"testing"
)

// TestCopiesMatchREADME proves every embedded file is the byte-for-byte copy the README
// lists (same sha256), and that the README lists every embedded file.
func TestCopiesMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([0-9a-f]{64})` \\|").FindAllSubmatch(readme, -1) {
		want[string(m[1])] = string(m[2])
	}
	names, err := fs.Glob(FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(want) {
		t.Errorf("embedded %d files, README lists %d", len(names), len(want))
	}
	for _, name := range names {
		data, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want[name] {
			t.Errorf("%s: sha256 %s, README says %q", name, got, want[name])
		}
	}
	for _, name := range []string{FatturaPA, FatturaOrdinaria, AT, DT, EC, MC, MT, NE, NS, RC, SE} {
		if _, err := fs.Stat(FS, name); err != nil {
			t.Errorf("constant names a missing file: %v", err)
		}
	}
}
