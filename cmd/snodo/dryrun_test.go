package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dryRunSetup writes a configuration with one ente whose office UFX001 has a
// pre-validation rule, as the example route of make run.
func dryRunSetup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	route := `ente: {id: comune-esempio, name: Comune di Esempio, codice_fiscale: "00000000000", offices: [UFX000, UFX001]}
passive:
  protocol: {channel: fs, url: "file:comune-esempio/protocollo"}
  accounting: {channel: ftp, url: "ftp://ftp.comune.example/contabilita", username: hub, password: "${FTP_PASSWORD:-segreto}"}
  notifications: {channel: fs, url: "file:comune-esempio/notifiche"}
  outcome: {channel: fs, url: "file:comune-esempio/esiti"}
  deliver: [signed, metadata, rendering]
  prevalidation:
    rules:
      - id: registro
        offices: [UFX001]
        path: DatiGenerali/DatiGeneraliDocumento/Numero
        matches: "R-[0-9]+"
        message: "Numero fattura non conforme al registro dell'ente (atteso R-nnn)"
`
	os.WriteFile(filepath.Join(dir, "routes", "comune-esempio.yaml"), []byte(route), 0o644)
	cfg := filepath.Join(dir, "snodo.yaml")
	os.WriteFile(cfg, []byte("data_dir: data\nroutes_dir: routes\n"), 0o644)
	return cfg
}

func TestRoutesDryRun(t *testing.T) {
	cfg := dryRunSetup(t)
	cases := []struct {
		name, file string
		args       []string
		code       int
		want, not  []string
	}{
		{"accepted", "IT01234567890_X0001.xml", nil, 0,
			[]string{"ufficio (CodiceDestinatario): UFX000", "cedente: ALPHA SRL", "Pre-validazione dell'ente (ente rules): superata",
				"1. passive.protocol (fs)", "2. passive.accounting (ftp) ftp://ftp.comune.example/contabilita — contabilità",
				"main       IT01234567890_X0001.xml", "metadata   IT01234567890_X0001_MT_001.xml", "rendering  IT01234567890_X0001.html",
				"Stato dopo i controlli (state after the checks): verificata", "Nulla è stato registrato né inviato"},
			[]string{"EC02", "segreto"}},
		{"rejected", "IT01234567890_X0003.xml", []string{"--id", "5000000042"}, 1,
			[]string{"ufficio (CodiceDestinatario): UFX001", "fallita", "regola registro: Numero fattura non conforme",
				"IT01234567890_X0003_EC_001.xml: EC02 (rifiuto)", "<IdentificativoSdI>5000000042</IdentificativoSdI>", "<NumeroFattura>X-3</NumeroFattura>",
				"Stato dopo i controlli (state after the checks): rifiutata-prevalidazione"},
			nil},
		{"another office", "IT01234567890_X0001.xml", []string{"--codice", "UFZ999"}, 0,
			[]string{"attenzione: la fattura è per l'ufficio \"UFZ999\"", "nessun ente", "piano mostrato come se fosse per l'ufficio UFX000"},
			nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"routes", "dry-run", "--config", cfg, "--ente", "comune-esempio"}, c.args...)
			args = append(args, "../../testdata/passive/"+c.file)
			code, out, errOut := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q\n%s", w, out)
				}
			}
			for _, n := range c.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q\n%s", n, out)
				}
			}
		})
	}
	// Nothing stored: the data folder holds no store.
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "data", "store")); !os.IsNotExist(err) {
		t.Fatal("the dry run created a store")
	}
}

func TestRoutesDryRunUsage(t *testing.T) {
	cfg := dryRunSetup(t)
	for _, args := range [][]string{
		{"routes", "dry-run", "--config", cfg, "../../testdata/passive/IT01234567890_X0001.xml"},
		{"routes", "dry-run", "--config", cfg, "--ente", "nessuno", "../../testdata/passive/IT01234567890_X0001.xml"},
		{"routes", "dry-run", "--config", cfg, "--ente", "comune-esempio", "/non/esiste.xml"},
		{"routes", "dry-run", "--config", cfg, "--ente", "comune-esempio", "--id", "abc def", "../../testdata/passive/IT01234567890_X0001.xml"},
	} {
		if code, out, errOut := runCLI(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d\n%s%s", args[3:], code, out, errOut)
		}
	}
}
