// Package contractclient_test is an ente's system written only from snodo's published
// contracts: it reads the OpenAPI document (pkg/api/openapi.json) and the WSDL/XSD files
// (wsdl/snodo) from disk and builds every request from them — paths from operationIds,
// SOAP namespaces, element names, child order and SOAPActions from the WSDL and its
// schema. It imports nothing of snodo (harness_test.go starts the server). If the
// documents and the server drift apart, this test breaks.
package contractclient_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	openAPIFile = "../openapi.json"
	contracts   = "../../../wsdl/snodo"
	fixtures    = "../../../testdata/ws"
)

// ---- OpenAPI ----

type openAPI struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
	} `json:"paths"`
}

type restClient struct {
	t    *testing.T
	base string
	auth string
	ops  map[string][2]string // operationId → method, path template
}

func newREST(t *testing.T, base, auth string) *restClient {
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	c := &restClient{t: t, base: base, auth: auth, ops: map[string][2]string{}}
	for path, item := range doc.Paths {
		for method, op := range item {
			c.ops[op.OperationID] = [2]string{strings.ToUpper(method), path}
		}
	}
	return c
}

// call invokes an operation by operationId; params fill {path} parameters and the rest
// go to the query string.
func (c *restClient) call(opID string, params map[string]string, ct string, body []byte) (int, []byte, http.Header) {
	c.t.Helper()
	op, ok := c.ops[opID]
	if !ok {
		c.t.Fatalf("operation %s is not in the OpenAPI document", opID)
	}
	path := op[1]
	q := url.Values{}
	for k, v := range params {
		if strings.Contains(path, "{"+k+"}") {
			path = strings.ReplaceAll(path, "{"+k+"}", url.PathEscape(v))
		} else {
			q.Set(k, v)
		}
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(op[0], u, bytes.NewReader(body))
	req.Header.Set("Authorization", c.auth)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

func (c *restClient) json(opID string, params map[string]string, ct string, body []byte, wantStatus int) map[string]any {
	c.t.Helper()
	st, data, _ := c.call(opID, params, ct, body)
	if st != wantStatus {
		c.t.Fatalf("%s: HTTP %d, want %d: %s", opID, st, wantStatus, data)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		c.t.Fatalf("%s: %v", opID, err)
	}
	return v
}

// ---- WSDL and XSD ----

type wsdlDoc struct {
	Attrs    []xml.Attr `xml:",any,attr"`
	Messages []struct {
		Name  string `xml:"name,attr"`
		Parts []struct {
			Element string `xml:"element,attr"`
		} `xml:"part"`
	} `xml:"message"`
	PortTypes []struct {
		Operations []struct {
			Name  string `xml:"name,attr"`
			Input struct {
				Message string `xml:"message,attr"`
			} `xml:"input"`
		} `xml:"operation"`
	} `xml:"portType"`
	Bindings []struct {
		Operations []struct {
			Name string `xml:"name,attr"`
			Op   struct {
				Action string `xml:"soapAction,attr"`
			} `xml:"operation"`
		} `xml:"operation"`
	} `xml:"binding"`
	Imports []struct {
		Location string `xml:"schemaLocation,attr"`
	} `xml:"types>schema>import"`
}

type xsdElement struct {
	Name    string      `xml:"name,attr"`
	Type    string      `xml:"type,attr"`
	Complex *xsdComplex `xml:"complexType"`
}

type xsdComplex struct {
	Name     string       `xml:"name,attr"`
	Sequence []xsdElement `xml:"sequence>element"`
}

type xsdDoc struct {
	TargetNamespace    string       `xml:"targetNamespace,attr"`
	ElementFormDefault string       `xml:"elementFormDefault,attr"`
	Elements           []xsdElement `xml:"element"`
	Types              []xsdComplex `xml:"complexType"`
}

// operation is what the client learnt of one SOAP operation from the documents.
type operation struct {
	action    string
	ns        string
	root      string
	qualified bool
	schema    *xsdDoc
}

func readSOAPOperation(t *testing.T, wsdlFile, opName string) operation {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(contracts, wsdlFile))
	if err != nil {
		t.Fatal(err)
	}
	var w wsdlDoc
	if err := xml.Unmarshal(data, &w); err != nil {
		t.Fatal(err)
	}
	prefixes := map[string]string{}
	for _, a := range w.Attrs {
		if a.Name.Space == "xmlns" {
			prefixes[a.Name.Local] = a.Value
		}
	}
	var op operation
	for _, b := range w.Bindings {
		for _, o := range b.Operations {
			if o.Name == opName {
				op.action = o.Op.Action
			}
		}
	}
	var inputMsg string
	for _, pt := range w.PortTypes {
		for _, o := range pt.Operations {
			if o.Name == opName {
				inputMsg = o.Input.Message[strings.IndexByte(o.Input.Message, ':')+1:]
			}
		}
	}
	for _, m := range w.Messages {
		if m.Name == inputMsg && len(m.Parts) == 1 {
			prefix, local, _ := strings.Cut(m.Parts[0].Element, ":")
			op.ns, op.root = prefixes[prefix], local
		}
	}
	if op.action == "" || op.ns == "" || op.root == "" || len(w.Imports) != 1 {
		t.Fatalf("%s: could not read operation %s (action %q, element {%s}%s)", wsdlFile, opName, op.action, op.ns, op.root)
	}
	xdata, err := os.ReadFile(filepath.Join(contracts, w.Imports[0].Location))
	if err != nil {
		t.Fatal(err)
	}
	op.schema = &xsdDoc{}
	if err := xml.Unmarshal(xdata, op.schema); err != nil {
		t.Fatal(err)
	}
	if op.schema.TargetNamespace != op.ns {
		t.Fatalf("schema namespace %q, element namespace %q", op.schema.TargetNamespace, op.ns)
	}
	op.qualified = op.schema.ElementFormDefault == "qualified"
	return op
}

// children lists the child elements of an element declaration, in schema order.
func (op operation) children(el xsdElement) []xsdElement {
	if el.Complex != nil {
		return el.Complex.Sequence
	}
	name := el.Type[strings.IndexByte(el.Type, ':')+1:]
	for _, ct := range op.schema.Types {
		if ct.Name == name {
			return ct.Sequence
		}
	}
	return nil
}

// envelope writes a SOAP 1.1 request for the operation from values keyed by element name
// (strings, []byte for base64 fields); children are written in schema order and only
// when a value is given for them or for one of their descendants.
func (op operation) envelope(t *testing.T, values map[string]any) []byte {
	t.Helper()
	var root *xsdElement
	for i := range op.schema.Elements {
		if op.schema.Elements[i].Name == op.root {
			root = &op.schema.Elements[i]
		}
	}
	if root == nil {
		t.Fatalf("element %s not in the schema", op.root)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>`)
	b.WriteString(`<ns:` + op.root + ` xmlns:ns="` + op.ns + `">`)
	op.write(&b, *root, values)
	b.WriteString(`</ns:` + op.root + `></soapenv:Body></soapenv:Envelope>`)
	return []byte(b.String())
}

func (op operation) write(b *strings.Builder, el xsdElement, values map[string]any) bool {
	wrote := false
	for _, c := range op.children(el) {
		name := c.Name
		if op.qualified {
			name = "ns:" + c.Name
		}
		if v, ok := values[c.Name]; ok {
			b.WriteString("<" + name + ">")
			switch x := v.(type) {
			case []byte:
				b.WriteString(base64.StdEncoding.EncodeToString(x))
			case string:
				xml.EscapeText(b, []byte(x))
			}
			b.WriteString("</" + name + ">")
			wrote = true
			continue
		}
		var inner strings.Builder
		if op.write(&inner, c, values) {
			b.WriteString("<" + name + ">" + inner.String() + "</" + name + ">")
			wrote = true
		}
	}
	return wrote
}

// soapCall posts the envelope and returns the text of every leaf element of the answer
// by local name.
func soapCall(t *testing.T, endpoint string, op operation, auth string, body []byte) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `"`+op.action+`"`)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var text string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case xml.StartElement:
			text = ""
		case xml.CharData:
			text += string(v)
		case xml.EndElement:
			if _, seen := out[v.Name.Local]; !seen {
				out[v.Name.Local] = strings.TrimSpace(text)
			}
			text = ""
		}
	}
	return resp.StatusCode, out
}

// endpointOf reads the address of a service from its ?wsdl.
func endpointOf(t *testing.T, base, path string) string {
	t.Helper()
	resp, err := http.Get(base + path + "?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`location="([^"]+)"`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no soap:address in %s?wsdl", path)
	}
	return string(m[1])
}

func fixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func basic(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

// TestEnteWrittenFromTheContracts does what an ente's systems do, in order.
func TestEnteWrittenFromTheContracts(t *testing.T) {
	srv := startServer(t)
	rest := newREST(t, srv.base, "Bearer "+srv.token)
	invoice := fixture(t, "IT01234567890_FPA01.xml")

	// 1. Active cycle over REST: submit, then follow it by receipt and by id.
	ans := rest.json("inviaFatturaAttiva", map[string]string{"nome_file": "IT01234567890_FPA01.xml"}, "application/xml", invoice, 202)
	ric, id := ans["ricevuta_comunicazione"].(string), ans["id"].(string)
	if ans["codice"] != "FA00" || ric == "" || id == "" {
		t.Fatalf("submission: %v", ans)
	}
	if m := rest.json("leggiRicevuta", map[string]string{"ricevuta": ric}, "", nil, 200); m["id"] != id || m["stato"] == "" {
		t.Fatalf("by receipt: %v", m)
	}
	m := rest.json("leggiMessaggio", map[string]string{"id": id}, "", nil, 200)
	if evs, _ := m["eventi"].([]any); len(evs) == 0 {
		t.Fatalf("no timeline: %v", m)
	}

	// 2. Active cycle over SOAP, as written for IntermediaMarche: Basic credentials.
	fileOp := readSOAPOperation(t, "HubFatturaAttiva.wsdl", "RiceviFileCA")
	other := bytes.Replace(invoice, []byte("<Numero>123</Numero>"), []byte("<Numero>321</Numero>"), 1)
	env := fileOp.envelope(t, map[string]any{"IdFiscaleMittente": "IT" + srv.fiscalCode, "CodiceUfficio": srv.office,
		"NomeFile": "IT01234567890_FPA02.xml", "File": other})
	status, out := soapCall(t, endpointOf(t, srv.base, "/fatturaAttivaCa/riceviFatture"), fileOp, basic(srv.user, srv.pass), env)
	if status != 200 || out["Codice"] != "FA00" || !strings.HasPrefix(out["RicevutaComunicazione"], "IntermediaMarche_") {
		t.Fatalf("RiceviFileCA: %d %v", status, out)
	}
	if m := rest.json("leggiRicevuta", map[string]string{"ricevuta": out["RicevutaComunicazione"]}, "", nil, 200); m["nome_file"] != "IT01234567890_FPA02.xml" {
		t.Fatalf("the SOAP receipt does not lead to the invoice: %v", m)
	}

	// 3. Passive cycle: list what arrived, page by page, download, decide.
	var passive []map[string]any
	params := map[string]string{"flusso": "passive", "tipo": "invoice", "limite": "2"}
	for page := 0; page < 5; page++ {
		l := rest.json("elencaMessaggi", params, "", nil, 200)
		for _, x := range l["messaggi"].([]any) {
			passive = append(passive, x.(map[string]any))
		}
		next, _ := l["prossimo"].(string)
		if next == "" {
			break
		}
		params["prima_di"] = next
	}
	if len(passive) != len(srv.received) {
		t.Fatalf("listed %d received invoices, want %d (another ente's must not show)", len(passive), len(srv.received))
	}
	inv := rest.json("leggiFatturaPassiva", map[string]string{"identificativo_sdi": srv.received[0]}, "", nil, 200)
	files := inv["file"].([]any)
	st, data, hdr := rest.call("scaricaFile", map[string]string{"id": inv["id"].(string), "nome": files[0].(map[string]any)["nome"].(string)}, "", nil)
	if st != 200 || !bytes.Equal(data, fixture(t, "IT01234567890_11111.xml.p7m")) || hdr.Get("ETag") == "" {
		t.Fatalf("download: %d, %d bytes", st, len(data))
	}
	dec := rest.json("inviaEsito", map[string]string{"identificativo_sdi": srv.received[0]}, "application/json",
		[]byte(`{"esito":"EC01","descrizione":"Fattura regolare"}`), 202)
	if dec["codice"] != "EN00" {
		t.Fatalf("EC01: %v", dec)
	}
	// A ready EC file over REST, and one over SOAP.
	ec := bytes.Replace(fixture(t, "IT01234567890_11111_EC_001.xml"), []byte(">111<"), []byte(">"+srv.received[1]+"<"), 1)
	if r := rest.json("inviaFileEsito", map[string]string{"nome_file": "IT01234567890_11112_EC_001.xml"}, "application/xml", ec, 202); r["codice"] != "EN00" {
		t.Fatalf("EC file: %v", r)
	}
	esitoOp := readSOAPOperation(t, "HubEsitoCommittente.wsdl", "riceviEsitoFattura")
	ec3 := bytes.Replace(fixture(t, "IT01234567890_11111_EC_001.xml"), []byte(">111<"), []byte(">"+srv.received[2]+"<"), 1)
	env = esitoOp.envelope(t, map[string]any{"idFiscaleCommittente": srv.fiscalCode, "codUfficio": srv.office,
		"nomeFile": "IT01234567890_11113_EC_001.xml", "File": ec3})
	status, out = soapCall(t, endpointOf(t, srv.base, "/fatturaPassivaCa/notificheEnte"), esitoOp, basic(srv.user, srv.pass), env)
	if status != 200 || out["code"] != "EN00" {
		t.Fatalf("riceviEsitoFattura: %d %v", status, out)
	}

	// 4. Another ente's invoice stays invisible.
	if st, _, _ := rest.call("leggiFatturaPassiva", map[string]string{"identificativo_sdi": "999"}, "", nil); st != 404 {
		t.Fatalf("another ente's invoice: HTTP %d", st)
	}
	if r := rest.json("inviaEsito", map[string]string{"identificativo_sdi": "999"}, "application/json", []byte(`{"esito":"EC02"}`), 404); r["codice"] != "EN02" {
		t.Fatalf("outcome on another ente's invoice: %v", r)
	}
}
