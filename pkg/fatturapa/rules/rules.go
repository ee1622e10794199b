// Package rules is an ente's pre-validation of the invoices it receives (IntermediaMarche's
// "Pre-Validazione Campi Opzionali"): conditions on fields the FatturaPA leaves optional
// that this ente needs (a CIG or CUP, an order reference), each with the Italian
// message that goes into the rejection (EC02) the hub sends to the SdI on the ente's
// behalf when the invoice fails it.
//
// Rules are declared in the ente's route file and decoded into []RuleSpec:
//
//	prevalidation:
//	  - id: cig-o-cup
//	    when: {path: DatiGenerali/DatiGeneraliDocumento/TipoDocumento, equals: TD01}
//	    path: //CodiceCIG | //CodiceCUP
//	    required: true
//	    message: "Fattura priva di CIG o CUP: indicarli in DatiOrdineAcquisto o DatiContratto"
//	  - id: ordine
//	    offices: [UFABCD]
//	    exempt_suppliers: ["IT01234567897"]
//	    path: DatiGenerali/DatiOrdineAcquisto/IdDocumento
//	    required: true
//	    message: "Indicare il numero d'ordine in DatiOrdineAcquisto/IdDocumento"
//
// A rule is checked on each invoice of the file (each FatturaElettronicaBody of a lot)
// on its own. It applies when the file's CodiceDestinatario is in offices (when given),
// the cedente is not among exempt_suppliers (partite IVA, with or without the country
// prefix, or codici fiscali) and its when condition holds (when given). It then
// requires, of the elements path selects (see the path language in path.go):
//
//	required: true    at least one, with a value
//	forbidden: true   none
//	equals: V         each has value V
//	matches: RE       each value matches the regular expression RE, whole (RE2 syntax)
//	one_of: [A, B]    each value is one of these
//
// required combines with equals, matches and one_of (present and right); without it
// those three accept an absent element. A when condition has a path and at most one of
// equals, matches, one_of (none: the element exists); it holds when one selected
// element satisfies it. Compile checks every rule, names the rule (position and id) and
// says how to fix it; "snodo routes check" runs it.
package rules

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa/invoice"
	"snodo/pkg/fatturapa/xmltree"
)

// MaxMessage is the longest message a rule may carry: the Descrizione of an
// EsitoCommittente holds 255 characters.
const MaxMessage = 255

// RuleSpec is one rule as declared in a route file.
type RuleSpec struct {
	// ID names the rule in reports and logs; unique within the ente.
	ID string `yaml:"id"`
	// Description is a note for whoever maintains the route file.
	Description string `yaml:"description,omitempty"`
	// Path selects the elements the rule is about.
	Path string `yaml:"path"`
	// Exactly one kind of requirement: Required (alone or with one of Equals, Matches,
	// OneOf), Forbidden, or one of Equals, Matches, OneOf.
	Required  bool     `yaml:"required,omitempty"`
	Forbidden bool     `yaml:"forbidden,omitempty"`
	Equals    *string  `yaml:"equals,omitempty"`
	Matches   string   `yaml:"matches,omitempty"`
	OneOf     []string `yaml:"one_of,omitempty"`
	// When restricts the rule to invoices where the condition holds.
	When *ConditionSpec `yaml:"when,omitempty"`
	// Offices restricts the rule to files addressed to these CodiceDestinatario.
	Offices []string `yaml:"offices,omitempty"`
	// ExemptSuppliers lists cedenti the rule does not apply to: partite IVA ("IT" prefix
	// optional) or codici fiscali.
	ExemptSuppliers []string `yaml:"exempt_suppliers,omitempty"`
	// Message is the Italian text of the rejection (EC02 Descrizione), at most 255
	// characters.
	Message string `yaml:"message"`
}

// ConditionSpec is the when of a rule.
type ConditionSpec struct {
	Path    string   `yaml:"path"`
	Equals  *string  `yaml:"equals,omitempty"`
	Matches string   `yaml:"matches,omitempty"`
	OneOf   []string `yaml:"one_of,omitempty"`
}

