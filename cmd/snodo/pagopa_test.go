package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/pagopa/paserver"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/store"
)

func TestPagoPASimCommand(t *testing.T) {
	cfg := posdbtest.Config()
	db := posdbtest.Open(t, store.SQLite, posdb.Options{})
	srv, err := paserver.New(cfg, db, paserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	notice := posdbtest.MustCreate(t, db, cfg.Ente("01234567897"), posdbtest.Position("CLI", 2500)).Options[0].NoticeNumber
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, args)
		return code, out.String() + errb.String()
	}
	base := []string{"--hub", ts.URL, "--pa", "01234567897", "--broker", "77777777777", "--station", "77777777777_01", "--notice", notice}
	if code, out := run(append([]string{"pagopa-sim", "verify"}, base...)...); code != 0 || !strings.Contains(out, "importo 25.00") {
		t.Fatalf("verify: %d %s", code, out)
	}
	if code, out := run(append([]string{"pagopa-sim", "pay", "--duplicate"}, base...)...); code != 0 || !strings.Contains(out, "esito: pagato") {
		t.Fatalf("pay: %d %s", code, out)
	}
	if code, out := run(append([]string{"pagopa-sim", "pay", "--json"}, base...)...); code != 1 || !strings.Contains(out, `"fault": "PAA_PAGAMENTO_DUPLICATO"`) {
		t.Fatalf("pay again: %d %s", code, out)
	}
	if code, out := run("pagopa-sim", "pay", "--hub", ts.URL); code != 2 || !strings.Contains(out, "obbligatori") {
		t.Fatalf("usage: %d %s", code, out)
	}
}

func TestPositionsLoadCommand(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "routes"), 0o755)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte(`listen: {http: 127.0.0.1:0}
data_dir: `+filepath.Join(dir, "data")+`
routes_dir: `+filepath.Join(dir, "routes")+`
store: {driver: sqlite}
pagopa:
  broker_id: "77777777777"
  stations: [{id: "77777777777_01", segregation_code: "01"}]
`), 0o644)
	os.WriteFile(filepath.Join(dir, "routes", "comune.yaml"), []byte(`ente: {id: comune, name: Comune di Esempio, codice_fiscale: "01234567897"}
payments: {station: "77777777777_01"}
`), 0o644)
	csvPath := filepath.Join(dir, "posizioni.csv")
	os.WriteFile(csvPath, []byte("idA2A,idPendenza,idDominio,causale,importo,tipoSoggettoPagatore,identificativoPagatore,anagraficaPagatore,idVoce1,importoVoce1,descrizioneVoce1,ibanAccreditoVoce1,tipoContabilitaVoce1,codiceContabilitaVoce1\n"+
		"A,L-1,01234567897,Mensa,12.00,F,RSSMRA30A01H501I,Mario Rossi,1,12.00,Mensa,IT60X0542811101000000123456,ALTRO,0101108IM\n"), 0o644)
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), &cliEnv{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}, args)
		return code, out.String() + errb.String()
	}
	cfgFlag := []string{"--config", filepath.Join(dir, "snodo.yaml")}
	if code, out := run(append(append([]string{"positions", "load"}, cfgFlag...), "--ente", "comune", csvPath)...); code != 0 || !strings.Contains(out, "1 caricate") {
		t.Fatalf("load: %d %s", code, out)
	}
	outcome, err := os.ReadFile(filepath.Join(dir, "posizioni.esito.csv"))
	if err != nil || !strings.Contains(string(outcome), "L-1,301") {
		t.Fatalf("outcome %q %v", outcome, err)
	}
	// Loading again is idempotent; to stdout.
	if code, out := run(append(append([]string{"positions", "load"}, cfgFlag...), "--ente", "01234567897", "--out", "-", csvPath)...); code != 0 || !strings.Contains(out, "INVARIATA") {
		t.Fatalf("reload: %d %s", code, out)
	}
	if code, out := run(append(append([]string{"positions", "load"}, cfgFlag...), "--ente", "nessuno", csvPath)...); code != 2 || !strings.Contains(out, "senza pagamenti") {
		t.Fatalf("unknown ente: %d %s", code, out)
	}
}
