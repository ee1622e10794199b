package fatturapa

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	sharedOnce sync.Once
	shared     *Validator
	sharedErr  error
)

// testValidator compiles the embedded schema once for all tests.
func testValidator(t testing.TB) *Validator {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = New(Config{}) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

var received = time.Date(2024, 6, 1, 10, 0, 0, 0, rome)

const testName = "IT01234567897_00001.xml"

// codes returns the distinct codes of a report, sorted.
func codes(r *Report) []string {
	var out []string
	for _, e := range r.Errors {
		if !slices.Contains(out, e.Code) {
			out = append(out, e.Code)
		}
	}
	sort.Strings(out)
	return out
}

// TestContentChecks runs, for every content check, a minimal invoice that fails
// exactly that code and one that passes, through the whole Validator (the schema
// included, so every test invoice is also valid against the XSD).
func TestContentChecks(t *testing.T) {
	cases := []struct {
		name  string
		edits []edit
		want  []string // nil: valid
	}{
		{"base", nil, nil},
		// 00313
		{"00313 XXXXXXX to an Italian buyer", []edit{set(dt+"/CodiceDestinatario", "XXXXXXX")}, []string{"00313"}},
		{"00313 pass: XXXXXXX to a foreign buyer", []edit{set(dt+"/CodiceDestinatario", "XXXXXXX"), buyerVAT("FR", "12345678901")}, nil},
		// 00330
		{"00330 PEC of the SdI", []edit{set(dt+"/CodiceDestinatario", "0000000"), ins(dt, "<PECDestinatario>sdi07@pec.fatturapa.it</PECDestinatario>")}, []string{"00330"}},
		{"00330 pass: PEC of the buyer", []edit{set(dt+"/CodiceDestinatario", "0000000"), ins(dt, "<PECDestinatario>beta@pec.it</PECDestinatario>")}, nil},
		// 00426
		{"00426 0000000 without PEC", []edit{set(dt+"/CodiceDestinatario", "0000000")}, []string{"00426"}},
		{"00426 PEC with a channel code", []edit{ins(dt, "<PECDestinatario>beta@pec.it</PECDestinatario>")}, []string{"00426"}},
		// 00427, 00428
		{"00427 6 characters with FPR12", []edit{set(dt+"/CodiceDestinatario", "UFABCD")}, []string{"00427"}},
		{"00427 7 characters with FPA12", []edit{attr("versione", "FPA12"), set(dt+"/FormatoTrasmissione", "FPA12")}, []string{"00427"}},
		{"00427 pass: FPA12 with 6 characters", []edit{attr("versione", "FPA12"), set(dt+"/FormatoTrasmissione", "FPA12"), set(dt+"/CodiceDestinatario", "UFABCD")}, nil},
		{"00428 versione differs", []edit{attr("versione", "FPA12")}, []string{"00428"}},
		// 00400, 00401 (line Natura)
		{"00400 zero rate without Natura", []edit{zeroRated, del(line1 + "/Natura")}, []string{"00400"}},
		{"00400 pass: zero rate with Natura", []edit{zeroRated}, nil},
		{"00401 Natura with a rate", []edit{secondSummary("0.00", "N2.2"), ins(line1, "<Natura>N2.2</Natura>", afterLineRate[2:]...)}, []string{"00401"}},
		{"00401 pass: TD16 may carry both", []edit{secondSummary("0.00", "N6.3"), set(dgd+"/TipoDocumento", "TD16"), ins(line1, "<Natura>N6.3</Natura>", afterLineRate[2:]...)}, nil},
		// 00403
		{"00403 dated after reception", []edit{set(dgd+"/Data", "2024-06-02")}, []string{"00403"}},
		{"00403 pass: dated the day of reception", []edit{set(dgd+"/Data", "2024-06-01")}, nil},
		// 00411, 00415
		{"00411 line with Ritenuta, no DatiRitenuta", []edit{ins(line1, "<Ritenuta>SI</Ritenuta>", afterLineRate...)}, []string{"00411"}},
		{"00411 pass: with DatiRitenuta", []edit{ins(line1, "<Ritenuta>SI</Ritenuta>", afterLineRate...), ritenuta}, nil},
		{"00415 cassa with Ritenuta, no DatiRitenuta", []edit{cassa("22.00", ""), ins(dgd+"/DatiCassaPrevidenziale", "<Ritenuta>SI</Ritenuta>")}, []string{"00415"}},
		{"00415 pass: with DatiRitenuta", []edit{cassa("22.00", ""), ins(dgd+"/DatiCassaPrevidenziale", "<Ritenuta>SI</Ritenuta>"), ritenuta}, nil},
		// 00413, 00414 (cassa Natura)
		{"00413 cassa at zero without Natura", []edit{cassa("0.00", "N4"), del(dgd + "/DatiCassaPrevidenziale/Natura")}, []string{"00413"}},
		{"00413 pass: cassa at zero with Natura", []edit{cassa("0.00", "N4")}, nil},
		{"00414 pass: cassa with a rate, no Natura", []edit{cassa("22.00", ""), secondSummary("0.00", "N4")}, nil},
		{"00414 cassa Natura with a rate", []edit{cassa("22.00", ""), secondSummary("0.00", "N4"), ins(dgd+"/DatiCassaPrevidenziale", "<Natura>N4</Natura>")}, []string{"00414"}},
		// 00417
		{"00417 buyer without identifiers", []edit{del(cess + "/IdFiscaleIVA")}, []string{"00417"}},
		{"00417 pass: buyer with codice fiscale only", []edit{buyerCFOnly}, nil},
		// 00418
		{"00418 pass: an invoice may predate its linked one", []edit{ins(dg, "<DatiFattureCollegate><IdDocumento>FT-0</IdDocumento><Data>2024-04-01</Data></DatiFattureCollegate>")}, nil},
		{"00418 credit note before its invoice", []edit{set(dgd+"/TipoDocumento", "TD04"),
			ins(dg, "<DatiFattureCollegate><IdDocumento>FT-0</IdDocumento><Data>2024-04-01</Data></DatiFattureCollegate>")}, []string{"00418"}},
		{"00418 pass: credit note after its invoice", []edit{set(dgd+"/TipoDocumento", "TD04"),
			ins(dg, "<DatiFattureCollegate><IdDocumento>FT-0</IdDocumento><Data>2024-03-01</Data></DatiFattureCollegate>")}, nil},
		// 00419 always comes with 00443: fewer summaries than rates leave a rate without one.
		{"00419 fewer summaries than rates", []edit{secondLine("10.00", "", "0.00")}, []string{"00419", "00443"}},
		{"00419 pass: a summary per rate", []edit{secondLine("10.00", "", "0.00"), secondSummary("10.00", "")}, nil},
		// 00420
		{"00420 reverse charge with split payment", []edit{zeroRated, set(line1+"/Natura", "N6.1"), set(riep1+"/Natura", "N6.1"), set(riep1+"/EsigibilitaIVA", "S")}, []string{"00420"}},
		{"00420 pass: reverse charge, immediate", []edit{zeroRated, set(line1+"/Natura", "N6.1"), set(riep1+"/Natura", "N6.1")}, nil},
		// 00421, 00422, 00423
		{"00421 Imposta wrong", []edit{set(riep1+"/Imposta", "4.50")}, []string{"00421"}},
		{"00421 pass: one cent off", []edit{set(riep1+"/Imposta", "4.41")}, nil},
		{"00422 ImponibileImporto wrong", []edit{set(riep1+"/ImponibileImporto", "22.00"), set(riep1+"/Imposta", "4.84")}, []string{"00422"}},
		{"00422 pass: one euro off", []edit{set(riep1+"/ImponibileImporto", "21.00"), set(riep1+"/Imposta", "4.62")}, nil},
		{"00422 pass: Arrotondamento counts", []edit{set(riep1+"/ImponibileImporto", "23.00"), set(riep1+"/Imposta", "5.06"),
			ins(riep1, "<Arrotondamento>3.00</Arrotondamento>", "ImponibileImporto")}, nil},
		{"00423 PrezzoTotale wrong", []edit{set(line1+"/PrezzoTotale", "21.00")}, []string{"00423"}},
		{"00423 pass: discount by percentage", []edit{ins(line1, "<ScontoMaggiorazione><Tipo>SC</Tipo><Percentuale>10.00</Percentuale></ScontoMaggiorazione>", "PrezzoTotale"),
			set(line1+"/PrezzoTotale", "18.00"), set(riep1+"/ImponibileImporto", "18.00"), set(riep1+"/Imposta", "3.96")}, nil},
		// 00424
		{"00424 pass: a rate of 1%", []edit{set(line1+"/AliquotaIVA", "1.00"), set(riep1+"/AliquotaIVA", "1.00"), set(riep1+"/Imposta", "0.20")}, nil},
		{"00424 rate as a fraction", []edit{set(line1+"/AliquotaIVA", "0.22"), set(riep1+"/AliquotaIVA", "0.22"), set(riep1+"/Imposta", "0.04")}, []string{"00424"}},
		// 00425
		{"00425 pass: one digit is enough", []edit{set(dgd+"/Numero", "FT-A1")}, nil},
		{"00425 number without digits", []edit{set(dgd+"/Numero", "FT-A")}, []string{"00425"}},
		// 00429, 00430 (summary Natura)
		{"00429 pass: zero summary with Natura", []edit{secondSummary("0.00", "N2.2")}, nil},
		{"00429 zero summary without Natura", []edit{secondSummary("0.00", "")}, []string{"00429"}},
		{"00430 pass: TD16 may carry both", []edit{set(dgd+"/TipoDocumento", "TD16"), ins(riep1, "<Natura>N6.3</Natura>", "ImponibileImporto")}, nil},
		{"00430 summary Natura with a rate", []edit{ins(riep1, "<Natura>N2.2</Natura>", "ImponibileImporto")}, []string{"00430"}},
		// 00437, 00438
		{"00437 document discount without amount", []edit{ins(dgd, "<ScontoMaggiorazione><Tipo>SC</Tipo></ScontoMaggiorazione>")}, []string{"00437"}},
		{"00437 pass: document discount with amount", []edit{ins(dgd, "<ScontoMaggiorazione><Tipo>SC</Tipo><Importo>1.00</Importo></ScontoMaggiorazione>")}, nil},
		{"00438 pass: line discount by amount", []edit{ins(line1, "<ScontoMaggiorazione><Tipo>SC</Tipo><Importo>1.00</Importo></ScontoMaggiorazione>", "PrezzoTotale"),
			set(line1+"/PrezzoTotale", "18.00"), set(riep1+"/ImponibileImporto", "18.00"), set(riep1+"/Imposta", "3.96")}, nil},
		{"00438 line discount without amount", []edit{ins(line1, "<ScontoMaggiorazione><Tipo>SC</Tipo></ScontoMaggiorazione>", "PrezzoTotale")}, []string{"00438"}},
		// 00443, 00444
		{"00443 pass: every rate summarised", []edit{secondLine("10.00", "", "0.00"), secondSummary("10.00", "")}, nil},
		{"00443 line rate without summary", []edit{secondLine("10.00", "", "0.00"), secondSummary("22.00", "")}, []string{"00443"}},
		{"00444 line Natura without summary", []edit{zeroRated, secondLine("0.00", "N2.1", "0.00")}, []string{"00444"}},
		{"00444 pass: each Natura summarised", []edit{zeroRated, secondLine("0.00", "N2.1", "0.00"), secondSummary("0.00", "N2.1")}, nil},
		// 00445
		{"00445 pass: N2.2", []edit{zeroRated}, nil},
		{"00445 generic N2", []edit{zeroRated, set(line1+"/Natura", "N2"), set(riep1+"/Natura", "N2")}, []string{"00445"}},
		// 00471-00476
		{"00471 TD01 to oneself", []edit{buyerVAT("IT", "01234567897")}, []string{"00471"}},
		{"00471 pass: TD27 to oneself", []edit{buyerVAT("IT", "01234567897"), set(dgd+"/TipoDocumento", "TD27")}, nil},
		{"00472 pass: TD27 to oneself", []edit{set(dgd+"/TipoDocumento", "TD27"), buyerVAT("IT", "01234567897")}, nil},
		{"00472 TD27 to another", []edit{set(dgd+"/TipoDocumento", "TD27")}, []string{"00472"}},
		{"00473 TD17 from an Italian seller", []edit{set(dgd+"/TipoDocumento", "TD17")}, []string{"00473"}},
		{"00473 pass: TD17 from a foreign seller", []edit{set(dgd+"/TipoDocumento", "TD17"), sellerVAT("FR", "12345678901")}, nil},
		{"00474 TD21 with a zero line", []edit{zeroRated, set(dgd+"/TipoDocumento", "TD21"), buyerVAT("IT", "01234567897")}, []string{"00474"}},
		{"00474 pass: TD21 with rated lines", []edit{set(dgd+"/TipoDocumento", "TD21"), buyerVAT("IT", "01234567897")}, nil},
		{"00475 TD16 without the buyer's VAT id", []edit{set(dgd+"/TipoDocumento", "TD16"), buyerCFOnly}, []string{"00475"}},
		{"00475 pass: TD16 with it", []edit{set(dgd+"/TipoDocumento", "TD16")}, nil},
		{"00476 both parties foreign", []edit{sellerVAT("FR", "12345678901"), buyerVAT("DE", "123456789")}, []string{"00476"}},
		{"00476 pass: foreign seller, Italian buyer", []edit{sellerVAT("FR", "12345678901")}, nil},
		// identifiers (check digits; the registry lookups are the SdI's)
		{"00300 transmitter id", []edit{set(dt+"/IdTrasmittente/IdCodice", "01234567890")}, []string{"00300"}},
		{"00300 pass: transmitter codice fiscale", []edit{set(dt+"/IdTrasmittente/IdCodice", "RSSMRA85T10A562S")}, nil},
		{"00301 seller partita IVA", []edit{sellerVAT("IT", "01234567890")}, []string{"00301"}},
		{"00302 pass: seller codice fiscale", []edit{ins(ced, "<CodiceFiscale>RSSMRA85T10A562S</CodiceFiscale>", "Anagrafica")}, nil},
		{"00302 seller codice fiscale", []edit{ins(ced, "<CodiceFiscale>RSSMRA85T10A562X</CodiceFiscale>", "Anagrafica")}, []string{"00302"}},
		{"00303 and 00304 pass: tax representative", []edit{ins(header, "<RappresentanteFiscale><DatiAnagrafici><IdFiscaleIVA><IdPaese>IT</IdPaese><IdCodice>06363391001</IdCodice></IdFiscaleIVA>"+
			"<CodiceFiscale>06363391001</CodiceFiscale><Anagrafica><Denominazione>GAMMA</Denominazione></Anagrafica></DatiAnagrafici></RappresentanteFiscale>", "CessionarioCommittente")}, nil},
		{"00303 tax representative partita IVA", []edit{ins(header, "<RappresentanteFiscale><DatiAnagrafici><IdFiscaleIVA><IdPaese>IT</IdPaese><IdCodice>06363391000</IdCodice></IdFiscaleIVA>"+
			"<Anagrafica><Denominazione>GAMMA</Denominazione></Anagrafica></DatiAnagrafici></RappresentanteFiscale>", "CessionarioCommittente")}, []string{"00303"}},
		{"00304 tax representative codice fiscale", []edit{ins(header, "<RappresentanteFiscale><DatiAnagrafici><IdFiscaleIVA><IdPaese>IT</IdPaese><IdCodice>06363391001</IdCodice></IdFiscaleIVA>"+
			"<CodiceFiscale>0636339100A</CodiceFiscale><Anagrafica><Denominazione>GAMMA</Denominazione></Anagrafica></DatiAnagrafici></RappresentanteFiscale>", "CessionarioCommittente")}, []string{"00304"}},
		{"00305 pass: foreign buyer id is not checked", []edit{buyerVAT("FR", "12345678901")}, nil},
		{"00305 buyer partita IVA", []edit{buyerVAT("IT", "12345678901")}, []string{"00305"}},
		{"00306 buyer codice fiscale", []edit{buyerCFOnly, set(cess+"/CodiceFiscale", "RSSMRA85T10A562X")}, []string{"00306"}},
		{"00306 pass: numeric codice fiscale of an entity", []edit{buyerCFOnly, set(cess+"/CodiceFiscale", "80012345676")}, nil},
		// 00409
		{"00409 same number twice in the lot", []edit{secondBody("FT-1", "TD01")}, []string{"00409"}},
		{"00409 pass: a credit note may share the number", []edit{secondBody("FT-1", "TD04")}, nil},
		{"00409 pass: another number", []edit{secondBody("FT-2", "TD01")}, nil},
	}
	v := testValidator(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := build(t, c.edits...)
			r := v.Validate(context.Background(), testName, doc, Options{ReceivedAt: received})
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			got := codes(r)
			if !slices.Equal(got, c.want) {
				t.Fatalf("codes %v, want %v\n%s", got, c.want, dumpErrors(r))
			}
			if r.Valid != (c.want == nil) {
				t.Fatalf("Valid = %v with codes %v", r.Valid, got)
			}
			for _, e := range r.Errors {
				if e.Message == "" || !strings.HasPrefix(e.Message, Description(e.Code)) {
					t.Errorf("%s: message %q does not start with the SdI's text", e.Code, e.Message)
				}
				if e.Line < 1 || !strings.HasPrefix(e.Path, "/FatturaElettronica/") {
					t.Errorf("%s: no element location (path %q line %d)", e.Code, e.Path, e.Line)
				}
			}
		})
	}
}

