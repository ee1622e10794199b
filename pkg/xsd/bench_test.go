package xsd

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"snodo/pkg/xsd/xsdtest"
	sdixsd "snodo/xsd/sdi"
)

// Reproduce (figures in docs/benchmarks/xsd.md):
//
//	go test -run '^$' -bench 'Validate|Xmllint' -benchtime 3s ./pkg/xsd/

var benchSizes = []struct {
	name string
	size int
}{{"10KB", xsdtest.Size10KB}, {"1MB", xsdtest.Size1MB}}

func BenchmarkValidate(b *testing.B) {
	s := sdiSchema(b, sdixsd.FatturaPA123)
	for _, c := range benchSizes {
		doc := xsdtest.Invoice(c.size)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if err := s.Validate("bench.xml", doc, 50); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

// BenchmarkValidateParallel shares one schema among GOMAXPROCS goroutines.
func BenchmarkValidateParallel(b *testing.B) {
	s := sdiSchema(b, sdixsd.FatturaPA123)
	for _, c := range benchSizes {
		doc := xsdtest.Invoice(c.size)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Validate("bench.xml", doc, 50); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

// BenchmarkXmllintPerProcess is the baseline: one `xmllint --noout --schema` process per
// file, the schemas on disk and the xmldsig import mapped by an XML catalog.
func BenchmarkXmllintPerProcess(b *testing.B) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		b.Fatal("xmllint non trovato: installare il pacchetto Debian libxml2-utils (xmllint not found: apt-get install libxml2-utils)")
	}
	dir := b.TempDir()
	if err := os.CopyFS(dir, sdixsd.FS); err != nil {
		b.Fatal(err)
	}
	catalog := filepath.Join(dir, "catalog.xml")
	if err := os.WriteFile(catalog, []byte(`<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
<uri name="`+XMLDSigURL+`" uri="xmldsig-core-schema.xsd"/><system systemId="`+XMLDSigURL+`" uri="xmldsig-core-schema.xsd"/></catalog>`), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := fs.Stat(sdixsd.FS, sdixsd.FatturaPA123); err != nil {
		b.Fatal(err)
	}
	for _, c := range benchSizes {
		doc := filepath.Join(dir, "IT01234567890_"+c.name+".xml")
		if err := os.WriteFile(doc, xsdtest.Invoice(c.size), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join(dir, sdixsd.FatturaPA123), doc)
				cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("xmllint: %v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		s, err := Compile(sdixsd.FS, sdixsd.FatturaPA123)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
