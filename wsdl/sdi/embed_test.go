package sdiwsdl

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestCopiesMatchREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 7 {
		t.Fatalf("embedded %d files, want 7: %v", len(names), names)
	}
	for _, n := range names {
		data, err := fs.ReadFile(FS, n)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if want := "`" + n + "` | `" + hex.EncodeToString(sum[:]) + "`"; !strings.Contains(string(readme), want) {
			t.Errorf("README does not list %s with sha256 %x", n, sum)
		}
	}
	for _, n := range []string{RicezioneFatture, TrasmissioneFatture, SdIRiceviFile, SdIRiceviNotifica, RicezioneTypes, TrasmissioneTypes10, TrasmissioneTypes11} {
		if _, err := fs.Stat(FS, n); err != nil {
			t.Errorf("constant %s: %v", n, err)
		}
	}
}
