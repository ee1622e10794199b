package taxid

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		code      string
		anonymous bool
		kind      Kind
		errHas    string
	}{
		{"RSSMRA30A01H501I", false, KindPerson, ""},
		{"DRCGNN12A46A326K", false, KindPerson, ""},
		{"JHNDOE00A01F205N", false, KindPerson, ""},
		{"RSSMRA30A01H50MA", false, KindPerson, ""}, // omocodia on the last digit
		{"RSSMRA30A01H501J", false, KindPerson, "atteso I"},
		{"rssmra30a01h501i", false, KindPerson, "maiuscolo"},
		{"RSSMRA30Z01H501I", false, KindPerson, "mese"},
		{"R5SMRA30A01H501I", false, KindPerson, "lettera"},
		{"RSSMRA3XA01H501I", false, KindPerson, "cifra"},
		{"01234567897", false, KindNumeric, ""},
		{"80001234568", false, KindNumeric, ""},
		{"77777777770", false, KindNumeric, ""},
		{"77777777777", false, KindNumeric, "attesa 0"},
		{"0123456789X", false, KindNumeric, "solo cifre"},
		{"ANONIMO", true, KindAnonymous, ""},
		{"ANONIMO", false, 0, "16 caratteri"},
		{"", false, 0, "16 caratteri"},
		{"1234", false, 0, "11 cifre"},
	}
	for _, tc := range tests {
		kind, err := Check(tc.code, tc.anonymous)
		if tc.errHas == "" {
			if err != nil || kind != tc.kind {
				t.Errorf("Check(%q) = %v, %v; want %v, nil", tc.code, kind, err, tc.kind)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.errHas) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) err = %v, want one containing %q", tc.code, err, tc.errHas)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"RSSMRA30A01H501I", "01234567897", "ANONIMO", "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, err := Check(s, true)
		if err == nil && kind == KindPerson && len(s) != 16 {
			t.Fatalf("accepted %q as a person code", s)
		}
	})
}
