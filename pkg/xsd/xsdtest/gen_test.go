package xsdtest

import (
	"flag"
	"os"
	"testing"
)

var regenerate = flag.Bool("regenerate", false, "rewrite ../testdata/bench from Invoice")

// TestRegenerate rewrites the committed benchmark invoices: go test ./pkg/xsd/xsdtest -run Regenerate -regenerate
func TestRegenerate(t *testing.T) {
	if !*regenerate {
		t.Skip("use -regenerate to rewrite ../testdata/bench")
	}
	if err := os.MkdirAll("../testdata/bench", 0o755); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"IT01234567890_G0010.xml": Size10KB, "IT01234567890_G1024.xml": Size1MB} {
		if err := os.WriteFile("../testdata/bench/"+name, Invoice(size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