// RuleSet is a compiled list of rules, safe for concurrent use.
type RuleSet struct {
	rules []*rule
}

type rule struct {
	id      string
	path    *expr
	kind    string // required, forbidden, value
	value   *valueTest
	when    *expr
	whenVal *valueTest
	offices map[string]bool
	exempt  map[string]bool
	message string
}

// valueTest is one of equals, matches, one_of.
type valueTest struct {
	equals *string
	re     *regexp.Regexp
	oneOf  map[string]bool
	desc   string
}

func (t *valueTest) ok(v string) bool {
	switch {
	case t.equals != nil:
		return v == *t.equals
	case t.re != nil:
		return t.re.MatchString(v)
	default:
		return t.oneOf[v]
	}
}

// Violation is a rule an invoice fails.
type Violation struct {
	Rule    string // the rule's id
	Message string // the rule's message
	Path    string // the element at fault, or the invoice body when an element is missing
	Line    int
	Body    int    // 1-based position of the invoice in the file
	Numero  string // the invoice number
}

// Len is the number of rules.
func (rs *RuleSet) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Compile checks and compiles specs. The error lists every faulty rule.
func Compile(specs []RuleSpec) (*RuleSet, error) {
	rs := &RuleSet{}
	var errs []error
	ids := map[string]int{}
	for i, s := range specs {
		r, err := compileRule(i, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := ids[r.id]; dup {
			errs = append(errs, fmt.Errorf("rules: regola %d (%s): id ripetuto, già usato dalla regola %d: dare un id diverso (duplicate id, already used by rule %d)",
				i+1, r.id, prev, prev))
			continue
		}
		ids[r.id] = i + 1
		rs.rules = append(rs.rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rs, nil
}

func compileRule(i int, s RuleSpec) (*rule, error) {
	id := strings.TrimSpace(s.ID)
	label := fmt.Sprintf("regola %d", i+1)
	if id != "" {
		label += " (" + id + ")"
	} else {
		id = fmt.Sprintf("regola-%d", i+1)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("rules: %s: %s", label, fmt.Sprintf(format, args...))
	}
	r := &rule{id: id}
	// message
	msg := strings.TrimSpace(s.Message)
	switch {
	case msg == "":
		return nil, bad("manca message: il testo italiano del rifiuto (EC02) (message is required: the Italian text of the rejection)")
	case utf8.RuneCountInString(msg) > MaxMessage:
		return nil, bad("message di %d caratteri oltre i %d della Descrizione dell'esito: accorciarlo (message longer than %d characters)",
			utf8.RuneCountInString(msg), MaxMessage, MaxMessage)
	case !utf8.ValidString(msg):
		return nil, bad("message non è UTF-8 valido (message is not valid UTF-8)")
	}
	r.message = msg
	// path
	if strings.TrimSpace(s.Path) == "" {
		return nil, bad("manca path: l'elemento a cui si applica la regola, es. DatiGenerali/DatiOrdineAcquisto/IdDocumento (path is required)")
	}
	var err error
	if r.path, err = parseExpr(s.Path); err != nil {
		return nil, bad("path %q: %v", s.Path, err)
	}
	// requirement
	vt, err := compileValue(s.Equals, s.Matches, s.OneOf)
	if err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case s.Forbidden && (s.Required || vt != nil):
		return nil, bad("forbidden esclude required, equals, matches e one_of: lasciarne uno (forbidden excludes the others)")
	case s.Forbidden:
		r.kind = "forbidden"
	case s.Required:
		r.kind, r.value = "required", vt
	case vt != nil:
		r.kind, r.value = "value", vt
	default:
		return nil, bad("nessuna condizione: indicare required, forbidden, equals, matches o one_of (no requirement given)")
	}
	// when
	if s.When != nil {
		if strings.TrimSpace(s.When.Path) == "" {
			return nil, bad("when senza path (when needs a path)")
		}
		if r.when, err = parseExpr(s.When.Path); err != nil {
			return nil, bad("when.path %q: %v", s.When.Path, err)
		}
		if r.whenVal, err = compileValue(s.When.Equals, s.When.Matches, s.When.OneOf); err != nil {
			return nil, bad("when: %v", err)
		}
	}
	// scope
	if len(s.Offices) > 0 {
		r.offices = map[string]bool{}
		for _, o := range s.Offices {
			o = strings.ToUpper(strings.TrimSpace(o))
			if len(o) != 6 && len(o) != 7 || !alnum(o) {
				return nil, bad("offices: %q non è un CodiceDestinatario (6 o 7 lettere o cifre) (not a CodiceDestinatario)", o)
			}
			r.offices[o] = true
		}
	}
	if len(s.ExemptSuppliers) > 0 {
		r.exempt = map[string]bool{}
		for _, e := range s.ExemptSuppliers {
			e = strings.ToUpper(strings.TrimSpace(e))
			if len(e) < 2 || len(e) > 30 || !alnum(e) {
				return nil, bad("exempt_suppliers: %q non è una partita IVA o un codice fiscale (not a VAT number or codice fiscale)", e)
			}
			r.exempt[e] = true
		}
	}
	return r, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func compileValue(equals *string, matches string, oneOf []string) (*valueTest, error) {
	n := 0
	if equals != nil {
		n++
	}
	if matches != "" {
		n++
	}
	if len(oneOf) > 0 {
		n++
	}
	switch {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, errors.New("indicare uno solo tra equals, matches e one_of (give only one of equals, matches, one_of)")
	case equals != nil:
		return &valueTest{equals: equals, desc: fmt.Sprintf("= %q", *equals)}, nil
	case matches != "":
		re, err := regexp.Compile("^(?:" + matches + ")$")
		if err != nil {
			return nil, fmt.Errorf("matches %q non è un'espressione regolare valida (RE2): %v (invalid regular expression)", matches, err)
		}
		return &valueTest{re: re, desc: "~ " + matches}, nil
	default:
		m := map[string]bool{}
		for _, v := range oneOf {
			m[v] = true
		}
		return &valueTest{oneOf: m, desc: "in " + strings.Join(oneOf, ",")}, nil
	}
}

// Evaluate checks every invoice of inv against every rule and returns the violations,
// ordered by invoice and line.
func (rs *RuleSet) Evaluate(inv *invoice.Invoice) []Violation {
	if rs == nil || inv == nil {
		return nil
	}
	var out []Violation
	office := strings.ToUpper(inv.Header.CodiceDestinatario)
	for _, r := range rs.rules {
		if r.offices != nil && !r.offices[office] {
			continue
		}
		if r.exempt != nil && exempt(r.exempt, inv.Header.Cedente) {
			continue
		}
		seen := map[string]bool{} // a rule on the header fails once, not once per body
		for _, b := range inv.Bodies {
			for _, v := range r.check(inv.Root, b) {
				key := v.Path
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, v)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Body != out[j].Body {
			return out[i].Body < out[j].Body
		}
		return out[i].Line < out[j].Line
	})
	return out
}

func exempt(list map[string]bool, p invoice.Party) bool {
	id := p.IdFiscaleIVA
	if id.Present() && (list[strings.ToUpper(id.IdPaese+id.IdCodice)] || id.IdPaese == "IT" && list[strings.ToUpper(id.IdCodice)]) {
		return true
	}
	return p.CodiceFiscale != "" && list[strings.ToUpper(p.CodiceFiscale)]
}

func (r *rule) check(root *xmltree.Node, b invoice.Body) []Violation {
	if r.when != nil {
		hold := false
		for _, n := range r.when.eval(root, b.Node) {
			if r.whenVal == nil || r.whenVal.ok(n.Text()) {
				hold = true
				break
			}
		}
		if !hold {
			return nil
		}
	}
	nodes := r.path.eval(root, b.Node)
	fail := func(n *xmltree.Node) Violation {
		return Violation{Rule: r.id, Message: r.message, Path: n.Path(), Line: n.Line, Body: b.Position, Numero: b.Numero}
	}
	switch r.kind {
	case "forbidden":
		var out []Violation
		for _, n := range nodes {
			out = append(out, fail(n))
		}
		return out
	case "required":
		present := false
		for _, n := range nodes {
			if n.Text() != "" || n.FirstChild != nil {
				present = true
				break
			}
		}
		if !present {
			return []Violation{fail(b.Node)}
		}
	}
	var out []Violation
	if r.value != nil {
		for _, n := range nodes {
			if !r.value.ok(n.Text()) {
				out = append(out, fail(n))
			}
		}
	}
	return out
}

// SpecError is a problem in rules declared in a route file, with its line.
type SpecError struct {
	Line int
	Msg  string
}

func (e SpecError) Error() string { return fmt.Sprintf("riga %d: %s", e.Line, e.Msg) }

// ruleKeys and whenKeys are the keys a rule and its when may have.
var (
	ruleKeys = map[string]bool{"id": true, "description": true, "path": true, "required": true, "forbidden": true, "equals": true,
		"matches": true, "one_of": true, "when": true, "offices": true, "exempt_suppliers": true, "message": true}
	whenKeys = map[string]bool{"path": true, "equals": true, "matches": true, "one_of": true}
)

// FromYAML decodes and compiles the rules of a route file: node is the YAML sequence
// of rules (passive.prevalidation.rules). Unknown keys are refused, so a misspelt key
// is not silently ignored. Every problem is returned with the line it is on; the
// RuleSet is nil when there is any. A null or absent node gives an empty RuleSet.
func FromYAML(node *yaml.Node) (*RuleSet, []SpecError) {
	if node == nil || node.Kind == 0 || node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return &RuleSet{}, nil
	}
	if node.Kind != yaml.SequenceNode {
		return nil, []SpecError{{node.Line, "le regole sono una lista (- id: ...) (rules are a YAML list)"}}
	}
	var problems []SpecError
	var specs []RuleSpec
	var lines []int
	for i, item := range node.Content {
		if item.Kind != yaml.MappingNode {
			problems = append(problems, SpecError{item.Line, fmt.Sprintf("regola %d: attesa una mappa di chiavi (a rule is a mapping)", i+1)})
			continue
		}
		bad := unknownKeys(item, ruleKeys, fmt.Sprintf("regola %d", i+1))
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == "when" && item.Content[j+1].Kind == yaml.MappingNode {
				bad = append(bad, unknownKeys(item.Content[j+1], whenKeys, fmt.Sprintf("regola %d: when", i+1))...)
			}
		}
		if len(bad) > 0 {
			problems = append(problems, bad...)
			continue
		}
		var s RuleSpec
		if err := item.Decode(&s); err != nil {
			problems = append(problems, SpecError{item.Line, fmt.Sprintf("regola %d: %v", i+1, err)})
			continue
		}
		specs = append(specs, s)
		lines = append(lines, item.Line)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	// compile one by one to keep each problem on its line, then as a whole for ids
	for i, s := range specs {
		if _, err := compileRule(i, s); err != nil {
			problems = append(problems, SpecError{lines[i], strings.TrimPrefix(err.Error(), "rules: ")})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	rs, err := Compile(specs)
	if err != nil {
		return nil, []SpecError{{node.Line, strings.TrimPrefix(err.Error(), "rules: ")}}
	}
	return rs, nil
}

func unknownKeys(m *yaml.Node, allowed map[string]bool, where string) []SpecError {
	var out []SpecError
	for j := 0; j+1 < len(m.Content); j += 2 {
		k := m.Content[j]
		if !allowed[k.Value] {
			keys := make([]string, 0, len(allowed))
			for a := range allowed {
				keys = append(keys, a)
			}
			sort.Strings(keys)
			out = append(out, SpecError{k.Line, fmt.Sprintf("%s: chiave %q sconosciuta; ammesse: %s (unknown key)", where, k.Value, strings.Join(keys, ", "))})
		}
	}
	return out
}
