package invoice

import (
	"errors"
	"os"
	"slices"
	"testing"

	"snodo/pkg/fatturapa/xmltree"
)

const samples = "../../../testdata/fatturapa/samples/"

func parseSample(t testing.TB, file string) *Invoice {
	t.Helper()
	data, err := os.ReadFile(samples + file)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestParseLot(t *testing.T) {
	inv := parseSample(t, "IT01234567890_FPA03.xml")
	h := inv.Header
	if inv.Versione != "FPA12" || inv.Namespace != Namespace12 || h.FormatoTrasmissione != "FPA12" || h.CodiceDestinatario != "AAAAAA" || h.ProgressivoInvio != "00001" {
		t.Fatalf("header: %+v", h)
	}
	if h.IdTrasmittente.String() != "IT01234567890" || h.Cedente.IdFiscaleIVA.String() != "IT01234567890" || h.Cedente.Name() != "ALPHA SRL" || h.Cedente.RegimeFiscale != "RF01" {
		t.Fatalf("cedente: %+v", h.Cedente)
	}
	if h.Cessionario.IdFiscaleIVA.Present() || h.Cessionario.CodiceFiscale != "09876543210" || h.Cessionario.Name() != "AMMINISTRAZIONE BETA" || h.Cessionario.Nazione != "IT" {
		t.Fatalf("cessionario: %+v", h.Cessionario)
	}
	if len(inv.Bodies) != 2 {
		t.Fatalf("%d bodies", len(inv.Bodies))
	}
	b := inv.Bodies[0]
	if b.Position != 1 || b.TipoDocumento != "TD01" || b.Numero != "12" || b.Data != "2017-01-18" || b.Year() != "2017" || b.Divisa != "EUR" || len(b.Causale) != 2 {
		t.Fatalf("body 1: %+v", b)
	}
	if len(b.Linee) != 2 || b.Linee[1].PrezzoTotale != "20.00" || b.Linee[1].Quantita != "10.00" || b.Linee[0].Node.Line != 104 {
		t.Fatalf("lines: %+v", b.Linee)
	}
	if len(b.Riepiloghi) != 1 || b.Riepiloghi[0].Imposta != "5.50" || b.Riepiloghi[0].EsigibilitaIVA != "I" {
		t.Fatalf("riepiloghi: %+v", b.Riepiloghi)
	}
	if len(b.Pagamenti) != 1 || b.Pagamenti[0].CondizioniPagamento != "TP01" || b.Pagamenti[0].Dettagli[0].ImportoPagamento != "30.50" {
		t.Fatalf("pagamenti: %+v", b.Pagamenti)
	}
	if !slices.Equal(b.CIGs(), []string{"456def", "456def", "456def", "456def"}) || len(b.CUPs()) != 4 || b.DatiOrdineAcquisto[0].IdDocumento != "66685" {
		t.Fatalf("CIG %v CUP %v", b.CIGs(), b.CUPs())
	}
	if b2 := inv.Bodies[1]; b2.Position != 2 || b2.Numero != "456" || b2.Node.Path() != "/FatturaElettronica/FatturaElettronicaBody[2]" {
		t.Fatalf("body 2: %+v", b2)
	}
}

func TestParseParties(t *testing.T) {
	inv := parseSample(t, "signed/IT01234567890_11111.xml") // FatturaPA 1.1: StabileOrganizzazione, contacts
	if inv.Namespace == Namespace12 || inv.Header.Cedente.Name() == "" {
		t.Fatalf("1.1 sample: %q %+v", inv.Namespace, inv.Header.Cedente)
	}
	p := Party{Nome: "Mario", Cognome: "Rossi"}
	if p.Name() != "Mario Rossi" || (Party{Cognome: "Rossi"}).Name() != "Rossi" {
		t.Fatal("Party.Name")
	}
}

func TestNotAnInvoice(t *testing.T) {
	_, err := Parse("x.xml", []byte(`<?xml version="1.0"?><p:NotificaScarto xmlns:p="urn:x"/>`))
	var ie *Error
	if !errors.As(err, &ie) || ie.Line != 1 {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse("x.xml", []byte(`<a>`))
	var se *xmltree.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParse feeds arbitrary documents: never a panic, whatever is missing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"IT01234567890_FPA03.xml", "IT01234567890_FPR02.xml"} {
		if data, err := os.ReadFile(samples + s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`<FatturaElettronica><FatturaElettronicaBody/><FatturaElettronicaHeader><CedentePrestatore/></FatturaElettronicaHeader></FatturaElettronica>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse("fuzz.xml", data)
		if err != nil {
			return
		}
		for _, b := range inv.Bodies {
			_, _, _ = b.CIGs(), b.CUPs(), b.Year()
		}
		_ = inv.Header.Cedente.Name()
	})
}
