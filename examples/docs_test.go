package examples_test

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/route"
)

// docs are the operator documents whose YAML and reference tables are checked.
var docs = []string{"../docs/configuration.md", "../docs/routes.md", "../docs/channels.md", "../docs/operations.md", "README.md"}

type yamlBlock struct {
	file string
	line int
	text string
}

func yamlBlocks(t *testing.T) []yamlBlock {
	t.Helper()
	var out []yamlBlock
	for _, d := range docs {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n, in, start := 0, false, 0
		var b strings.Builder
		for sc.Scan() {
			n++
			line := sc.Text()
			switch {
			case !in && strings.TrimSpace(line) == "```yaml":
				in, start = true, n+1
				b.Reset()
			case in && strings.TrimSpace(line) == "```":
				in = false
				out = append(out, yamlBlock{d, start, b.String()})
			case in:
				b.WriteString(line + "\n")
			}
		}
		f.Close()
		if in {
			t.Errorf("%s:%d: blocco yaml non chiuso (unterminated block)", d, start)
		}
	}
	return out
}

var (
	configKeys = yamlKeys(reflect.TypeOf(route.Config{}))
	enteKeys   = yamlKeys(reflect.TypeOf(route.Ente{}))
)

// TestDocsYAML: every YAML block of the docs parses; a configuration or route file (or
// a section of one) loads with the hub's loader, without problems or warnings.
func TestDocsYAML(t *testing.T) {
	blocks := yamlBlocks(t)
	if len(blocks) < 10 {
		t.Fatalf("solo %d blocchi yaml nei documenti: mancano i documenti? (docs missing?)", len(blocks))
	}
	loaded := map[string]int{}
	defer func() {
		// The classification must keep finding the documents' configurations and routes.
		if loaded["config"] < 3 || loaded["route"] < 8 {
			t.Errorf("caricati solo %d blocchi di configurazione e %d di rotte (too few blocks loaded)", loaded["config"], loaded["route"])
		}
	}()
	for _, b := range blocks {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil {
			t.Errorf("%s:%d: YAML non valido: %v", b.file, b.line, err)
			continue
		}
		top := topKeys(&doc)
		kind := ""
		switch {
		case len(top) == 0:
		case subset(top, configKeys):
			kind = "config"
		case subset(top, enteKeys):
			kind = "route"
		}
		if kind == "" {
			continue
		}
		loaded[kind]++
		root := t.TempDir()
		etc := filepath.Join(root, "etc", "snodo")
		text := relocate(b.text, root)
		stub := 0 // lines added before the block
		if kind == "route" && !slices.Contains(top, "ente") {
			text = "ente: {name: Comune di Prova, codice_fiscale: \"00000000000\"}\n" + text
			stub = 1
		}
		name := "snodo.yaml"
		if kind == "route" {
			name = "routes/comune-di-prova.yaml"
		}
		file := filepath.Join(etc, name)
		os.MkdirAll(filepath.Dir(file), 0o755)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var rel yaml.Node
		if err := yaml.Unmarshal([]byte(text), &rel); err != nil {
			t.Fatal(err)
		}
		materialize(t, file, root, &rel)
		l := loader()
		l.DataDir = filepath.Join(root, "var", "lib", "snodo")
		var problems error
		var warnings []route.Problem
		if kind == "config" {
			_, problems = l.LoadConfig(file)
		} else {
			var rs *route.Routes
			rs, problems = l.LoadFiles([]string{file})
			if rs != nil {
				warnings = rs.Warnings
			}
		}
		var ps route.Problems
		switch {
		case errors.As(problems, &ps):
			for _, p := range ps {
				line := b.line
				if p.Line > stub {
					line = b.line + p.Line - 1 - stub
				}
				t.Errorf("%s:%d: il blocco non si carica (block does not load): %s", b.file, line, p.Msg)
			}
		case problems != nil:
			t.Errorf("%s:%d: il blocco non si carica (block does not load): %v", b.file, b.line, problems)
		}
		for _, w := range warnings {
			if !strings.Contains(b.text, "# in chiaro") {
				t.Errorf("%s:%d: %v", b.file, b.line, w.Msg)
			}
		}
	}
}

