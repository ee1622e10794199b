package main

import (
	"bytes"
	"context"
	"net/http/httptest"
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
