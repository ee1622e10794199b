package fatturapa

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestSamplesAreCopies checks the official samples under testdata against the sha256
// their README lists, and that the README lists every file.
func TestSamplesAreCopies(t *testing.T) {
	readme, err := os.ReadFile(samples + "README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([0-9a-f]{64})` \\|$").FindAllStringSubmatch(string(readme), -1) {
		want[m[1]] = m[2]
	}
	n := 0
	err = filepath.WalkDir(samples, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "README.md" {
			return err
		}
		rel, _ := filepath.Rel(samples, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want[rel] {
			t.Errorf("%s: sha256 %s, README says %q", rel, got, want[rel])
		}
		n++
		return nil
	})
	if err != nil || n != len(want) || n < 13 {
		t.Fatalf("walk: %v; %d files, README lists %d", err, n, len(want))
	}
}
