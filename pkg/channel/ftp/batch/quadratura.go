package batch

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"snodo/pkg/xmlsafe"
)

// Namespace of the SDIFTP types.
const Namespace = "http://www.fatturapa.it/sdi/ftp/v1.0"

// MaxXMLSize caps a quadratura or outcome document (a real one is under 2 KB).
const MaxXMLSize = 64 << 10

// Outcome codes of a received supporto.
const (
	ET01 = "ET01" // accepted
	ET02 = "ET02" // refused
)

// dateTimeLayout is how the hub writes xsd:dateTime values: milliseconds and offset.
const dateTimeLayout = "2006-01-02T15:04:05.000-07:00"

// Quadratura is a FileQuadraturaFTP document: what a zip holds.
type Quadratura struct {
	IdentificativoNodo string // 11 digits
	DataOraCreazione   time.Time
	NomeSupporto       string // the zip's name, without .done
	NumeroFile         Counts
}

// Marshal writes the document, valid against FtpTypes_v1.2.xsd.
func (q *Quadratura) Marshal() ([]byte, error) {
	if err := checkNodo(q.IdentificativoNodo); err != nil {
		return nil, err
	}
	if err := checkNomeSupporto(q.NomeSupporto); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<ns:FileQuadraturaFTP xmlns:ns="` + Namespace + `" versione="1.2">` + "\n")
	element(&b, 1, "IdentificativoNodo", q.IdentificativoNodo)
	element(&b, 1, "DataOraCreazione", q.DataOraCreazione.Format(dateTimeLayout))
	element(&b, 1, "NomeSupporto", q.NomeSupporto)
	b.WriteString("  <NumeroFile>\n")
	for t, n := range q.NumeroFile {
		if n < 0 {
			return nil, fmt.Errorf("batch: contatore %s negativo (negative counter)", FileType(t))
		}
		element(&b, 2, FileType(t).String(), strconv.Itoa(n))
	}
	b.WriteString("  </NumeroFile>\n</ns:FileQuadraturaFTP>\n")
	return b.Bytes(), nil
}

// Esito is a FileEsitoFTP document: the outcome of a received supporto.
type Esito struct {
	IdentificativoNodo string // 11 digits: the fiscal id of the node writing the outcome
	DataOraRicezione   time.Time
	DataOraEsito       time.Time
	NomeSupporto       string // the zip answered, without .done
	Esito              string // ET01 or ET02
	// Motivi are the reasons of a refusal; they travel in an XML comment.
	Motivi []string
}

// Marshal writes the document, valid against FtpTypes_v1.2.xsd.
func (e *Esito) Marshal() ([]byte, error) {
	if err := checkNodo(e.IdentificativoNodo); err != nil {
		return nil, err
	}
	if e.Esito != ET01 && e.Esito != ET02 {
		return nil, fmt.Errorf("batch: esito %q: usare ET01 o ET02 (outcome must be ET01 or ET02)", e.Esito)
	}
	nome, motivi := e.NomeSupporto, e.Motivi
	if len(nome) > MaxNomeSupporto {
		// The XSD caps NomeSupporto; a longer name from a peer outside the convention is
		// cut so the outcome stays valid, and its full name goes into the comment.
		motivi = append([]string{"nome del supporto (supporto name): " + nome}, motivi...)
		nome = truncateUTF8(nome, MaxNomeSupporto)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<ns:FileEsitoFTP xmlns:ns="` + Namespace + `" versione="1.0">` + "\n")
	if len(motivi) > 0 {
		b.WriteString("  <!--\n")
		for _, m := range motivi {
			b.WriteString("    " + commentSafe(m) + "\n")
		}
		b.WriteString("  -->\n")
	}
	element(&b, 1, "IdentificativoNodo", e.IdentificativoNodo)
	element(&b, 1, "DataOraRicezione", e.DataOraRicezione.Format(dateTimeLayout))
	element(&b, 1, "DataOraEsito", e.DataOraEsito.Format(dateTimeLayout))
	element(&b, 1, "NomeSupporto", nome)
	element(&b, 1, "Esito", e.Esito)
	b.WriteString("</ns:FileEsitoFTP>\n")
	return b.Bytes(), nil
}

