package amount

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		strict bool
		want   Cents
		errHas string
	}{
		{"10.00", true, 1000, ""},
		{"0.01", true, 1, ""},
		{"999999999.99", true, Max, ""},
		{"10", true, 0, "2 decimali"},
		{"10.5", true, 0, "2 decimali"},
		{"10", false, 1000, ""},
		{"10.5", false, 1050, ""},
		{"61.25", false, 6125, ""},
		{"10.123", false, 0, "al massimo"},
		{"1000000000.00", false, 0, "oltre"},
		{"10,50", false, 0, "punto"},
		{"-1.00", false, 0, "non ammesso"},
		{".50", false, 0, "non ammesso"},
		{"10.", false, 0, "mancano"},
		{"", false, 0, "vuoto"},
		{"1e3", false, 0, "non ammesso"},
	}
	for _, tc := range tests {
		var got Cents
		var err error
		if tc.strict {
			got, err = ParseSOAP(tc.in)
		} else {
			got, err = Parse(tc.in)
		}
		if tc.errHas == "" {
			if err != nil || got != tc.want {
				t.Errorf("parse(%q, strict=%v) = %d, %v; want %d", tc.in, tc.strict, got, err, tc.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("parse(%q, strict=%v) err = %v, want %q", tc.in, tc.strict, err, tc.errHas)
		}
	}
}

func TestFormat(t *testing.T) {
	for c, want := range map[Cents]string{0: "0.00", 1: "0.01", 1050: "10.50", Max: "999999999.99", -250: "-2.50"} {
		if got := Format(c); got != want {
			t.Errorf("Format(%d) = %q, want %q", c, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"10.00", "0.01", "12", "1.5", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if c < 0 || c > Max {
			t.Fatalf("Parse(%q) = %d out of range", s, c)
		}
		back, err := ParseSOAP(Format(c))
		if err != nil || back != c {
			t.Fatalf("round trip of %d: %d, %v", c, back, err)
		}
	})
}
