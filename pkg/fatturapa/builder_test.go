package fatturapa

import (
	"os"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"snodo/pkg/fatturapa/invoice"
)

// basePath is a valid FPR12 invoice with real check digits: one line at 22%, one
// summary. Every test invoice is this document changed by a few edits.
const basePath = "../../testdata/fatturapa/base-fpr12.xml"

// edit changes a test invoice.
type edit func(t testing.TB, root *etree.Element)

// build applies edits to the base document and returns its bytes.
func build(t testing.TB, edits ...edit) []byte {
	t.Helper()
	data, err := os.ReadFile(basePath)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatal(err)
	}
	for _, e := range edits {
		e(t, doc.Root())
	}
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func find(t testing.TB, root *etree.Element, path string) *etree.Element {
	t.Helper()
	el := root.FindElement("./" + path)
	if el == nil {
		t.Fatalf("builder: no element %s", path)
	}
	return el
}

// set gives the element at path a new text.
func set(path, value string) edit {
	return func(t testing.TB, root *etree.Element) { find(t, root, path).SetText(value) }
}

// del removes the element at path.
func del(path string) edit {
	return func(t testing.TB, root *etree.Element) {
		el := find(t, root, path)
		el.Parent().RemoveChild(el)
	}
}

// ins inserts the XML fragment into the element at parent, before its first child named
// in before (keeping the schema's order), or at the end.
func ins(parent, fragment string, before ...string) edit {
	return func(t testing.TB, root *etree.Element) {
		p := find(t, root, parent)
		frag := etree.NewDocument()
		if err := frag.ReadFromString(fragment); err != nil {
			t.Fatalf("builder: fragment %q: %v", fragment, err)
		}
		el := frag.Root()
		el.Parent().RemoveChild(el)
		for i, c := range p.Child {
			ce, ok := c.(*etree.Element)
			if !ok {
				continue
			}
			for _, b := range before {
				if ce.Tag == b {
					p.InsertChildAt(i, el)
					return
				}
			}
		}
		p.AddChild(el)
	}
}

// attr sets an attribute of the root.
func attr(name, value string) edit {
	return func(t testing.TB, root *etree.Element) { root.CreateAttr(name, value) }
}

// seq groups edits into one.
func seq(edits ...edit) edit {
	return func(t testing.TB, root *etree.Element) {
		for _, e := range edits {
			e(t, root)
		}
	}
}

// Paths used by the cases.
const (
	dt     = "FatturaElettronicaHeader/DatiTrasmissione"
	ced    = "FatturaElettronicaHeader/CedentePrestatore/DatiAnagrafici"
	cess   = "FatturaElettronicaHeader/CessionarioCommittente/DatiAnagrafici"
	dgd    = "FatturaElettronicaBody/DatiGenerali/DatiGeneraliDocumento"
	dg     = "FatturaElettronicaBody/DatiGenerali"
	dbs    = "FatturaElettronicaBody/DatiBeniServizi"
	line1  = dbs + "/DettaglioLinee"
	riep1  = dbs + "/DatiRiepilogo"
	header = "FatturaElettronicaHeader"
)

// Elements that follow others in the schema, for ins.
var (
	afterLineRate = []string{"Ritenuta", "Natura", "RiferimentoAmministrazione", "AltriDatiGestionali"}
	afterDGDNum   = []string{"DatiRitenuta", "DatiBollo", "DatiCassaPrevidenziale", "ScontoMaggiorazione", "ImportoTotaleDocumento", "Arrotondamento", "Causale", "Art73"}
)

