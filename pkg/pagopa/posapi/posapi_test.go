package posapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/pagopa/posapi"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/store"
)

type api struct {
	url string
	db  *posdb.DB
}

func newAPI(t *testing.T, d store.Dialect) *api {
	t.Helper()
	cfg := posdbtest.Config()
	cfg.Enti[0].RouteID = "comune-esempio"
	db := posdbtest.Open(t, d, posdb.Options{})
	// The hub authenticates; the test passes the ente in a header.
	h := posapi.New(cfg, db, func(r *http.Request) (string, bool) {
		v := r.Header.Get("X-Test-Ente")
		return v, v != ""
	}, posapi.Options{Prefix: "/api/v1/positions"})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/positions", h)
	mux.Handle("/api/v1/positions/", h)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &api{url: ts.URL + "/api/v1/positions", db: db}
}

func (a *api) do(t *testing.T, ente, method, path, body string, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if ente != "" {
		req.Header.Set("X-Test-Ente", ente)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, raw)
		}
	}
	return resp.StatusCode, m, resp.Header
}

const tari = `{"iupd":"TARI-1","description":"TARI 2026","debtor":{"type":"F","id":"RSSMRA30A01H501I","name":"Mario Rossi"},
 "amount":12050,"dueDate":"2026-12-31",
 "transfers":[{"amount":10000,"iban":"IT60X0542811101000000123456","remittanceInformation":"TARI","category":"9/0101002IM"},
              {"amount":2050,"beneficiary":"80001234568","iban":"IT45R0760103200000000001016","remittanceInformation":"TEFA","category":"9/0201102IM"}]}`

