package openapitest

import (
	"strings"
	"testing"
)

const doc = `{"openapi":"3.1.0","paths":{"/x/{id}":{"get":{"operationId":"leggi","responses":{
 "200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/X"}}}},
 "404":{"$ref":"#/components/responses/E"}}}}},
 "components":{"responses":{"E":{"description":"e","content":{"application/json":{"schema":{"oneOf":[{"$ref":"#/components/schemas/X"},{"type":"string"}]}}}}},
 "schemas":{"X":{"type":"object","required":["a"],"additionalProperties":false,"properties":{
  "a":{"type":"string","pattern":"^[a-z]+$","maxLength":5},"n":{"type":"integer","minimum":1,"maximum":3},
  "t":{"type":"string","format":"date-time"},"e":{"type":"string","enum":["P","Q"]},
  "m":{"type":"object","additionalProperties":{"type":"string"}},"l":{"type":"array","items":{"type":"boolean"}}}}}}}`

func TestCheckResponse(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ok := []string{`{"a":"abc"}`, `{"a":"x","n":2,"t":"2026-01-01T10:00:00+01:00","e":"Q","m":{"k":"v"},"l":[true]}`}
	for _, b := range ok {
		if err := d.CheckResponse("GET", "/x/7", 200, "application/json; charset=utf-8", []byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
	bad := map[string]string{
		`{}`: "required", `{"a":"ABC"}`: "match", `{"a":"abcdef"}`: "longer", `{"a":"a","z":1}`: "not in the schema",
		`{"a":"a","n":4}`: "above", `{"a":"a","n":1.5}`: "integer", `{"a":"a","t":"ieri"}`: "date-time", `{"a":"a","e":"R"}`: "enum",
		`{"a":"a","m":{"k":1}}`: "want string", `{"a":"a","l":["x"]}`: "boolean", `[1]`: "want object", `nope`: "not JSON",
	}
	for b, want := range bad {
		err := d.CheckResponse("GET", "/x/7", 200, "application/json", []byte(b))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", b, err, want)
		}
	}
	if err := d.CheckResponse("GET", "/x/7", 500, "application/json", []byte(`{"a":"a"}`)); err == nil {
		t.Error("undocumented status accepted")
	}
	if err := d.CheckResponse("GET", "/y", 200, "application/json", []byte(`{"a":"a"}`)); err == nil {
		t.Error("undocumented path accepted")
	}
	if err := d.CheckResponse("GET", "/x/7", 404, "application/json", []byte(`"testo"`)); err != nil {
		t.Errorf("oneOf through a response $ref: %v", err)
	}
	if _, err := Load([]byte(`{"openapi":"3.1.0","x":{"$ref":"#/components/schemas/Nope"}}`)); err == nil {
		t.Error("unresolved $ref accepted")
	}
}
