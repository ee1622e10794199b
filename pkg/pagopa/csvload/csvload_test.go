package csvload

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/csvparse"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/pagopa/posdb/posdbtest"
	"snodo/pkg/pagopa/position"
	"snodo/pkg/store"
)

var update = flag.Bool("update", false, "rewrite the golden outcome files")

const dir = "../../../testdata/pagopa/csv"

func ente() *pagopa.Ente {
	e := posdbtest.Config().Ente("01234567897")
	e.TypeIBAN = map[string]string{"MENSA": "IT60X0542811101000000123456", "SCONOSCIUTO_SENZA_IBAN": ""}
	return e
}

func outcomeRows(t *testing.T, out []byte, comma rune) map[string][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(out))
	r.Comma = comma
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(OutcomeHeader, ",") {
		t.Fatalf("outcome header %v", recs[0])
	}
	m := map[string][]string{}
	for _, rec := range recs[1:] {
		m[rec[0]] = rec
	}
	return m
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("outcome differs from %s:\n%s", path, got)
	}
}

type expect struct {
	line   string // row number in the file
	op     string
	reason string // substring of the reason
}

func load(t *testing.T, db *posdb.DB, name string, o Options) (*Summary, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	o.Name = name
	sum, err := Load(context.Background(), db, ente(), f, &out, o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return sum, out.Bytes()
}

func check(t *testing.T, rows map[string][]string, want []expect) {
	t.Helper()
	for _, w := range want {
		r, ok := rows[w.line]
		if !ok {
			t.Errorf("row %s missing from the outcome", w.line)
			continue
		}
		if r[5] != w.op || !strings.Contains(r[6], w.reason) {
			t.Errorf("row %s: %s %q, want %s %q", w.line, r[5], r[6], w.op, w.reason)
		}
		if (r[4] == "OK") != (w.op != OpRejected) {
			t.Errorf("row %s: esito %s for %s", w.line, r[4], w.op)
		}
	}
}

func TestGovPayMixed(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			db := posdbtest.Open(t, d, posdb.Options{})
			posdbtest.MustCreate(t, db, ente(), posdbtest.Position("PRE-1", 100))
			sum, out := load(t, db, "govpay-mixed.csv", Options{BatchSize: 4})
			if d == store.SQLite {
				golden(t, "govpay-mixed.outcome.csv", out)
			}
			rows := outcomeRows(t, out, ',')
			check(t, rows, []expect{
				{"2", OpCreated, ""},
				{"3", OpCreated, ""},
				{"4", OpRejected, "debtor.id"},
				{"5", OpRejected, "somma dei versamenti"},
				{"6", OpRejected, "al massimo 5 voci"},
				{"7", OpRejected, "mod 97"},
				{"8", OpRejected, "ripetuto nel file"},
				{"9", OpCreated, ""},
				{"10", OpRejected, "già usato"},
				{"11", OpRejected, "dataScadenza"},
				{"12", OpRejected, "punto come separatore"},
				{"13", OpRejected, "colonne invece delle 98"},
				{"14", OpCreated, ""},
				{"15", OpCancelled, ""},
				{"16", OpRejected, "idDominio"},
				{"18", OpCreated, ""}, // quoted field with a newline: the row starts on line 18
				{"20", OpCreated, ""},
			})
			if r := rows["14"]; r[1] != "'=cmd|' /C calc'!A0" {
				t.Errorf("formula not neutralised in the outcome: %q", r[1])
			}
			if r := rows["9"]; r[2] != "301000000000099919" || r[3] != "01000000000099919" {
				t.Errorf("given notice number: %v", r)
			}
			if sum.Rows != 17 || sum.Created != 6 || sum.Cancelled != 1 || sum.Rejected != 10 {
				t.Fatalf("summary %+v", sum)
			}
			if p, _ := db.Get(ctx, "01234567897", "PRE-1"); p.State != position.StateCancelled {
				t.Fatalf("PRE-1 %s", p.State)
			}
			stamp, err := db.Get(ctx, "01234567897", "GP-002")
			if err != nil || stamp.Options[0].Transfers[1].Stamp == nil || stamp.Options[0].Transfers[1].Category != "9/MBD" || stamp.Amount() != 11600 {
				t.Fatalf("GP-002: %+v %v", stamp, err)
			}
			list, _, _ := db.List(ctx, posdb.Filter{Ente: "01234567897", Limit: 100})
			if len(list) != 7 { // PRE-1 and the 6 loaded
				t.Fatalf("%d positions stored", len(list))
			}

			// Loading the same file again changes nothing and gives the same notices.
			sum2, out2 := load(t, db, "govpay-mixed.csv", Options{})
			rows2 := outcomeRows(t, out2, ',')
			if sum2.Created != 0 || sum2.Unchanged != 6 || sum2.Cancelled != 1 || sum2.Rejected != 10 {
				t.Fatalf("second load %+v", sum2)
			}
			for line, r := range rows {
				if r[5] == OpCreated && (rows2[line][5] != OpUnchanged || rows2[line][2] != r[2]) {
					t.Errorf("row %s second time: %v (first %v)", line, rows2[line], r)
				}
			}
		})
	}
}

