package rules

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa/invoice"
)

const sampleDir = "../../../testdata/fatturapa/samples/"

func load(t testing.TB, file string) *invoice.Invoice {
	t.Helper()
	data, err := os.ReadFile(sampleDir + file)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invoice.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// fromYAML decodes rules the way a route file declares them.
func fromYAML(t testing.TB, src string) []RuleSpec {
	t.Helper()
	var doc struct {
		Prevalidation []RuleSpec `yaml:"prevalidation"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return doc.Prevalidation
}

func TestEvaluate(t *testing.T) {
	// FPA01: one body, TD01, CodiceDestinatario AAAAAA, cedente IT01234567890,
	// DatiOrdineAcquisto with IdDocumento 66685 and CIG/CUP in several blocks.
	// FPR03: a lot of two bodies without any CIG or CUP.
	cases := []struct {
		name  string
		file  string
		rules string
		want  []string // "rule@body:path-suffix"
	}{
		{"cig or cup present", "IT01234567890_FPA01.xml", `
prevalidation:
  - id: cig-cup
    when: {path: DatiGenerali/DatiGeneraliDocumento/TipoDocumento, equals: TD01}
    path: //CodiceCIG | //CodiceCUP
    required: true
    message: Manca CIG o CUP`, nil},
		{"cig or cup missing in each body of a lot", "IT01234567890_FPR03.xml", `
prevalidation:
  - id: cig-cup
    when: {path: DatiGenerali/DatiGeneraliDocumento/TipoDocumento, equals: TD01}
    path: //CodiceCIG | //CodiceCUP
    required: true
    message: Manca CIG o CUP`, []string{"cig-cup@1:FatturaElettronicaBody[1]", "cig-cup@2:FatturaElettronicaBody[2]"}},
		{"when does not hold", "IT01234567890_FPR03.xml", `
prevalidation:
  - id: cig-cup-td04
    when: {path: DatiGenerali/DatiGeneraliDocumento/TipoDocumento, one_of: [TD04, TD05]}
    path: //CodiceCIG
    required: true
    message: Manca il CIG`, nil},
		{"order id required and present", "IT01234567890_FPA01.xml", `
prevalidation:
  - id: ordine
    path: DatiGenerali/DatiOrdineAcquisto/IdDocumento
    required: true
    message: Manca il numero d'ordine`, nil},
		{"order id required, missing", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, []string{"ordine@1:FatturaElettronicaBody"}},
		{"office scope excludes", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    offices: [UFXXXX, "ABC9999"]
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, nil},
		{"office scope includes", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    offices: [abc1234]
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, []string{"ordine@1:FatturaElettronicaBody"}},
		{"exempt supplier with prefix", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    exempt_suppliers: ["IT01234567890"]
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, nil},
		{"exempt supplier without prefix", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    exempt_suppliers: ["01234567890"]
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, nil},
		{"another supplier is not exempt", "IT01234567890_FPR01.xml", `
prevalidation:
  - id: ordine
    exempt_suppliers: ["06363391001"]
    path: DatiGenerali/DatiOrdineAcquisto/CodiceCIG
    required: true
    message: Manca il CIG dell'ordine`, []string{"ordine@1:FatturaElettronicaBody"}},
		{"matches fails on the element", "IT01234567890_FPA01.xml", `
prevalidation:
  - id: cig-format
    path: //CodiceCIG
    matches: "[0-9A-Z]{10}"
    message: CIG di 10 caratteri`, []string{"cig-format@1:DatiOrdineAcquisto/CodiceCIG", "cig-format@1:DatiContratto/CodiceCIG",
			"cig-format@1:DatiConvenzione/CodiceCIG", "cig-format@1:DatiRicezione/CodiceCIG"}},
		{"positional and value predicates", "IT01234567890_FPA02.xml", `
prevalidation:
  - id: seconda-riga
    path: DatiBeniServizi/DettaglioLinee[2][NumeroLinea='2']/AliquotaIVA
    equals: "10.00"
    message: Aliquota attesa 10`, []string{"seconda-riga@1:DettaglioLinee[2]/AliquotaIVA"}},
		{"forbidden present", "IT01234567890_FPA01.xml", `
prevalidation:
  - id: no-trasporto
    path: DatiGenerali/DatiTrasporto
    forbidden: true
    message: Dati di trasporto non ammessi`, []string{"no-trasporto@1:DatiGenerali/DatiTrasporto"}},
		{"header path checked once per file", "IT01234567890_FPR03.xml", `
prevalidation:
  - id: destinatario
    path: /FatturaElettronica/FatturaElettronicaHeader/DatiTrasmissione/CodiceDestinatario
    one_of: [AAAAAA]
    message: Ufficio errato`, []string{"destinatario@1:DatiTrasmissione/CodiceDestinatario"}},
		{"predicate on the body", "IT01234567890_FPR03.xml", `
prevalidation:
  - id: pagamento
    path: .[DatiGenerali/DatiGeneraliDocumento/Numero='456']/DatiPagamento/DettaglioPagamento/ModalitaPagamento
    equals: MP05
    message: Solo bonifico`, []string{"pagamento@2:FatturaElettronicaBody[2]/DatiPagamento/DettaglioPagamento/ModalitaPagamento"}},
		{"not-equal predicate", "IT01234567890_FPR03.xml", `
prevalidation:
  - id: altri-numeri
    path: .[DatiGenerali/DatiGeneraliDocumento/Numero!='123']/DatiGenerali/DatiGeneraliDocumento/Numero
    forbidden: true
    message: Numero non previsto`, []string{"altri-numeri@2:FatturaElettronicaBody[2]/DatiGenerali/DatiGeneraliDocumento/Numero"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Compile(fromYAML(t, c.rules))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range rs.Evaluate(load(t, c.file)) {
				got = append(got, v.Rule+"@"+itoa(v.Body)+":"+v.Path)
				if v.Message == "" || v.Line < 1 {
					t.Errorf("violation without message or line: %+v", v)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("violations %v, want %v", got, c.want)
			}
			for i := range got {
				rule, suffix, _ := strings.Cut(c.want[i], ":")
				if !strings.HasPrefix(got[i], rule+":") || !strings.HasSuffix(got[i], suffix) {
					t.Fatalf("violations %v, want %v", got, c.want)
				}
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestCompileErrors(t *testing.T) {
	long := strings.Repeat("x", 256)
	cases := []struct {
		name, rules string
		want        []string
	}{
		{"no message", `[{id: a, path: //CodiceCIG, required: true}]`, []string{"regola 1 (a)", "manca message"}},
		{"long message", `[{id: a, path: //CodiceCIG, required: true, message: ` + long + `}]`, []string{"256 caratteri"}},
		{"no path", `[{id: a, required: true, message: m}]`, []string{"manca path"}},
		{"misspelt element", `[{id: a, path: //CodiceCig, required: true, message: m}]`, []string{`"CodiceCig" sconosciuto`}},
		{"bad syntax", `[{id: a, path: "DatiGenerali/[1]", required: true, message: m}]`, []string{"atteso un nome"}},
		{"unclosed predicate", `[{id: a, path: "DettaglioLinee[1", required: true, message: m}]`, []string{"manca ']'"}},
		{"unquoted value", `[{id: a, path: "DettaglioLinee[Natura=N2]", required: true, message: m}]`, []string{"tra apici"}},
		{"absolute not at root", `[{id: a, path: /FatturaElettronicaBody, required: true, message: m}]`, []string{"/FatturaElettronica"}},
		{"no requirement", `[{id: a, path: //CodiceCIG, message: m}]`, []string{"nessuna condizione"}},
		{"forbidden and required", `[{id: a, path: //CodiceCIG, forbidden: true, required: true, message: m}]`, []string{"forbidden esclude"}},
		{"two value tests", `[{id: a, path: //CodiceCIG, equals: x, matches: y, message: m}]`, []string{"uno solo"}},
		{"bad regexp", `[{id: a, path: //CodiceCIG, matches: "(", message: m}]`, []string{"espressione regolare"}},
		{"bad office", `[{id: a, path: //CodiceCIG, required: true, offices: [AB], message: m}]`, []string{"offices", "CodiceDestinatario"}},
		{"bad supplier", `[{id: a, path: //CodiceCIG, required: true, exempt_suppliers: ["IT 123-45"], message: m}]`, []string{"exempt_suppliers"}},
		{"when without path", `[{id: a, path: //CodiceCIG, required: true, when: {equals: TD01}, message: m}]`, []string{"when senza path"}},
		{"duplicate id", `[{id: a, path: //CodiceCIG, required: true, message: m}, {id: a, path: //CodiceCUP, required: true, message: m}]`, []string{"regola 2 (a)", "id ripetuto"}},
		{"all errors listed", `[{id: a, path: //X, required: true, message: m}, {id: b, path: //CodiceCUP, message: m}]`, []string{"regola 1 (a)", "regola 2 (b)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var specs []RuleSpec
			if err := yaml.Unmarshal([]byte(c.rules), &specs); err != nil {
				t.Fatal(err)
			}
			_, err := Compile(specs)
			if err == nil {
				t.Fatal("Compile accepted the rules")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "(") {
				t.Errorf("error %q lacks English", err)
			}
		})
	}
}

func TestEmptyRuleSet(t *testing.T) {
	rs, err := Compile(nil)
	if err != nil || rs.Len() != 0 || len(rs.Evaluate(load(t, "IT01234567890_FPA01.xml"))) != 0 {
		t.Fatalf("empty rule set: %v", err)
	}
	var nilSet *RuleSet
	if nilSet.Len() != 0 || nilSet.Evaluate(nil) != nil {
		t.Fatal("nil rule set")
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{"//CodiceCIG | //CodiceCUP", "DatiBeniServizi/DettaglioLinee[2][NumeroLinea='2']/AliquotaIVA",
		"/FatturaElettronica/FatturaElettronicaHeader", ".[DatiGenerali/DatiGeneraliDocumento/Numero!='1']", "a[", "[[", "p:FatturaElettronica"} {
		f.Add(s, "[0-9]+")
	}
	inv := load(f, "IT01234567890_FPA03.xml")
	f.Fuzz(func(t *testing.T, path, re string) {
		rs, err := Compile([]RuleSpec{{ID: "f", Path: path, Matches: re, Message: "m"}, {ID: "g", Path: path, Required: true, Message: "m",
			When: &ConditionSpec{Path: path}}})
		if err != nil {
			return
		}
		for _, v := range rs.Evaluate(inv) {
			if !slices.Contains([]string{"f", "g"}, v.Rule) || v.Line < 1 {
				t.Fatalf("bad violation %+v", v)
			}
		}
	})
}

func TestFromYAML(t *testing.T) {
	src := `passive:
  prevalidation:
    rules:
      - id: ok
        path: //CodiceCIG
        required: true
        message: Manca il CIG
      - id: typo
        pth: //CodiceCUP
        message: x
      - id: bad-when
        path: //CodiceCUP
        required: true
        when: {path: //TipoDocumento, eqals: TD01}
        message: x
      - id: bad-path
        path: //CodiceCug
        required: true
        message: x
`
	var doc struct {
		Passive struct {
			Prevalidation struct {
				Rules yaml.Node `yaml:"rules"`
			} `yaml:"prevalidation"`
		} `yaml:"passive"`
	}
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	rs, problems := FromYAML(&doc.Passive.Prevalidation.Rules)
	if rs != nil || len(problems) != 2 {
		t.Fatalf("problems %v", problems)
	}
	if problems[0].Line != 9 || !strings.Contains(problems[0].Msg, `"pth" sconosciuta`) {
		t.Errorf("first problem %+v", problems[0])
	}
	if problems[1].Line != 14 || !strings.Contains(problems[1].Msg, `"eqals"`) {
		t.Errorf("second problem %+v", problems[1])
	}
	// once the keys are right, the path is checked, on its rule's line
	fixed := strings.Replace(strings.Replace(src, "pth:", "path:", 1), "eqals", "equals", 1)
	fixed = strings.Replace(fixed, "path: //CodiceCUP\n        message: x", "path: //CodiceCUP\n        forbidden: true\n        message: x", 1)
	if err := yaml.Unmarshal([]byte(fixed), &doc); err != nil {
		t.Fatal(err)
	}
	rs, problems = FromYAML(&doc.Passive.Prevalidation.Rules)
	if rs != nil || len(problems) != 1 || problems[0].Line != 17 || !strings.Contains(problems[0].Msg, "regola 4 (bad-path)") {
		t.Fatalf("problems %v", problems)
	}
	empty, problems := FromYAML(&yaml.Node{})
	if empty == nil || empty.Len() != 0 || problems != nil {
		t.Fatal("empty node")
	}
	if _, problems := FromYAML(&yaml.Node{Kind: yaml.MappingNode, Line: 3}); len(problems) != 1 || problems[0].Line != 3 {
		t.Fatal("mapping instead of list")
	}
}