func dumpErrors(r *Report) string {
	var b strings.Builder
	for _, e := range r.Errors {
		b.WriteString("  " + e.Code + " " + e.Path + " " + e.Message + "\n")
	}
	return b.String()
}

// TestLocations checks that errors point at the element at fault.
func TestLocations(t *testing.T) {
	doc := build(t, set(line1+"/PrezzoTotale", "21.00"), secondBody("FT-1", "TD01"))
	r := testValidator(t).Validate(context.Background(), testName, doc, Options{ReceivedAt: received})
	want := map[string]string{
		"00423": "/FatturaElettronica/FatturaElettronicaBody[1]/DatiBeniServizi/DettaglioLinee/PrezzoTotale",
		"00409": "/FatturaElettronica/FatturaElettronicaBody[2]/DatiGenerali/DatiGeneraliDocumento/Numero",
	}
	lines := strings.Split(string(doc), "\n")
	for _, e := range r.Errors {
		p, ok := want[e.Code]
		if !ok {
			continue
		}
		delete(want, e.Code)
		if e.Path != p {
			t.Errorf("%s path %q, want %q", e.Code, e.Path, p)
		}
		el := p[strings.LastIndexByte(p, '/')+1:]
		if e.Line < 1 || e.Line > len(lines) || !strings.Contains(lines[e.Line-1], "<"+el+">") {
			t.Errorf("%s line %d does not hold <%s>", e.Code, e.Line, el)
		}
	}
	if len(want) > 0 {
		t.Fatalf("missing errors %v in %s", want, dumpErrors(r))
	}
}

