package csvparse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/position"
)

const dir = "../../../testdata/pagopa/csv"

func ente() *pagopa.Ente {
	return &pagopa.Ente{FiscalCode: "01234567897", Name: "Comune di Esempio", Stations: []string{"77777777777_01"}, AuxDigit: 3, SegregationCode: 1,
		IBAN: "IT60X0542811101000000123456", TypeIBAN: map[string]string{"SCONOSCIUTO_SENZA_IBAN": ""}}
}

func scanAll(t *testing.T, name string) (*Scanner, []*Row) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc, err := NewScanner(f, ente(), Options{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	var rows []*Row
	for {
		r, err := sc.Next()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return sc, rows
		}
		rows = append(rows, r)
	}
}

func TestScanGovPay(t *testing.T) {
	sc, rows := scanAll(t, "govpay-mixed.csv")
	if sc.Format() != GovPay || sc.Comma() != ',' || len(rows) != 17 {
		t.Fatalf("%s %q %d rows", sc.Format(), sc.Comma(), len(rows))
	}
	byID := map[string]*Row{}
	for _, r := range rows {
		if _, dup := byID[r.ID]; !dup {
			byID[r.ID] = r
		}
	}
	p := byID["GP-002"].Position
	if byID["GP-002"].Err != "" || p.Amount() != 11600 || len(p.Options[0].Transfers) != 2 || p.Options[0].Transfers[1].Stamp == nil ||
		p.Options[0].Transfers[0].Category != "9/0101002IM" || p.ExpiryDate.String() != "2027-06-30" || p.Options[0].DueDate.String() != "2026-12-31" {
		t.Fatalf("GP-002: %+v", p)
	}
	if byID["PRE-1"].Action != Cancel || byID["GP-001"].Action != Put {
		t.Fatal("actions")
	}
	if r := byID["GP-017"]; r.Err != "" || r.Line != 18 || r.Position.Description != "Servizio mensa, ottobre secondo figlio" {
		t.Fatalf("GP-017: %+v", r)
	}
	for id, want := range map[string]string{"GP-005": "al massimo 5 voci", "GP-011": "punto", "GP-012": "colonne", "GP-015": "idDominio", "GP-010": "dataScadenza"} {
		if !strings.Contains(byID[id].Err, want) {
			t.Errorf("%s: %q, want %q", id, byID[id].Err, want)
		}
	}
	// Errors the model finds (check digits, sums) are the loader's: the row parses.
	if byID["GP-003"].Err != "" || position.Validate(byID["GP-003"].Position, position.Rules{}) == nil {
		t.Fatal("GP-003 should parse and fail validation")
	}
}

func TestScanMyPay(t *testing.T) {
	sc, rows := scanAll(t, "mypay-1_4-mixed.csv")
	if sc.Format() != MyPay || sc.Comma() != ';' || len(rows) != 13 {
		t.Fatalf("%s %d", sc.Format(), len(rows))
	}
	if r := rows[1]; r.Err != "" || len(r.Position.Options[0].Transfers) != 2 || r.Position.Options[0].Transfers[0].Amount != 10000 {
		t.Fatalf("multi-beneficiary: %+v", r)
	}
	if rows[3].Action != Update || rows[5].Action != Cancel || !strings.Contains(rows[7].Err, "azione") {
		t.Fatal("actions")
	}
	if n := rows[6].Position.Options[0].NoticeNumber; n != "301000000000088801" {
		t.Fatalf("codIuv: %s", n)
	}
}

func TestRecordCap(t *testing.T) {
	in := "IUD;a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q;r;azione\n\"" + strings.Repeat("x", 300<<10)
	sc, err := NewScanner(strings.NewReader(in), ente(), Options{MaxRecordBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Next(); err == nil || !strings.Contains(err.Error(), "virgolette non chiuse") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzScan feeds arbitrary files to the layout detection, the header checks and the row
// parsers of both layouts: rows or errors, never a panic.
func FuzzScan(f *testing.F) {
	// Seeds are the header and a few rows of each fixture: small inputs keep the
	// minimisation of new findings quick.
	for _, name := range []string{"govpay-mixed.csv", "mypay-1_4-mixed.csv"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		lines := bytes.SplitAfter(b, []byte("\n"))
		f.Add(bytes.Join(lines[:4], nil))
	}
	f.Add([]byte("IUD;codIuv\n"))
	f.Add([]byte("idA2A,idPendenza\n\"a\"\"b\",\n"))
	e := ente()
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := NewScanner(bytes.NewReader(data), e, Options{MaxRecordBytes: 4096})
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			rw, err := sc.Next()
			if err != nil || rw == nil {
				return
			}
			if rw.Err == "" && rw.Action != Cancel {
				if rw.Position == nil {
					t.Fatal("row without position nor error")
				}
				rw.Position.Ente = e.FiscalCode
				rw.Position.Normalize()
				if position.Validate(rw.Position, position.Rules{}) == nil && rw.Position.Amount() <= 0 {
					t.Fatal("valid position without amount")
				}
			}
		}
	})
}
