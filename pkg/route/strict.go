package route

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in a configuration file, with its place.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Problems is every problem found while loading; its Error lists them one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// decoder decodes YAML nodes into structs strictly, collecting problems with file:line.
type decoder struct {
	file     string
	dir      string // relative paths in the file are relative to this folder
	problems Problems
	getenv   func(string) string
	expanded map[*yaml.Node]bool // scalars that held ${VAR} references
	root     *yaml.Node
}

// lineAt returns the line of the value at a dotted key path ("passive.deliver"), or of
// its deepest existing ancestor; 0 when the file has none of it.
func (d *decoder) lineAt(path string) int {
	n := d.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	line := 0
	for _, key := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

// path resolves a path written in the file.
func (d *decoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

func (d *decoder) addf(line int, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expand replaces ${VAR} and ${VAR:-default} in every scalar value of the tree. An
// unset variable without default is a problem.
func (d *decoder) expand(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		if d.expanded == nil {
			d.expanded = map[*yaml.Node]bool{}
		}
		d.expanded[n] = true
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v := d.getenv(m[1]); v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			d.addf(n.Line, "variabile d'ambiente %s non impostata: esportarla prima di avviare snodo o dare un default con ${%s:-valore} (environment variable %s is not set)", m[1], m[1], m[1])
			return ""
		})
	}
	for _, c := range n.Content {
		d.expand(c)
	}
}

// decode fills out (a pointer) from n. Structs are matched key by key against their yaml
// tags; unknown keys are problems that list the allowed ones. Fields of type yaml.Node
// keep the raw node for later, kind-specific decoding.
func (d *decoder) decode(n *yaml.Node, out any, path string) {
	d.decodeValue(n, reflect.ValueOf(out).Elem(), path)
}

var nodeType = reflect.TypeOf(yaml.Node{})

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) {
	if n == nil {
		return
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if u, ok := v.Addr().Interface().(interface {
		decodeYAML(*decoder, *yaml.Node, string)
	}); ok {
		u.decodeYAML(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decodeValue(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return
			}
			d.addf(n.Line, "%s: attesa una mappa di chiavi (expected a mapping)", path)
			return
		}
		fields := structFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				d.addf(k.Line, "%s: chiave sconosciuta %q%s; chiavi ammesse: %s (unknown key)", path, k.Value,
					suggest(k.Value, fields), strings.Join(sortedKeys(fields), ", "))
				continue
			}
			if seen[k.Value] {
				d.addf(k.Line, "%s: chiave %q ripetuta (duplicate key)", path, k.Value)
				continue
			}
			seen[k.Value] = true
			d.decodeValue(val, v.Field(idx), join(path, k.Value))
		}
		if l, ok := v.Addr().Interface().(interface{ setLine(int) }); ok {
			l.setLine(n.Line)
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.addf(n.Line, "%s: attesa una lista (expected a list)", path)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decodeValue(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.addf(n.Line, "%s: attesa una mappa (expected a mapping)", path)
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			kv := reflect.New(v.Type().Key()).Elem()
			d.decodeValue(n.Content[i], kv, path)
			ev := reflect.New(v.Type().Elem()).Elem()
			d.decodeValue(n.Content[i+1], ev, join(path, n.Content[i].Value))
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	default:
		if n.Kind != yaml.ScalarNode {
			d.addf(n.Line, "%s: atteso un valore semplice (expected a scalar)", path)
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			msg := err.Error()
			if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
				msg = te.Errors[0]
			}
			d.addf(n.Line, "%s: valore %q non valido per %s: %s (invalid value)", path, n.Value, kindName(v.Type()), stripLine(msg))
		}
	}
}

func stripLine(s string) string {
	if i := strings.Index(s, ": "); strings.HasPrefix(s, "line ") && i > 0 {
		return s[i+2:]
	}
	return s
}

func kindName(t reflect.Type) string {
	switch t.String() {
	case "time.Duration":
		return "una durata (es. 30s, 5m, 2h)"
	case "bool":
		return "true/false"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "un numero intero"
	case reflect.Float64:
		return "un numero"
	}
	return t.String()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func structFields(t reflect.Type) map[string]int {
	f := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "-" || !sf.IsExported() || tag == "" {
			continue
		}
		f[tag] = i
	}
	return f
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest proposes the closest allowed key for a misspelt one.
func suggest(key string, fields map[string]int) string {
	best, bestD := "", 3
	for k := range fields {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (forse %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// parseFile reads and parses a YAML file into its root node.
func parseFile(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := err.Error()
		line := 0
		if _, e := fmt.Sscanf(strings.TrimPrefix(msg, "yaml: "), "line %d:", &line); e == nil {
			if i := strings.Index(msg, ": "); i > 0 {
				msg = msg[strings.Index(msg, "line"):]
				if j := strings.Index(msg, ": "); j > 0 {
					msg = msg[j+2:]
				}
			}
		}
		return nil, Problems{{File: path, Line: line, Msg: "YAML non valido: " + msg + " (invalid YAML)"}}
	}
	return &root, nil
}