func element(b *bytes.Buffer, depth int, name, text string) {
	b.WriteString(strings.Repeat("  ", depth) + "<" + name + ">")
	xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">\n")
}

// commentSafe makes s safe inside an XML comment: no "--", no control characters, valid
// UTF-8, one line.
func commentSafe(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "- -")
	}
	return strings.TrimSuffix(s, "-")
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func checkNodo(id string) error {
	if !digits(id, 11, 11) {
		return fmt.Errorf("batch: IdentificativoNodo %q: servono 11 cifre (IdentificativoNodo must be 11 digits)", id)
	}
	return nil
}

func checkNomeSupporto(n string) error {
	if n == "" || len(n) > MaxNomeSupporto {
		return fmt.Errorf("batch: NomeSupporto %q: da 1 a %d caratteri (NomeSupporto must be 1 to %d characters)", n, MaxNomeSupporto, MaxNomeSupporto)
	}
	return nil
}

// node is an element of a small parsed document.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*node
	text     strings.Builder
	mixed    bool // text next to child elements
}

// maxNodes bounds the elements of a quadratura or outcome document.
const maxNodes = 64

// parseTree parses a small document into elements, refusing DOCTYPE (xmlsafe) and more
// elements than any valid document has. Documents declared ISO-8859-1 or US-ASCII are
// read as such; other encodings than UTF-8 are refused.
func parseTree(name string, data []byte) (*node, error) {
	if err := xmlsafe.Check(name, data, MaxXMLSize); err != nil {
		return nil, err
	}
	if err := xmlsafe.Declaration(name, data); err != nil {
		return nil, err // encoding/xml does not look inside the declaration
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	dec.CharsetReader = charsetReader
	var root *node
	var stack []*node
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: XML non ben formato: %v (malformed XML)", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxNodes || len(stack) >= 4 {
				return nil, fmt.Errorf("%s: troppi elementi o annidamento troppo profondo (too many or too deeply nested elements)", name)
			}
			n := &node{name: t.Name, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%s: più di un elemento radice (more than one root element)", name)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
				if xmlTrim(p.text.String()) != "" {
					p.mixed = true
				}
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.Trim(t, " \t\r\n")) > 0 {
					return nil, fmt.Errorf("%s: testo fuori dall'elemento radice (text outside the root element)", name)
				}
				continue
			}
			p := stack[len(stack)-1]
			p.text.Write(t)
			if len(p.children) > 0 && xmlTrim(string(t)) != "" {
				p.mixed = true
			}
		case xml.Directive:
			return nil, fmt.Errorf("%s: dichiarazione <!%s> non ammessa (declaration not allowed)", name, firstWord(string(t)))
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%s: manca l'elemento radice (no root element)", name)
	}
	return root, nil
}

// charsetReader decodes the single-byte encodings a peer may declare.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "l1":
		data, err := io.ReadAll(io.LimitReader(input, MaxXMLSize))
		if err != nil {
			return nil, err
		}
		runes := make([]rune, len(data))
		for i, c := range data {
			runes[i] = rune(c)
		}
		return strings.NewReader(string(runes)), nil
	case "us-ascii", "ascii":
		return input, nil
	}
	return nil, fmt.Errorf("codifica %q non gestita: usare UTF-8 (unsupported encoding)", label)
}