// Valid variants of the base, to change one thing in.
var (
	// zeroRated: the line and the summary at 0% with Natura N2.2.
	zeroRated = seq(set(line1+"/AliquotaIVA", "0.00"), ins(line1, "<Natura>N2.2</Natura>", afterLineRate[2:]...),
		set(riep1+"/AliquotaIVA", "0.00"), ins(riep1, "<Natura>N2.2</Natura>", "SpeseAccessorie", "Arrotondamento", "ImponibileImporto"),
		set(riep1+"/Imposta", "0.00"))
	// secondSummary adds a summary at the given rate and natura with zero amounts.
	secondSummary = func(rate, natura string) edit {
		n := ""
		if natura != "" {
			n = "<Natura>" + natura + "</Natura>"
		}
		return ins(dbs, "<DatiRiepilogo><AliquotaIVA>"+rate+"</AliquotaIVA>"+n+
			"<ImponibileImporto>0.00</ImponibileImporto><Imposta>0.00</Imposta></DatiRiepilogo>")
	}
	// secondLine adds a line at the given rate (and natura) worth total.
	secondLine = func(rate, natura, total string) edit {
		n := ""
		if natura != "" {
			n = "<Natura>" + natura + "</Natura>"
		}
		return ins(dbs, "<DettaglioLinee><NumeroLinea>2</NumeroLinea><Descrizione>ALTRO</Descrizione><PrezzoUnitario>"+total+
			"</PrezzoUnitario><PrezzoTotale>"+total+"</PrezzoTotale><AliquotaIVA>"+rate+"</AliquotaIVA>"+n+"</DettaglioLinee>", "DatiRiepilogo")
	}
	// cassa adds a cassa previdenziale at rate (with natura) worth 0.80 on 20.00, and
	// the summary that goes with it.
	cassa = func(rate, natura string) edit {
		n := ""
		if natura != "" {
			n = "<Natura>" + natura + "</Natura>"
		}
		c := ins(dgd, "<DatiCassaPrevidenziale><TipoCassa>TC22</TipoCassa><AlCassa>4.00</AlCassa><ImportoContributoCassa>0.80</ImportoContributoCassa>"+
			"<ImponibileCassa>20.00</ImponibileCassa><AliquotaIVA>"+rate+"</AliquotaIVA>"+n+"</DatiCassaPrevidenziale>", afterDGDNum[3:]...)
		if rate == "22.00" {
			return seq(c, set(riep1+"/ImponibileImporto", "20.80"), set(riep1+"/Imposta", "4.58"))
		}
		return seq(c, ins(dbs, "<DatiRiepilogo><AliquotaIVA>"+rate+"</AliquotaIVA>"+n+
			"<ImponibileImporto>0.80</ImponibileImporto><Imposta>0.00</Imposta></DatiRiepilogo>"))
	}
	ritenuta = ins(dgd, "<DatiRitenuta><TipoRitenuta>RT02</TipoRitenuta><ImportoRitenuta>4.00</ImportoRitenuta>"+
		"<AliquotaRitenuta>20.00</AliquotaRitenuta><CausalePagamento>A</CausalePagamento></DatiRitenuta>", afterDGDNum[1:]...)
	// buyerVAT sets the cessionario's IdFiscaleIVA.
	buyerVAT = func(paese, codice string) edit {
		return seq(set(cess+"/IdFiscaleIVA/IdPaese", paese), set(cess+"/IdFiscaleIVA/IdCodice", codice))
	}
	sellerVAT = func(paese, codice string) edit {
		return seq(set(ced+"/IdFiscaleIVA/IdPaese", paese), set(ced+"/IdFiscaleIVA/IdCodice", codice))
	}
	// buyerCFOnly replaces the cessionario's IdFiscaleIVA with a codice fiscale.
	buyerCFOnly = seq(del(cess+"/IdFiscaleIVA"), ins(cess, "<CodiceFiscale>RSSMRA85T10A562S</CodiceFiscale>", "Anagrafica"))
	// secondBody duplicates the body with another number.
	secondBody = func(numero, tipo string) edit {
		return func(t testing.TB, root *etree.Element) {
			b := find(t, root, "FatturaElettronicaBody").Copy()
			b.FindElement("./DatiGenerali/DatiGeneraliDocumento/Numero").SetText(numero)
			b.FindElement("./DatiGenerali/DatiGeneraliDocumento/TipoDocumento").SetText(tipo)
			root.AddChild(b)
		}
	}
)

// parseBuilt parses a built invoice.
func parseBuilt(t testing.TB, data []byte) *invoice.Invoice {
	t.Helper()
	inv, err := invoice.Parse(testName, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestBuilderBaseIsClean(t *testing.T) {
	b := string(build(t))
	if !strings.Contains(b, "<Numero>FT-1</Numero>") {
		t.Fatal("base not read")
	}
}
