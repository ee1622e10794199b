// Package openapitest checks HTTP exchanges against an OpenAPI 3.1 document, for tests:
// it finds the operation of a request by method and path template and validates a JSON
// body against the response schema of its status. It implements the subset of JSON
// Schema snodo's document uses: $ref, type (with null), required, properties,
// additionalProperties (boolean or schema), items, enum, oneOf, pattern, minLength,
// maxLength, minimum, maximum and format date-time.
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Doc is a loaded OpenAPI document.
type Doc struct {
	root map[string]any
	mu   sync.Mutex
	re   map[string]*regexp.Regexp
}

// Load parses an OpenAPI document and checks that every $ref resolves.
func Load(data []byte) (*Doc, error) {
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("openapitest: document: %w", err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.") {
		return nil, fmt.Errorf("openapitest: openapi %q, want 3.x", v)
	}
	d := &Doc{root: root, re: map[string]*regexp.Regexp{}}
	var bad []string
	walk(root, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			if _, err := d.resolve(r); err != nil {
				bad = append(bad, r)
			}
		}
	})
	if len(bad) > 0 {
		return nil, fmt.Errorf("openapitest: unresolved $ref: %v", bad)
	}
	return d, nil
}

func walk(v any, f func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		f(t)
		for _, x := range t {
			walk(x, f)
		}
	case []any:
		for _, x := range t {
			walk(x, f)
		}
	}
}

func (d *Doc) resolve(ref string) (map[string]any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("external $ref %q", ref)
	}
	var cur any = d.root
	for _, p := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: not an object at %q", ref, p)
		}
		if cur, ok = m[p]; !ok {
			return nil, fmt.Errorf("$ref %q: %q missing", ref, p)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q: not an object", ref)
	}
	return m, nil
}

func (d *Doc) deref(m map[string]any) map[string]any {
	for i := 0; i < 16; i++ {
		r, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		n, err := d.resolve(r)
		if err != nil {
			return m
		}
		m = n
	}
	return m
}

// Operation is one method of one path.
type Operation struct {
	ID, Method, Path string
	raw              map[string]any
}

// Operations lists every operation, sorted by path and method.
func (d *Doc) Operations() []Operation {
	var out []Operation
	paths, _ := d.root["paths"].(map[string]any)
	for p, v := range paths {
		item, _ := v.(map[string]any)
		for m, o := range item {
			op, ok := o.(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			out = append(out, Operation{ID: id, Method: strings.ToUpper(m), Path: p, raw: op})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path+out[i].Method < out[j].Path+out[j].Method })
	return out
}

// ByID returns the operation with an operationId.
func (d *Doc) ByID(id string) (Operation, bool) {
	for _, op := range d.Operations() {
		if op.ID == id {
			return op, true
		}
	}
	return Operation{}, false
}

// Find returns the operation serving a method and a concrete path.
func (d *Doc) Find(method, path string) (Operation, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, op := range d.Operations() {
		if op.Method != strings.ToUpper(method) {
			continue
		}
		tsegs := strings.Split(strings.Trim(op.Path, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		match := true
		for i, t := range tsegs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				continue
			}
			if t != segs[i] {
				match = false
				break
			}
		}
		if match {
			return op, true
		}
	}
	return Operation{}, false
}

// CheckResponse validates a response: its status must be documented for the operation
// of method and path, and a JSON body must match that response's schema.
func (d *Doc) CheckResponse(method, path string, status int, contentType string, body []byte) error {
	op, ok := d.Find(method, path)
	if !ok {
		return fmt.Errorf("%s %s: no operation in the document", method, path)
	}
	resps, _ := op.raw["responses"].(map[string]any)
	r, ok := resps[fmt.Sprint(status)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s (%s): status %d not documented", method, path, op.ID, status)
	}
	r = d.deref(r)
	content, _ := r["content"].(map[string]any)
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/json" {
		if _, ok := content[mt]; ok || content["*/*"] != nil {
			return nil
		}
		return fmt.Errorf("%s %s (%s) %d: content type %q not documented", method, path, op.ID, status, contentType)
	}
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s (%s) %d: JSON not documented", method, path, op.ID, status)
	}
	schema, _ := media["schema"].(map[string]any)
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%s %s (%s) %d: body is not JSON: %w", method, path, op.ID, status, err)
	}
	if err := d.Validate(schema, v); err != nil {
		return fmt.Errorf("%s %s (%s) %d: %w", method, path, op.ID, status, err)
	}
	return nil
}

// Schema returns a named component schema.
func (d *Doc) Schema(name string) map[string]any {
	m, _ := d.resolve("#/components/schemas/" + name)
	return m
}

// Validate checks a decoded JSON value (numbers as json.Number) against a schema.
func (d *Doc) Validate(schema map[string]any, v any) error {
	return d.validate(schema, v, "$")
}

func (d *Doc) validate(schema map[string]any, v any, at string) error {
	s := d.deref(schema)
	if alts, ok := s["oneOf"].([]any); ok {
		var errs []string
		n := 0
		for _, alt := range alts {
			m, _ := alt.(map[string]any)
			if err := d.validate(m, v, at); err != nil {
				errs = append(errs, err.Error())
			} else {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf (want 1): %s", at, n, strings.Join(errs, "; "))
		}
		return nil
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum %v", at, v, enum)
		}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "":
		return nil
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want object", at, v)
		}
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := m[r.(string)]; !ok {
					return fmt.Errorf("%s: required %q missing", at, r)
				}
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				if err := d.validate(ps, m[k], at+"."+k); err != nil {
					return err
				}
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: property %q not in the schema", at, k)
				}
			case map[string]any:
				if err := d.validate(ap, m[k], at+"."+k); err != nil {
					return err
				}
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want array", at, v)
		}
		items, _ := s["items"].(map[string]any)
		for i, x := range a {
			if err := d.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T, want string", at, v)
		}
		if n, ok := num(s["maxLength"]); ok && float64(len([]rune(str))) > n {
			return fmt.Errorf("%s: longer than %v", at, n)
		}
		if n, ok := num(s["minLength"]); ok && float64(len([]rune(str))) < n {
			return fmt.Errorf("%s: shorter than %v", at, n)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := d.regexp(p)
			if err != nil {
				return fmt.Errorf("%s: pattern %q: %w", at, p, err)
			}
			if !re.MatchString(str) {
				return fmt.Errorf("%s: %q does not match %s", at, str, p)
			}
		}
		if f, _ := s["format"].(string); f == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 date-time", at, str)
			}
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %T, want %s", at, v, typ)
		}
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		if typ == "integer" {
			if _, err := n.Int64(); err != nil {
				return fmt.Errorf("%s: %s is not an integer", at, n)
			}
		}
		if m, ok := num(s["minimum"]); ok && f < m {
			return fmt.Errorf("%s: %s below %v", at, n, m)
		}
		if m, ok := num(s["maximum"]); ok && f > m {
			return fmt.Errorf("%s: %s above %v", at, n, m)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want boolean", at, v)
		}
	default:
		return errors.New(at + ": unsupported schema type " + typ)
	}
	return nil
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}

func (d *Doc) regexp(p string) (*regexp.Regexp, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if re, ok := d.re[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	d.re[p] = re
	return re, nil
}
