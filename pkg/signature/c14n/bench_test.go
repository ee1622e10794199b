package c14n

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"
)

// BenchmarkExclusive compares this package's exclusive canonicalization of a whole
// document with goxmldsig's (the baseline; it copies the tree first, as it mutates it).
// go test -run XXX -bench . ./pkg/signature/c14n/
func BenchmarkExclusive(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`<p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" versione="FPA12"><Body>`)
	for i := 0; sb.Len() < 10<<10; i++ {
		fmt.Fprintf(&sb, "\n  <DettaglioLinee><NumeroLinea>%d</NumeroLinea><Descrizione>Servizio &amp; manutenzione n. %d</Descrizione></DettaglioLinee>", i, i)
	}
	sb.WriteString("</Body></p:FatturaElettronica>")
	docs := map[string][]byte{"10KB": []byte(sb.String())}
	if data, err := os.ReadFile("../../../testdata/signature/samples/IT01234567890_X1111.xml"); err == nil {
		docs["X1111-sample"] = data
	}
	for name, data := range docs {
		doc, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/snodo-c14n", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := WriteDocument(io.Discard, doc, Options{Method: Exclusive}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/goxmldsig", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			c := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
			for b.Loop() {
				if _, err := c.Canonicalize(doc.Root().Copy()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
