package pagopaxsd

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"regexp"
	"testing"

	xsdvalidate "github.com/terminalstatic/go-xsd-validate"

	"snodo/pkg/xsd"
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
	if len(names) != len(want) || len(names) != len(upstream) {
		t.Errorf("embedded %d files, README lists %d, layout %d", len(names), len(want), len(upstream))
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
}

// TestTreeWithPkgXSD compiles the in-memory tree with snodo/pkg/xsd.
func TestTreeWithPkgXSD(t *testing.T) {
	s, err := xsd.Compile(Tree(), TreePaForNode)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Validate("ok", []byte(`<p:paSendRTRes xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><outcome>OK</outcome></p:paSendRTRes>`), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("bad", []byte(`<p:paSendRTRes xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><outcome>NO</outcome></p:paSendRTRes>`), 10); err == nil {
		t.Fatal("invalid outcome accepted")
	}
}

// TestTreeCompiles writes the upstream layout and compiles paForNode.xsd with libxml2,
// which resolves its relative import of the common types.
func TestTreeCompiles(t *testing.T) {
	path, err := WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := xsdvalidate.Init(); err != nil {
		t.Fatal(err)
	}
	h, err := xsdvalidate.NewXsdHandlerUrl(path, xsdvalidate.ParsErrVerbose)
	if err != nil {
		t.Fatalf("compile %s: %v", path, err)
	}
	defer h.Free()
	ok := []byte(`<p:paSendRTRes xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><outcome>OK</outcome></p:paSendRTRes>`)
	if err := h.ValidateMem(ok, xsdvalidate.ValidErrDefault); err != nil {
		t.Errorf("valid response refused: %v", err)
	}
	bad := []byte(`<p:paSendRTRes xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><outcome>MAYBE</outcome></p:paSendRTRes>`)
	if err := h.ValidateMem(bad, xsdvalidate.ValidErrDefault); err == nil {
		t.Error("invalid outcome accepted")
	}
}
