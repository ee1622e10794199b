package fatturapa

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"snodo/pkg/fatturapa/invoice"
	"snodo/pkg/xsd/xsdtest"
	sdixsd "snodo/xsd/sdi"
)

// benchInvoice is the xsd engineer's grown FPA02 sample (docs/benchmarks/xsd.md) with
// the placeholder identifiers replaced by ones with right check digits, so every check
// runs on a valid invoice.
func benchInvoice(b *testing.B, size int) []byte {
	doc := xsdtest.Invoice(size)
	doc = bytes.ReplaceAll(doc, []byte(">01234567890<"), []byte(">01234567897<"))
	doc = bytes.ReplaceAll(doc, []byte(">09876543210<"), []byte(">09876543217<"))
	r := testValidator(b).Validate(context.Background(), "IT01234567897_00001.xml", doc, Options{ReceivedAt: received})
	if !r.Valid {
		b.Fatalf("benchmark invoice not valid: %v", r.Errors)
	}
	return doc
}

// cpuTime is the CPU time used so far by this process and its finished children
// (user + system). On a shared, loaded machine it measures the work done, where wall
// time also counts the waits for a core.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// measure runs body b.N times and reports, beside ns/op, cpu-ns/op: the process's CPU
// time per operation, garbage collection included.
func measure(b *testing.B, body func()) {
	start := cpuTime()
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkValidate compares, on a 10 KB and a 1 MB invoice, in one run:
//
//   - xsd: the XSD step alone (pkg/xsd, the schema the Validator compiled);
//
//   - full: Validator.Validate (name, envelope detection, XSD, parse, every content
//     check);
//
//   - parse, checks: the two parts full adds to xsd;
//
//   - xmllint: `xmllint --noout --nonet --schema` run once per file (the baseline of
//     docs/benchmarks/xsd.md; needs the Debian package libxml2-utils).
//
//     go test -run '^$' -bench Validate -benchtime 3s -count 3 ./pkg/fatturapa/
func BenchmarkValidate(b *testing.B) {
	v := testValidator(b)
	ctx := context.Background()
	for _, size := range []struct {
		name string
		n    int
	}{{"10KB", xsdtest.Size10KB}, {"1MB", xsdtest.Size1MB}} {
		doc := benchInvoice(b, size.n)
		name := "IT01234567897_00001.xml"
		b.Run(size.name+"/xsd", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			measure(b, func() {
				if err := v.schema.Validate(name, doc, MaxFormatErrors); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(size.name+"/full", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			measure(b, func() {
				if r := v.Validate(ctx, name, doc, Options{ReceivedAt: received}); !r.Valid {
					b.Fatal(r.Errors)
				}
			})
		})
		b.Run(size.name+"/parse", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			measure(b, func() {
				if _, err := invoice.Parse(name, doc); err != nil {
					b.Fatal(err)
				}
			})
		})
		inv, err := invoice.Parse(name, doc)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(size.name+"/checks", func(b *testing.B) {
			measure(b, func() {
				if errs := CheckContent(inv, CheckOptions{ReceivedAt: received}); len(errs) > 0 {
					b.Fatal(errs)
				}
			})
		})
		b.Run(size.name+"/xmllint", func(b *testing.B) {
			bin, err := exec.LookPath("xmllint")
			if err != nil {
				b.Fatal("xmllint not found: install the Debian package libxml2-utils")
			}
			// the embedded schemas on disk, with a catalog for the xmldsig import
			spec := b.TempDir()
			for _, f := range []string{sdixsd.FatturaPA123, sdixsd.XMLDSig} {
				data, err := sdixsd.FS.ReadFile(f)
				if err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(spec, f), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			catalog := `<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog"><uri name="` + sdixsd.XMLDSigURL +
				`" uri="` + sdixsd.XMLDSig + `"/><system systemId="` + sdixsd.XMLDSigURL + `" uri="` + sdixsd.XMLDSig + `"/></catalog>`
			if err := os.WriteFile(filepath.Join(spec, "catalog.xml"), []byte(catalog), 0o644); err != nil {
				b.Fatal(err)
			}
			file := filepath.Join(b.TempDir(), name)
			if err := os.WriteFile(file, doc, 0o644); err != nil {
				b.Fatal(err)
			}
			measure(b, func() {
				cmd := exec.Command(bin, "--noout", "--nonet", "--schema", filepath.Join(spec, "Schema_VFPR12_v1.2.3.xsd"), file)
				cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(spec, "catalog.xml"))
				cmd.Dir = spec
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("xmllint: %v: %s", err, out)
				}
			})
		})
	}
}