// TestPrezzoTotaleCascade follows the worked examples of the Elenco dei controlli v2.0
// (00423): discounts in cascade by amount, by percentage, and mixed.
func TestPrezzoTotaleCascade(t *testing.T) {
	sc := func(pct, imp string) string {
		s := "<ScontoMaggiorazione><Tipo>SC</Tipo>"
		if pct != "" {
			s += "<Percentuale>" + pct + "</Percentuale>"
		}
		if imp != "" {
			s += "<Importo>" + imp + "</Importo>"
		}
		return s + "</ScontoMaggiorazione>"
	}
	line := func(total string, discounts ...string) []edit {
		e := []edit{set(line1+"/Quantita", "100.00"), set(line1+"/PrezzoUnitario", "500.00"), set(line1+"/PrezzoTotale", total)}
		for _, d := range discounts {
			e = append(e, ins(line1, d, "PrezzoTotale"))
		}
		return e
	}
	cases := []struct {
		name   string
		edits  []edit
		passes bool
	}{
		{"caso 1: amounts", line("48000.00", sc("", "10.05"), sc("", "5.25"), sc("", "4.70")), true},
		{"caso 1 wrong", line("48000.50", sc("", "10.05"), sc("", "5.25"), sc("", "4.70")), false},
		{"caso 2: percentages", line("42092.05875", sc("8.50", ""), sc("5.15", ""), sc("3.00", "")), true},
		{"caso 2 rounded down", line("42092.05", sc("8.50", ""), sc("5.15", ""), sc("3.00", "")), true},
		{"caso 2 rounded up", line("42092.06", sc("8.50", ""), sc("5.15", ""), sc("3.00", "")), true},
		{"caso 2 off by two cents", line("42092.08", sc("8.50", ""), sc("5.15", ""), sc("3.00", "")), false},
		{"caso 3: mixed, Importo wins", line("41056.12", sc("8.50", ""), sc("5.15", "23.56"), sc("", "15.00"), sc("2.00", "")), true},
		{"maggiorazione", line("50100.00", "<ScontoMaggiorazione><Tipo>MG</Tipo><Importo>1.00</Importo></ScontoMaggiorazione>"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := parseBuilt(t, build(t, c.edits...))
			var got []string
			for _, e := range CheckContent(inv, CheckOptions{ReceivedAt: received}) {
				if e.Code == "00423" {
					got = append(got, e.Message)
				}
			}
			if (len(got) == 0) != c.passes {
				t.Fatalf("00423 errors %v, want passes=%v", got, c.passes)
			}
		})
	}
}