func TestCRUD(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			a := newAPI(t, d)
			st, body, hdr := a.do(t, "comune-esempio", "POST", "", tari)
			if st != 201 || body["amount"].(float64) != 12050 || body["state"] != "valid" || hdr.Get("ETag") != `"1"` ||
				!strings.HasSuffix(hdr.Get("Location"), "/api/v1/positions/TARI-1") {
				t.Fatalf("create: %d %v %v", st, body, hdr)
			}
			notice := body["options"].([]any)[0].(map[string]any)["noticeNumber"].(string)
			if !regexp.MustCompile(`^301[0-9]{15}$`).MatchString(notice) {
				t.Fatalf("notice %q", notice)
			}
			// Retried creation: same data, 200; different data, 409.
			if st, _, _ := a.do(t, "comune-esempio", "POST", "", tari); st != 200 {
				t.Fatalf("retry: %d", st)
			}
			if st, body, _ := a.do(t, "comune-esempio", "POST", "", strings.Replace(tari, "TARI 2026", "TARI 2027", 1)); st != 409 || !strings.Contains(body["error"].(string), "già presente") {
				t.Fatalf("different: %d %v", st, body)
			}
			// The fiscal code works as the ente id too.
			if st, body, _ := a.do(t, "01234567897", "GET", "/TARI-1", ""); st != 200 || body["iupd"] != "TARI-1" {
				t.Fatalf("get: %d %v", st, body)
			}
			if st, body, _ := a.do(t, "01234567897", "GET", "/by-notice/"+notice, ""); st != 200 || body["iupd"] != "TARI-1" {
				t.Fatalf("by notice: %d %v", st, body)
			}
			// Another ente sees nothing.
			if st, _, _ := a.do(t, "77777777777", "GET", "/TARI-1", ""); st != 404 {
				t.Fatalf("other ente get: %d", st)
			}
			if st, body, _ := a.do(t, "77777777777", "GET", "", ""); st != 200 || len(body["positions"].([]any)) != 0 {
				t.Fatalf("other ente list: %d %v", st, body)
			}
			if st, _, _ := a.do(t, "77777777777", "POST", "/TARI-1/cancel", ""); st != 404 {
				t.Fatalf("other ente cancel: %d", st)
			}
			if st, _, _ := a.do(t, "77777777777", "PUT", "/TARI-1", strings.Replace(tari, `"iupd":"TARI-1",`, `"version":1,`, 1)); st != 404 {
				t.Fatalf("other ente update: %d", st)
			}
			if st, body, _ := a.do(t, "77777777777", "POST", "", strings.Replace(tari, `{"iupd"`, `{"ente":"01234567897","iupd"`, 1)); st != 403 {
				t.Fatalf("create for another ente: %d %v", st, body)
			}

			// Update: the version is required and checked; the notice number stays.
			upd := strings.Replace(strings.Replace(tari, "12050", "13050", 1), `"amount":10000`, `"amount":11000`, 1)
			if st, _, _ := a.do(t, "comune-esempio", "PUT", "/TARI-1", upd); st != 428 {
				t.Fatalf("update without version: %d", st)
			}
			st, body, _ = a.do(t, "comune-esempio", "PUT", "/TARI-1", upd, "If-Match", `"1"`)
			if st != 200 || body["version"].(float64) != 2 || body["amount"].(float64) != 13050 ||
				body["options"].([]any)[0].(map[string]any)["noticeNumber"] != notice {
				t.Fatalf("update: %d %v", st, body)
			}
			if st, _, _ := a.do(t, "comune-esempio", "PUT", "/TARI-1", upd, "If-Match", `"1"`); st != 409 {
				t.Fatalf("stale update: %d", st)
			}
			if st, _, _ := a.do(t, "comune-esempio", "POST", "/TARI-1/cancel", "", "If-Match", `"2"`); st != 200 {
				t.Fatalf("cancel: %d", st)
			}
			if st, body, _ := a.do(t, "comune-esempio", "GET", "/TARI-1", ""); st != 200 || body["state"] != "cancelled" {
				t.Fatalf("after cancel: %v", body)
			}
			if st, _, _ := a.do(t, "comune-esempio", "PUT", "/TARI-1", strings.Replace(upd, `"iupd"`, `"version":3,"iupd"`, 1)); st != 409 {
				t.Fatalf("update cancelled: %d", st)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	a := newAPI(t, store.SQLite)
	e := posdbtest.Config().Ente("01234567897")
	for i := 0; i < 5; i++ {
		posdbtest.MustCreate(t, a.db, e, posdbtest.Position("P"+string(rune('A'+i)), 100))
	}
	if _, err := a.db.Cancel(context.Background(), e.FiscalCode, "PC", 0); err != nil {
		t.Fatal(err)
	}
	var ids []string
	next := ""
	for {
		st, body, _ := a.do(t, "comune-esempio", "GET", "?limit=2&after="+next, "")
		if st != 200 {
			t.Fatalf("list: %d %v", st, body)
		}
		for _, p := range body["positions"].([]any) {
			ids = append(ids, p.(map[string]any)["iupd"].(string))
		}
		n, ok := body["next"].(string)
		if !ok {
			break
		}
		next = n
	}
	if strings.Join(ids, ",") != "PA,PB,PC,PD,PE" {
		t.Fatalf("pages: %v", ids)
	}
	if _, body, _ := a.do(t, "comune-esempio", "GET", "?state=cancelled", ""); len(body["positions"].([]any)) != 1 {
		t.Fatalf("state filter: %v", body)
	}
	for _, q := range []string{"?state=bogus", "?limit=0", "?after=x"} {
		if st, _, _ := a.do(t, "comune-esempio", "GET", q, ""); st != 400 {
			t.Errorf("%s: %d", q, st)
		}
	}
}

func TestErrors(t *testing.T) {
	a := newAPI(t, store.SQLite)
	tests := []struct {
		name, ente, method, path, body string
		status                         int
		want                           string
	}{
		{"no auth", "", "GET", "", "", 401, "non autenticata"},
		{"unknown ente", "99999999999", "GET", "", "", 403, "non è configurato"},
		{"bad json", "comune-esempio", "POST", "", "{", 400, "JSON non valido"},
		{"unknown field", "comune-esempio", "POST", "", `{"iupd":"X","colore":"blu"}`, 400, "colore"},
		{"two objects", "comune-esempio", "POST", "", tari + tari, 400, "un solo oggetto"},
		{"both forms", "comune-esempio", "POST", "", strings.Replace(tari, `"amount":12050,`, `"amount":12050,"options":[{"amount":1}],`, 1), 400, "non entrambi"},
		{"invalid", "comune-esempio", "POST", "", strings.Replace(tari, "RSSMRA30A01H501I", "RSSMRA30A01H501X", 1), 422, "posizione non valida"},
		{"not found", "comune-esempio", "GET", "/NOPE", "", 404, "non trovata"},
		{"bad if-match", "comune-esempio", "POST", "/NOPE/cancel", "", 400, "If-Match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.name == "bad if-match" {
				hdr = []string{"If-Match", "abc"}
			}
			st, body, _ := a.do(t, tc.ente, tc.method, tc.path, tc.body, hdr...)
			if st != tc.status || !strings.Contains(body["error"].(string), tc.want) {
				t.Fatalf("%d %v", st, body)
			}
			if tc.status == 422 {
				f := body["fields"].([]any)[0].(map[string]any)
				if f["field"] != "debtor.id" {
					t.Fatalf("fields %v", body["fields"])
				}
			}
		})
	}
}

// TestOpenAPIDocumentsRoutes checks the served document parses and names every route.
func TestOpenAPIDocumentsRoutes(t *testing.T) {
	a := newAPI(t, store.SQLite)
	resp, err := http.Get(a.url + "/openapi.yaml")
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"/": {"post", "get"}, "/{iupd}": {"get", "put"}, "/{iupd}/cancel": {"post"}, "/by-notice/{noticeNumber}": {"get"}, "/openapi.yaml": {"get"}}
	if doc.OpenAPI != "3.0.3" {
		t.Fatal(doc.OpenAPI)
	}
	for p, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[p][m]; !ok {
				t.Errorf("openapi.yaml lacks %s %s", m, p)
			}
		}
	}
}
