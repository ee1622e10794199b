package xslt

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	sdixsl "snodo/xsl/sdi"
)

// Reproduce (figures in docs/benchmarks/xsd.md):
//
//	go test -run '^$' -bench 'Transform|Xsltproc' -benchtime 3s ./pkg/xslt/

func BenchmarkTransformFPA03(b *testing.B) {
	s := official(b, sdixsl.FatturaPA)
	doc := read(b, "invoices/IT01234567890_FPA03.xml")
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := s.Transform("FPA03.xml", doc, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Transform("FPA03.xml", doc, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
	})
}

// BenchmarkTransformRC is a small message stylesheet on a notification, for scale.
func BenchmarkTransformRC(b *testing.B) {
	s := official(b, sdixsl.RC)
	doc := read(b, "notifications/sdi-official/IT01234567890_11111_RC_001.xml")
	for b.Loop() {
		if _, err := s.Transform("RC.xml", doc, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkXsltprocPerProcess is the baseline: one `xsltproc` process per file.
func BenchmarkXsltprocPerProcess(b *testing.B) {
	xsltproc, err := exec.LookPath("xsltproc")
	if err != nil {
		b.Fatal("xsltproc non trovato: installare il pacchetto Debian xsltproc (xsltproc not found: apt-get install xsltproc)")
	}
	dir := b.TempDir()
	if err := os.CopyFS(dir, sdixsl.FS); err != nil {
		b.Fatal(err)
	}
	doc := filepath.Join(dir, "IT01234567890_FPA03.xml")
	if err := os.WriteFile(doc, read(b, "invoices/IT01234567890_FPA03.xml"), 0o644); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		// The HTML goes to stdout, discarded (a nil Stdout is the null device).
		cmd := exec.Command(xsltproc, "--nonet", "--nowrite", "--nomkdir", filepath.Join(dir, sdixsl.FatturaPA), doc)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("xsltproc: %v\n%s", err, stderr.Bytes())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