func TestMyPayMixed(t *testing.T) {
	for _, d := range posdbtest.Dialects {
		t.Run(posdbtest.Name(d), func(t *testing.T) {
			ctx := context.Background()
			db := posdbtest.Open(t, d, posdb.Options{})
			posdbtest.MustCreate(t, db, ente(), posdbtest.Position("PRE-2", 8000))
			posdbtest.MustCreate(t, db, ente(), posdbtest.Position("PRE-3", 8000))
			sum, out := load(t, db, "mypay-1_4-mixed.csv", Options{})
			if d == store.SQLite {
				golden(t, "mypay-1_4-mixed.outcome.csv", out)
			}
			rows := outcomeRows(t, out, ';')
			check(t, rows, []expect{
				{"2", OpCreated, ""},
				{"3", OpCreated, ""},
				{"4", OpRejected, "iban"},
				{"5", OpRejected, "ripetuto nel file"},
				{"6", OpUpdated, ""},
				{"7", OpCancelled, ""},
				{"8", OpCreated, ""},
				{"9", OpRejected, "azione"},
				{"10", OpRejected, "importoDovuto"},
				{"11", OpCreated, ""},
				{"12", OpCreated, ""},
				{"13", OpRejected, "nessun IBAN"},
				{"14", OpRejected, "debtor.id"},
			})
			if sum.Rows != 13 || sum.Created != 5 || sum.Updated != 1 || sum.Cancelled != 1 || sum.Rejected != 6 {
				t.Fatalf("summary %+v", sum)
			}
			multi, err := db.Get(ctx, "01234567897", "MP-002")
			if err != nil || len(multi.Options[0].Transfers) != 2 || multi.Options[0].Transfers[0].Amount != 10000 ||
				multi.Options[0].Transfers[1].Beneficiary != "80001234568" {
				t.Fatalf("MP-002 %+v %v", multi, err)
			}
			if p, _ := db.Get(ctx, "01234567897", "MP-007"); p.Options[0].NoticeNumber != "301000000000088801" {
				t.Fatalf("MP-007 notice %s", p.Options[0].NoticeNumber)
			}
			if p, _ := db.Get(ctx, "01234567897", "PRE-2"); p.Amount() != 7500 || p.Version != 2 {
				t.Fatalf("PRE-2 %d v%d", p.Amount(), p.Version)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	db := posdbtest.Open(t, store.SQLite, posdb.Options{})
	govpayHeader := "idA2A,idPendenza,idDominio,numeroAvviso,tipoPendenza,idUnitaOperativa,causale,importo,dataValidita,dataScadenza," +
		"tipoSoggettoPagatore,identificativoPagatore,anagraficaPagatore,idVoce1,importoVoce1,descrizioneVoce1,ibanAccreditoVoce1,tipoContabilitaVoce1,codiceContabilitaVoce1\n"
	good := "A,X1,01234567897,,,,Causale,10.00,2026-12-31,,F,RSSMRA30A01H501I,Mario Rossi,1,10.00,Causale,IT60X0542811101000000123456,ALTRO,0101002IM\n"
	tests := []struct {
		name, in, want string
		loaded         int
	}{
		{"empty", "", "file vuoto", 0},
		{"blank", "\n\n", "file vuoto", 0},
		{"unknown layout", "a,b,c\n1,2,3\n", "tracciato non riconosciuto", 0},
		{"unknown column", strings.Replace(govpayHeader, "causale", "causale,colonnaStrana", 1), "colonne sconosciute", 0},
		{"missing column", strings.Replace(govpayHeader, ",importo,", ",", 1), "colonne obbligatorie mancanti nell'intestazione: importo", 0},
		{"mypay width", "IUD;codIuv;x\n", "20 (1.0/1.1)", 0},
		{"unclosed quote", govpayHeader + good + "A,\"X2" + strings.Repeat("y", 200<<10), "virgolette non chiuse", 1},
		{"binary", "\x00\x01\x02\xff\xfe", "tracciato non riconosciuto", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			sum, err := Load(context.Background(), db, ente(), strings.NewReader(tc.in), &out, Options{Options: csvparse.Options{Name: "prova.csv"}})
			var fe *csvparse.FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "prova.csv") {
				t.Fatalf("err = %v, want a FileError with %q", err, tc.want)
			}
			if tc.loaded > 0 && (sum == nil || sum.Created != tc.loaded || !strings.Contains(out.String(), "X1")) {
				t.Fatalf("rows before the error: %+v\n%s", sum, out.String())
			}
		})
	}
	// BOM and CRLF are fine.
	var out bytes.Buffer
	in := "\xef\xbb\xbf" + strings.ReplaceAll(govpayHeader+strings.Replace(good, "X1", "BOM1", 1), "\n", "\r\n")
	if sum, err := Load(context.Background(), db, ente(), strings.NewReader(in), &out, Options{}); err != nil || sum.Created != 1 {
		t.Fatalf("BOM/CRLF: %+v %v\n%s", sum, err, out.String())
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+39": "'+39", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "ok": "ok",
		"a\nb": "a\uFFFDb", "\xff": "\uFFFD", "": "",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
