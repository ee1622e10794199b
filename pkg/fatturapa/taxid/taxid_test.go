package taxid

import (
	"strings"
	"testing"
)

func TestPartitaIVA(t *testing.T) {
	cases := []struct{ in, wantErr string }{
		{"06363391001", ""}, // Agenzia delle Entrate
		{"01234567897", ""},
		{"12345678903", ""},
		{"01234567890", "cifra di controllo 0 errata, atteso 7"},
		{"0123456789", "11"},
		{"0123456789A", "solo cifre"},
		{"", "11"},
	}
	for _, c := range cases {
		err := PartitaIVA(c.in)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("PartitaIVA(%q) = %v, want %q", c.in, err, c.wantErr)
		}
	}
}

func TestCodiceFiscale(t *testing.T) {
	cases := []struct{ in, wantErr string }{
		{"RSSMRA85T10A562S", ""},
		{"MRTMTT25D09F205Z", ""},
		{"RSSMRA85T10A56NH", ""}, // omocodia: the last digit of the place code as a letter
		{"06363391001", ""},      // numeric codice fiscale of an entity
		{"09876543210", "cifra di controllo"},
		{"RSSMRA85T10A562X", "carattere di controllo X errato, atteso S"},
		{"rssmra85t10a562s", "lettera maiuscola"},
		{"RSSMRA85Z10A562S", "mese"},
		{"RSSMRA8AT10A562S", "cifra"},
		{"RSS1RA85T10A562S", "lettera"},
		{"RSSMRA85T10A562", "16"},
	}
	for _, c := range cases {
		err := CodiceFiscale(c.in)
		if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("CodiceFiscale(%q) = %v, want %q", c.in, err, c.wantErr)
		}
	}
}

func FuzzCodiceFiscale(f *testing.F) {
	f.Add("RSSMRA85T10A562S")
	f.Add("06363391001")
	f.Fuzz(func(t *testing.T, s string) {
		if CodiceFiscale(s) == nil && len(s) != 11 && len(s) != 16 {
			t.Fatalf("accepted %q", s)
		}
		_ = PartitaIVA(s)
	})
}
