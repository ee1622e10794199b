// Package xsdtest builds large FatturaPA invoices for tests and benchmarks: an official
// sample grown to a target size by repeating DettaglioLinee lines that carry no amount,
// so the result stays valid against the schema and keeps its totals (every added line
// has PrezzoTotale 0.00 and the AliquotaIVA/Natura of the first DatiRiepilogo).
//
// The generated 10 KB and 1 MB invoices are also kept as files in
// snodo/pkg/xsd/testdata/bench (a test keeps them equal to Invoice's output).
package xsdtest

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
)

// Base is the official sample IT01234567890_FPA02.xml (FPA12, two lines), the default
// starting point of Invoice.
//
//go:embed IT01234567890_FPA02.xml
var Base []byte

// Sizes used by the benchmarks.
const (
	Size10KB = 10 * 1024
	Size1MB  = 1024 * 1024
)

// Invoice returns Base grown to at least size bytes (see GrowInvoice).
func Invoice(size int) []byte {
	b, err := GrowInvoice(Base, size)
	if err != nil {
		panic(err) // Base is a fixed, known-good sample
	}
	return b
}

var (
	reLine     = regexp.MustCompile(`<NumeroLinea>\s*(\d+)\s*</NumeroLinea>`)
	reAliquota = regexp.MustCompile(`<AliquotaIVA>([^<]*)</AliquotaIVA>`)
	reNatura   = regexp.MustCompile(`<Natura>([^<]*)</Natura>`)
)

// GrowInvoice returns a copy of the invoice base with DettaglioLinee lines added before
// the first DatiRiepilogo until the document has at least size bytes. Lines are numbered
// after the last NumeroLinea of that body; each has quantity 1, price 0.00 and the
// AliquotaIVA (and Natura) of the first DatiRiepilogo, so totals and summaries still hold.
func GrowInvoice(base []byte, size int) ([]byte, error) {
	at := bytes.Index(base, []byte("<DatiRiepilogo>"))
	if at < 0 {
		return nil, errors.New("xsdtest: grow invoice: manca DatiRiepilogo (no DatiRiepilogo)")
	}
	end := bytes.Index(base[at:], []byte("</DatiRiepilogo>"))
	if end < 0 {
		return nil, errors.New("xsdtest: grow invoice: DatiRiepilogo non chiuso (unterminated DatiRiepilogo)")
	}
	riepilogo := base[at : at+end]
	m := reAliquota.FindSubmatch(riepilogo)
	if m == nil {
		return nil, errors.New("xsdtest: grow invoice: DatiRiepilogo senza AliquotaIVA (no AliquotaIVA)")
	}
	aliquota := string(m[1])
	natura := ""
	if n := reNatura.FindSubmatch(riepilogo); n != nil {
		natura = fmt.Sprintf("        <Natura>%s</Natura>\n", n[1])
	}
	next := 1
	for _, l := range reLine.FindAllSubmatch(base[:at], -1) {
		var n int
		fmt.Sscan(string(l[1]), &n)
		next = n + 1
	}
	// Back up to the start of the DatiRiepilogo line so the added lines keep the indentation.
	ins := bytes.LastIndexByte(base[:at], '\n') + 1

	var out bytes.Buffer
	out.Grow(size + 1024)
	out.Write(base[:ins])
	for out.Len()+len(base)-ins < size {
		if next > 9999 {
			return nil, fmt.Errorf("xsdtest: grow invoice: %d byte richiedono più di 9999 righe (more than 9999 lines needed)", size)
		}
		fmt.Fprintf(&out, `      <DettaglioLinee>
        <NumeroLinea>%d</NumeroLinea>
        <CodiceArticolo>
          <CodiceTipo>INTERNO</CodiceTipo>
          <CodiceValore>ART-%05d</CodiceValore>
        </CodiceArticolo>
        <Descrizione>RIGA %d SENZA IMPORTO AGGIUNTA PER MISURARE LA VALIDAZIONE DI FATTURE GRANDI</Descrizione>
        <Quantita>1.00</Quantita>
        <UnitaMisura>PZ</UnitaMisura>
        <PrezzoUnitario>0.00</PrezzoUnitario>
        <PrezzoTotale>0.00</PrezzoTotale>
        <AliquotaIVA>%s</AliquotaIVA>
%s      </DettaglioLinee>
`, next, next, next, aliquota, natura)
		next++
	}
	out.Write(base[ins:])
	return out.Bytes(), nil
}