func topKeys(doc *yaml.Node) []string {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

func subset(keys []string, set map[string]bool) bool {
	for _, k := range keys {
		if !set[k] {
			return false
		}
	}
	return true
}

// Reference tables.

var collapsed = map[reflect.Type]string{
	reflect.TypeOf(route.TLSSpec{}):       "tls",
	reflect.TypeOf(route.RetrySpec{}):     "retry",
	reflect.TypeOf(route.EndpointSpec{}):  "endpoint",
	reflect.TypeOf(route.SimulatorSpec{}): "simulator",
}

var (
	nodeType   = reflect.TypeOf(yaml.Node{})
	secretType = reflect.TypeOf(route.Secret{})
)

// yamlKeys lists the dotted keys of a type as a reference table writes them: nested
// structs expanded (slices of structs as key[].sub), the shared types of collapsed kept
// as one key (documented in their own table). Keys that group others are listed too.
func yamlKeys(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			ft := f.Type
			slice := false
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				slice = slice || ft.Kind() == reflect.Slice
				ft = ft.Elem()
			}
			_, isCollapsed := collapsed[ft]
			if ft.Kind() != reflect.Struct || ft == nodeType || ft == secretType || isCollapsed || !hasTags(ft) {
				out[key] = true
				continue
			}
			if slice {
				out[key] = true
				walk(ft, key+"[]")
				continue
			}
			out[key] = true
			walk(ft, key)
		}
	}
	walk(t, "")
	return out
}

func hasTags(t reflect.Type) bool {
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			return true
		}
	}
	return false
}

// leafKeys drops the keys that only group others (their rows are optional).
func leafKeys(all map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range all {
		parent := false
		for o := range all {
			if strings.HasPrefix(o, k+".") || strings.HasPrefix(o, k+"[].") {
				parent = true
				break
			}
		}
		if !parent {
			out[k] = true
		}
	}
	return out
}

// keySets are the sets of keys reference tables document.
func keySets() map[string]map[string]bool {
	sets := map[string]map[string]bool{
		"config":    configKeys,
		"ente":      enteKeys,
		"tls":       yamlKeys(reflect.TypeOf(route.TLSSpec{})),
		"retry":     yamlKeys(reflect.TypeOf(route.RetrySpec{})),
		"endpoint":  yamlKeys(reflect.TypeOf(route.EndpointSpec{})),
		"simulator": yamlKeys(reflect.TypeOf(route.SimulatorSpec{})),
		"regola":    yamlKeys(reflect.TypeOf(rules.RuleSpec{})),
	}
	reg := channelKinds()
	for _, n := range reg.Names() {
		k, _ := reg.Lookup(n)
		sets["settings:"+n] = yamlKeys(reflect.TypeOf(k.NewSettings()).Elem())
	}
	return sets
}

var (
	markerRe = regexp.MustCompile(`^<!-- chiavi: ([a-z:]+) -->$`)
	rowKeyRe = regexp.MustCompile("^\\| `([a-z0-9_.\\[\\]]+)`")
)

// TestDocsReferenceTables: each marked table names existing keys only, and the tables
// of a set together name every key of it.
func TestDocsReferenceTables(t *testing.T) {
	sets := keySets()
	documented := map[string]map[string]bool{}
	for _, d := range docs {
		f, err := os.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n, set, inTable := 0, "", false
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if m := markerRe.FindStringSubmatch(line); m != nil {
				set, inTable = m[1], false
				if sets[set] == nil {
					t.Errorf("%s:%d: insieme di chiavi %q sconosciuto (unknown key set)", d, n, set)
				}
				if documented[set] == nil {
					documented[set] = map[string]bool{}
				}
				continue
			}
			if set == "" {
				continue
			}
			if !strings.HasPrefix(line, "|") {
				if inTable {
					set, inTable = "", false
				}
				continue
			}
			inTable = true
			m := rowKeyRe.FindStringSubmatch(line)
			if m == nil {
				continue // header or separator
			}
			key := m[1]
			if sets[set] != nil && !sets[set][key] {
				t.Errorf("%s:%d: la chiave %q non esiste in %s (documented key does not exist)", d, n, key, set)
			}
			documented[set][key] = true
		}
		f.Close()
	}
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var missing []string
		for k := range leafKeys(sets[n]) {
			if !documented[n][k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("chiavi di %s senza riga nelle tabelle dei documenti (undocumented keys): %s", n, strings.Join(missing, ", "))
		}
	}
}