// TestCheckOptions covers the switches of the content checks.
func TestCheckOptions(t *testing.T) {
	inv := parseBuilt(t, build(t, sellerVAT("IT", "01234567890"), zeroRated, set(line1+"/Natura", "N2"), set(riep1+"/Natura", "N2")))
	all := CheckContent(inv, CheckOptions{ReceivedAt: received})
	if !hasCode(all, "00301") || !hasCode(all, "00445") {
		t.Fatalf("expected 00301 and 00445, got %v", all)
	}
	skipped := CheckContent(inv, CheckOptions{ReceivedAt: received, SkipTaxIDs: true})
	if hasCode(skipped, "00301") {
		t.Fatal("SkipTaxIDs did not skip 00301")
	}
	old := CheckContent(inv, CheckOptions{ReceivedAt: time.Date(2020, 12, 31, 12, 0, 0, 0, rome), SkipTaxIDs: true})
	if hasCode(old, "00445") {
		t.Fatal("00445 applied to a file received before 2021")
	}
}

func hasCode(errs []Error, code string) bool {
	for _, e := range errs {
		if e.Code == code {
			return true
		}
	}
	return false
}

func TestInvoiceKeyDuplicates(t *testing.T) {
	k := func(td, num, data string, art73 bool) InvoiceKey {
		return InvoiceKey{Cedente: "IT01234567897", TipoDocumento: td, Numero: num, Data: data, Art73: art73}
	}
	cases := []struct {
		name   string
		a, b   InvoiceKey
		expect bool
	}{
		{"same number and year", k("TD01", "1", "2024-03-01", false), k("TD01", "1", "2024-09-01", false), true},
		{"another year", k("TD01", "1", "2024-03-01", false), k("TD01", "1", "2023-03-01", false), false},
		{"another number", k("TD01", "1", "2024-03-01", false), k("TD01", "2", "2024-03-01", false), false},
		{"TD04 beside TD01", k("TD04", "1", "2024-03-01", false), k("TD01", "1", "2024-03-01", false), false},
		{"TD04 twice", k("TD04", "1", "2024-03-01", false), k("TD04", "1", "2024-05-01", false), true},
		{"TD01 and TD02 share the key", k("TD02", "1", "2024-03-01", false), k("TD01", "1", "2024-05-01", false), true},
		{"Art73: other date", k("TD01", "1", "2024-03-01", true), k("TD01", "1", "2024-03-02", false), false},
		{"Art73: same date", k("TD01", "1", "2024-03-01", true), k("TD01", "1", "2024-03-01", false), true},
		{"another seller", k("TD01", "1", "2024-03-01", false), InvoiceKey{Cedente: "IT06363391001", TipoDocumento: "TD01", Numero: "1", Data: "2024-03-01"}, false},
	}
	for _, c := range cases {
		if got := c.a.Duplicates(c.b); got != c.expect {
			t.Errorf("%s: Duplicates = %v", c.name, got)
		}
	}
	// self-billing: the key is the cessionario's
	inv := parseBuilt(t, build(t, ins(header, "<SoggettoEmittente>CC</SoggettoEmittente>")))
	if keys := Keys(inv); len(keys) != 1 || keys[0].Cedente != "IT12345678903" || keys[0].Numero != "FT-1" {
		t.Fatalf("Keys with SoggettoEmittente CC = %+v", keys)
	}
}
