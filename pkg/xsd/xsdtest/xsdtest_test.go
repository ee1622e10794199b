package xsdtest

import (
	"bytes"
	"os"
	"testing"
)

func TestInvoiceSizes(t *testing.T) {
	for _, size := range []int{Size10KB, Size1MB} {
		b := Invoice(size)
		if len(b) < size || len(b) > size+1024 {
			t.Errorf("Invoice(%d): %d bytes", size, len(b))
		}
		if !bytes.HasPrefix(b, Base[:200]) || !bytes.HasSuffix(b, Base[len(Base)-200:]) {
			t.Errorf("Invoice(%d) does not keep the base's head and tail", size)
		}
	}
	if b := Invoice(0); !bytes.Equal(b, Base) {
		t.Errorf("Invoice(0) changed the base")
	}
	if _, err := GrowInvoice([]byte("<a/>"), 100); err == nil {
		t.Errorf("GrowInvoice without DatiRiepilogo: no error")
	}
}

// TestBenchFilesUpToDate keeps the committed benchmark invoices equal to Invoice's output.
func TestBenchFilesUpToDate(t *testing.T) {
	for name, size := range map[string]int{
		"../testdata/bench/IT01234567890_G0010.xml": Size10KB,
		"../testdata/bench/IT01234567890_G1024.xml": Size1MB,
	} {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, Invoice(size)) {
			t.Errorf("%s differs from Invoice(%d): regenerate it (see docs/benchmarks/xsd.md)", name, size)
		}
	}
}