// xmlTrim trims XML whitespace (space, tab, CR, LF), as the XSD's whitespace facet does.
func xmlTrim(s string) string { return strings.Trim(s, " \t\r\n") }

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// problems collects what is wrong with a document, in Italian then English.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkRoot checks the root's name and its versione attribute.
func checkRoot(root *node, local, versione string, required bool, p *problems) {
	if root.name.Space != Namespace || root.name.Local != local {
		p.addf("elemento radice {%s}%s, atteso {%s}%s (wrong root element)", root.name.Space, root.name.Local, Namespace, local)
		return
	}
	found := false
	for _, a := range root.attrs {
		switch {
		case a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns":
		case a.Name.Space == "" && a.Name.Local == "versione":
			found = true
			if a.Value != versione {
				p.addf("versione=%q, attesa %q (wrong versione)", a.Value, versione)
			}
		default:
			p.addf("attributo %s non previsto (unexpected attribute)", a.Name.Local)
		}
	}
	if !found && required {
		p.addf("manca l'attributo versione=%q (versione attribute missing)", versione)
	}
}

// sequence checks that the children of n are exactly the unqualified elements names,
// in order, each holding text only, and returns them.
func sequence(n *node, path string, names []string, p *problems) []*node {
	if n.mixed || xmlTrim(n.text.String()) != "" {
		p.addf("%s: testo fuori dagli elementi (text outside elements)", path)
	}
	out := make([]*node, len(names))
	i := 0
	for _, c := range n.children {
		if c.name.Space != "" {
			p.addf("%s/%s: l'elemento deve essere senza namespace (element must be unqualified)", path, c.name.Local)
		}
		if i >= len(names) || c.name.Local != names[i] {
			want := "nessun altro elemento (no more elements)"
			if i < len(names) {
				want = names[i]
			}
			p.addf("%s: elemento %s inatteso, atteso %s (unexpected element)", path, c.name.Local, want)
			return nil
		}
		out[i] = c
		i++
	}
	if i < len(names) {
		p.addf("%s: manca l'elemento %s (element missing)", path, names[i])
		return nil
	}
	return out
}

func leafText(n *node, path string, p *problems) string {
	if len(n.children) > 0 {
		p.addf("%s: contiene elementi, atteso solo testo (element content not allowed)", path)
	}
	return n.text.String()
}

