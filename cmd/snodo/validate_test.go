package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/signature"
	"snodo/pkg/testpki"
)

// runCLI runs snodo in-process and returns the exit status, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := dispatch(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// invoices writes a valid invoice and one with a wrong PrezzoTotale (00423) into a
// temporary folder, with SdI file names.
func invoices(t *testing.T) (dir, good, bad string) {
	t.Helper()
	base, err := os.ReadFile("../../testdata/fatturapa/base-fpr12.xml")
	if err != nil {
		t.Fatal(err)
	}
	// date the invoice today, so that 00403 never fires whenever the test runs
	base = bytes.Replace(base, []byte("2024-03-15"), []byte(time.Now().Add(-24*time.Hour).Format("2006-01-02")), 1)
	dir = t.TempDir()
	good = filepath.Join(dir, "IT01234567897_00001.xml")
	bad = filepath.Join(dir, "IT01234567897_00002.xml")
	wrong := bytes.Replace(base, []byte("<PrezzoTotale>20.00</PrezzoTotale>"), []byte("<PrezzoTotale>21.00</PrezzoTotale>"), 1)
	if err := os.WriteFile(good, base, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, wrong, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, good, bad
}

func TestValidateText(t *testing.T) {
	_, good, bad := invoices(t)
	code, out, _ := runCLI(t, "validate", good)
	if code != 0 || !strings.Contains(out, "IT01234567897_00001.xml: VALIDO") {
		t.Fatalf("valid file: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "validate", good, bad)
	if code != 1 {
		t.Fatalf("exit %d with an invalid file", code)
	}
	for _, want := range []string{"00002.xml: NON VALIDO (invalid), errori: 1", "00423 riga ", "/DettaglioLinee/PrezzoTotale", "atteso 20.00, indicato 21.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestValidateJSON(t *testing.T) {
	_, good, bad := invoices(t)
	zipFile := "../../testdata/fatturapa/samples/IT01234567890_12006.zip"
	code, out, _ := runCLI(t, "validate", "--format", "json", good, bad, zipFile)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d JSON lines, want 5 (2 files, the archive, its 2 members):\n%s", len(lines), out)
	}
	type errJSON struct {
		Code, Message, Path string
		Line                int
	}
	var objs []map[string]json.RawMessage
	for _, l := range lines {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if len(m) != 3 || m["file"] == nil || m["valid"] == nil || m["errors"] == nil {
			t.Fatalf("keys of %s, want file, valid, errors", l)
		}
		objs = append(objs, m)
	}
	if string(objs[0]["valid"]) != "true" || string(objs[0]["errors"]) != "[]" {
		t.Errorf("valid file: %s", lines[0])
	}
	var errs []errJSON
	json.Unmarshal(objs[1]["errors"], &errs)
	if string(objs[1]["valid"]) != "false" || len(errs) != 1 || errs[0].Code != "00423" || errs[0].Line < 1 || !strings.HasPrefix(errs[0].Message, "2.2.1.11 <PrezzoTotale>") {
		t.Errorf("invalid file: %s", lines[1])
	}
	if !strings.Contains(lines[3], `"file":"`+zipFile+`/IT01234567890_12001.xml"`) {
		t.Errorf("archive member line: %s", lines[3])
	}
}

const enteRoute = `
ente:
  name: Comune di Prova
  codice_fiscale: "00000000000"
  offices: [ABC1234]
passive:
  prevalidation:
    rules:
%s
`

func writeRoute(t *testing.T, rules string) string {
	t.Helper()
	dir := t.TempDir()
	body := strings.Replace(enteRoute, "%s", rules, 1)
	if err := os.WriteFile(filepath.Join(dir, "comune-prova.yaml"), []byte(strings.TrimLeft(body, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestValidateEnteRules(t *testing.T) {
	_, good, _ := invoices(t)
	routes := writeRoute(t, `      - id: ordine
        path: DatiGenerali/DatiOrdineAcquisto/IdDocumento
        required: true
        message: "Fattura priva del numero d'ordine: indicarlo in DatiOrdineAcquisto/IdDocumento"`)
	noConfig := filepath.Join(t.TempDir(), "snodo.yaml")
	code, out, errOut := runCLI(t, "validate", "--config", noConfig, "--routes", routes, "--ente", "comune-prova", good)
	if code != 1 || !strings.Contains(out, "EC02 [regola ordine]") || !strings.Contains(out, "Fattura priva del numero d'ordine") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	// without --ente the same file is valid
	if code, _, _ := runCLI(t, "validate", good); code != 0 {
		t.Fatalf("without --ente: exit %d", code)
	}
	code, _, errOut = runCLI(t, "validate", "--config", noConfig, "--routes", routes, "--ente", "nessuno", good)
	if code != 2 || !strings.Contains(errOut, `ente "nessuno" non trovato`) || !strings.Contains(errOut, "comune-prova") {
		t.Fatalf("unknown ente: exit %d %s", code, errOut)
	}
	broken := writeRoute(t, `      - id: ordine
        path: DatiGenerali/DatiOrdineAcquisto/IdDocumentoo
        required: true
        message: x`)
	code, _, errOut = runCLI(t, "validate", "--config", noConfig, "--routes", broken, "--ente", "comune-prova", good)
	if code != 2 || !strings.Contains(errOut, "comune-prova.yaml:8:") || !strings.Contains(errOut, `"IdDocumentoo" sconosciuto`) {
		t.Fatalf("broken rules: exit %d %s", code, errOut)
	}
}

func TestValidateTrust(t *testing.T) {
	dir, good, _ := invoices(t)
	ca := testpki.MustCA("CA di prova")
	iss, err := ca.Signing("Mario Rossi", testpki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile(good)
	p7m, err := (&signature.Signer{Key: iss.Key, Cert: iss.Cert, Chain: iss.Chain}).SignCAdES(doc)
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "IT01234567897_00003.xml.p7m")
	os.WriteFile(signed, p7m, 0o644)
	trust := t.TempDir()
	if _, err := ca.WriteFile(trust, "ca"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "validate", "--trust", trust, signed)
	if code != 0 || !strings.Contains(out, "firmato da (signed by): CN=Mario Rossi") || strings.Contains(out, "nota:") {
		t.Fatalf("trusted: exit %d\n%s%s", code, out, errOut)
	}
	other := t.TempDir()
	testpki.MustCA("Altra CA").WriteFile(other, "ca")
	code, out, _ = runCLI(t, "validate", "--trust", other, signed)
	if code != 1 || !strings.Contains(out, "00104") {
		t.Fatalf("untrusted: exit %d\n%s", code, out)
	}
	// without --trust the signature is checked for integrity only, and says so
	code, out, _ = runCLI(t, "validate", signed)
	if code != 0 || !strings.Contains(out, "nota: firma integra") {
		t.Fatalf("integrity only: exit %d\n%s", code, out)
	}
}

func TestValidateUsage(t *testing.T) {
	_, good, _ := invoices(t)
	cases := []struct {
		args    []string
		code    int
		message string
	}{
		{[]string{"validate"}, 2, "uso: snodo validate"},
		{[]string{"validate", "--format", "xml", good}, 2, "--format"},
		{[]string{"validate", "--bogus", good}, 2, "bogus"},
		{[]string{"validate", "/nonexistent/IT01234567897_00001.xml"}, 1, "no such file"},
		{[]string{"validate", "--trust", "/nonexistent", good}, 2, "--trust"},
	}
	for _, c := range cases {
		code, _, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.message) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", c.args, code, errOut, c.code, c.message)
		}
	}
}
