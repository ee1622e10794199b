package iuv

import (
	"errors"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
		seq    int64
		notice string
		iuv    string
	}{
		// Worked example in pagopa-facts.md §7: 3010000000000123 mod 93 = 73.
		{"aux3 seg01", Scheme{AuxDigit: 3, SegregationCode: 1}, 123, "301000000000012373", "01000000000012373"},
		// GovPay documentation example: 001110000000000164.
		{"aux0 app01", Scheme{AuxDigit: 0, ApplicationCode: 1}, 1100000000001, "001110000000000164", "110000000000164"},
		{"aux3 max", Scheme{AuxDigit: 3, SegregationCode: 99}, MaxBase13, "399999999999999903", "99999999999999903"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.scheme.Generate(tc.seq)
			if err != nil {
				t.Fatal(err)
			}
			{
				if n.Number != tc.notice || n.IUV != tc.iuv {
					t.Fatalf("got %s / %s, want %s / %s", n.Number, n.IUV, tc.notice, tc.iuv)
				}
			}
			back, err := Parse(n.Number)
			if err != nil {
				t.Fatalf("generated %s does not parse: %v", n.Number, err)
			}
			if back != n {
				t.Fatalf("round trip: %+v != %+v", back, n)
			}
			again, err := tc.scheme.NoticeFromIUV(n.IUV)
			if err != nil || again.Number != n.Number {
				t.Fatalf("NoticeFromIUV(%s) = %v, %v", n.IUV, again, err)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct {
		s   Scheme
		seq int64
		msg string
	}{
		{Scheme{AuxDigit: 1}, 1, "aux digit 1"},
		{Scheme{AuxDigit: 3, SegregationCode: 100}, 1, "segregazione"},
		{Scheme{AuxDigit: 0, ApplicationCode: -1}, 1, "applicazione"},
		{Scheme{AuxDigit: 3}, MaxBase13 + 1, "esaurita"},
		{Scheme{AuxDigit: 3}, -1, "fuori"},
	} {
		if _, err := tc.s.Generate(tc.seq); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Generate(%+v, %d) = %v, want error with %q", tc.s, tc.seq, err, tc.msg)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		aux     int
		iuv     string
		wantErr error
	}{
		{"301000000000012373", 3, "01000000000012373", nil},
		{"001110000000000164", 0, "110000000000164", nil},
		{"112345678901234567", 1, "12345678901234567", nil},
		{"301000000000012374", 3, "01000000000012374", ErrCheckDigit},
		// pagopa-mock-ec sample: its check digits do not verify (00, expected 51).
		{"302009921337126000", 3, "02009921337126000", ErrCheckDigit},
		{"30100000000001237", 0, "", ErrSyntax},
		{"3010000000000123a3", 0, "", ErrSyntax},
		{"901000000000012373", 0, "", ErrSyntax},
		{"", 0, "", ErrSyntax},
	}
	for _, tc := range tests {
		n, err := Parse(tc.in)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Parse(%q) err = %v, want %v", tc.in, err, tc.wantErr)
			}
			if errors.Is(err, ErrCheckDigit) && n.IUV != tc.iuv {
				t.Errorf("Parse(%q) with bad check should still split: IUV %q", tc.in, n.IUV)
			}
			continue
		}
		if err != nil || n.AuxDigit != tc.aux || n.IUV != tc.iuv {
			t.Errorf("Parse(%q) = %+v, %v", tc.in, n, err)
		}
	}
}

func TestNoticeFromIUVErrors(t *testing.T) {
	s := Scheme{AuxDigit: 3, SegregationCode: 1}
	for _, in := range []string{"0100000000001237", "02000000000012373", "01000000000012374", "0100000000001237x"} {
		if _, err := s.NoticeFromIUV(in); err == nil {
			t.Errorf("NoticeFromIUV(%q) accepted", in)
		}
	}
}

func TestPrefix(t *testing.T) {
	if p := (Scheme{AuxDigit: 3, SegregationCode: 7}).Prefix(); p != "3-07" {
		t.Fatal(p)
	}
	if p := (Scheme{AuxDigit: 0, ApplicationCode: 12}).Prefix(); p != "0-12" {
		t.Fatal(p)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"301000000000012373", "001110000000000164", "112345678901234567", "2", "999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err == nil {
			if n.Number != s {
				t.Fatalf("Number %q != input %q", n.Number, s)
			}
			if !strings.HasSuffix(s, n.IUV) {
				t.Fatalf("IUV %q not a suffix of %q", n.IUV, s)
			}
		}
	})
}