// dateTimeRE is the lexical form of xsd:dateTime that Go's parser is then trusted
// with: four-digit years, optional fraction after a dot, offset at most ±14:00.
var dateTimeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9]|[+-]14:00)?$`)

// parseDateTime parses an xsd:dateTime (whitespace collapsed), with or without offset
// and fractional seconds.
func parseDateTime(s string) (time.Time, error) {
	s = xmlTrim(s)
	if !dateTimeRE.MatchString(s) {
		return time.Time{}, errors.New("data e ora non valide: usare AAAA-MM-GGThh:mm:ss con fuso orario (bad dateTime)")
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("data e ora non valide (bad dateTime)")
}

var quadraturaChildren = []string{"IdentificativoNodo", "DataOraCreazione", "NomeSupporto", "NumeroFile"}

// ParseQuadratura reads a quadratura document strictly, as the XSD would: every
// problem is reported, with name naming the input.
func ParseQuadratura(name string, data []byte) (*Quadratura, error) {
	root, err := parseTree(name, data)
	if err != nil {
		return nil, err
	}
	var p problems
	checkRoot(root, "FileQuadraturaFTP", "1.2", true, &p)
	if len(p) > 0 {
		return nil, docError(name, p)
	}
	q := &Quadratura{}
	kids := sequence(root, "FileQuadraturaFTP", quadraturaChildren, &p)
	if kids != nil {
		q.IdentificativoNodo = leafText(kids[0], "IdentificativoNodo", &p)
		if !digits(q.IdentificativoNodo, 11, 11) {
			p.addf("IdentificativoNodo %q: servono 11 cifre (must be 11 digits)", clip(q.IdentificativoNodo))
		}
		s := leafText(kids[1], "DataOraCreazione", &p)
		if q.DataOraCreazione, err = parseDateTime(s); err != nil {
			p.addf("DataOraCreazione %q: %v", clip(s), err)
		}
		q.NomeSupporto = leafText(kids[2], "NomeSupporto", &p)
		if q.NomeSupporto == "" || len(q.NomeSupporto) > MaxNomeSupporto {
			p.addf("NomeSupporto %q: da 1 a %d caratteri (1 to %d characters)", clip(q.NomeSupporto), MaxNomeSupporto, MaxNomeSupporto)
		}
		counters := sequence(kids[3], "NumeroFile", typeNames[:], &p)
		for i, c := range counters {
			s := xmlTrim(leafText(c, typeNames[i], &p))
			n, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
			if err != nil || n < 0 || s == "" {
				p.addf("NumeroFile/%s %q: serve un intero non negativo (must be a non-negative integer)", typeNames[i], clip(s))
				continue
			}
			q.NumeroFile[i] = n
		}
	}
	if len(p) > 0 {
		return nil, docError(name, p)
	}
	// The reader's own checks give the reasons in Italian; the SdI's schema has the last
	// word on what they let through.
	if err := checkSchema(name, data); err != nil {
		return nil, err
	}
	return q, nil
}

var esitoChildren = []string{"IdentificativoNodo", "DataOraRicezione", "DataOraEsito", "NomeSupporto", "Esito"}

// ParseEsito reads an outcome document. versione may be missing (IntermediaMarche
// omits it); everything else is checked as the XSD would. Motivi are taken from the
// document's comments when it was written by Marshal.
func ParseEsito(name string, data []byte) (*Esito, error) {
	root, err := parseTree(name, data)
	if err != nil {
		return nil, err
	}
	var p problems
	checkRoot(root, "FileEsitoFTP", "1.0", false, &p)
	if len(p) > 0 {
		return nil, docError(name, p)
	}
	e := &Esito{}
	if kids := sequence(root, "FileEsitoFTP", esitoChildren, &p); kids != nil {
		e.IdentificativoNodo = leafText(kids[0], "IdentificativoNodo", &p)
		if !digits(e.IdentificativoNodo, 11, 11) {
			p.addf("IdentificativoNodo %q: servono 11 cifre (must be 11 digits)", clip(e.IdentificativoNodo))
		}
		for i, t := range []*time.Time{&e.DataOraRicezione, &e.DataOraEsito} {
			s := leafText(kids[1+i], esitoChildren[1+i], &p)
			if *t, err = parseDateTime(s); err != nil {
				p.addf("%s %q: %v", esitoChildren[1+i], clip(s), err)
			}
		}
		e.NomeSupporto = leafText(kids[3], "NomeSupporto", &p)
		if e.NomeSupporto == "" || len(e.NomeSupporto) > MaxNomeSupporto {
			p.addf("NomeSupporto %q: da 1 a %d caratteri (1 to %d characters)", clip(e.NomeSupporto), MaxNomeSupporto, MaxNomeSupporto)
		}
		e.Esito = leafText(kids[4], "Esito", &p)
		if e.Esito != ET01 && e.Esito != ET02 {
			p.addf("Esito %q: atteso ET01 o ET02 (must be ET01 or ET02)", clip(e.Esito))
		}
	}
	if len(p) > 0 {
		return nil, docError(name, p)
	}
	// No schema gate here: outcome files are read leniently on purpose (IntermediaMarche
	// writes them without the versione the schema requires).
	e.Motivi = comments(data)
	return e, nil
}

// comments returns the lines of the document's comments, trimmed.
func comments(data []byte) []string {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []string
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		if c, ok := tok.(xml.Comment); ok {
			for _, l := range strings.Split(string(c), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					out = append(out, l)
				}
			}
		}
	}
}

// DocError lists what is wrong with a quadratura or outcome document.
type DocError struct {
	Name     string
	Problems []string
}

func (e *DocError) Error() string {
	return e.Name + ": " + strings.Join(e.Problems, "; ")
}

func docError(name string, p problems) error { return &DocError{Name: name, Problems: p} }

// clip shortens a value quoted in an error.
func clip(s string) string {
	if len(s) > 60 {
		return truncateUTF8(s, 60) + "…"
	}
	return s
}
