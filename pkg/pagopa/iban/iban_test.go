package iban

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		in     string
		postal bool
		errHas string
	}{
		{"IT60X0542811101000000123456", false, ""},
		{"IT45R0760103200000000001016", true, ""}, // pagopa-mock-ec sample, Poste
		{"DE89370400440532013000", false, ""},
		{"GB82WEST12345698765432", false, ""},
		{"IT60X0542811101000000123457", false, "mod 97"},
		{"IT60X054281110100000012345", false, "27 caratteri"},
		{"IT6050542811101000000123456", false, "CIN"},
		{"IT60XA542811101000000123456", false, "ABI"},
		{"it60x0542811101000000123456", false, "maiuscole"},
		{"IT0000000000000000000000000", false, "CIN"},
		{"1260X0542811101000000123456", false, "paese"},
		{"IT60", false, "lunghezza"},
	}
	for _, tc := range tests {
		err := Check(tc.in)
		if tc.errHas == "" {
			if err != nil {
				t.Errorf("Check(%q) = %v", tc.in, err)
			}
			if IsPostal(tc.in) != tc.postal {
				t.Errorf("IsPostal(%q) = %v", tc.in, !tc.postal)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("Check(%q) = %v, want error containing %q", tc.in, err, tc.errHas)
		}
	}
}

func TestNormalize(t *testing.T) {
	if got := Normalize(" it60 x054 2811101000000123456\t"); got != "IT60X0542811101000000123456" {
		t.Fatal(got)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("IT60X0542811101000000123456")
	f.Add("DE89370400440532013000")
	f.Add("ZZ00")
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) == nil && (len(s) < 15 || len(s) > 34) {
			t.Fatalf("accepted %q", s)
		}
	})
}
