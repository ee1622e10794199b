package decimal

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func rat(t testing.TB, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat %q", s)
	}
	return r
}

func eq(t testing.TB, what string, got Dec, want *big.Rat) {
	t.Helper()
	if g := rat(t, got.String()); g.Cmp(want) != 0 {
		t.Fatalf("%s = %s, want %s", what, got, want.FloatString(20))
	}
}

func TestParse(t *testing.T) {
	good := map[string]string{"5.50": "5.50", "-0.01": "-0.01", "+3": "3", ".5": "0.5", "00012.3400": "12.3400",
		"99999999999999999999.12345678": "99999999999999999999.12345678"}
	for in, want := range good {
		d, ok := Parse(in)
		if !ok || d.String() != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, d, ok, want)
		}
	}
	for _, bad := range []string{"", ".", "5.", "1e3", "1.2.3", " 1", "--1", "0x10", "1,5"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestRoundHalfUp(t *testing.T) {
	cases := map[string]string{"1500.2448": "1500.24", "1500.2458": "1500.25", "0.275": "0.28", "-0.275": "-0.28", "0.274999": "0.27", "5.5": "5.5",
		"123456789012345678901.235": "123456789012345678901.24"}
	for in, want := range cases {
		if got := MustParse(in).RoundHalfUp(2).String(); got != want {
			t.Errorf("RoundHalfUp(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestAgainstBigRat compares every operation with big.Rat on random values, small ones
// (the int64 path) and huge ones (the big.Int path and the switch between them).
func TestAgainstBigRat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	num := func() string {
		var b strings.Builder
		if r.IntN(3) == 0 {
			b.WriteByte('-')
		}
		n := 1 + r.IntN(22)
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(4) != 0 {
			b.WriteByte('.')
			for i := 0; i < 1+r.IntN(10); i++ {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		return b.String()
	}
	hundred := big.NewRat(100, 1)
	for i := 0; i < 20000; i++ {
		as, bs := num(), num()
		a, b := MustParse(as), MustParse(bs)
		ra, rb := rat(t, as), rat(t, bs)
		eq(t, as+"+"+bs, Add(a, b), new(big.Rat).Add(ra, rb))
		eq(t, as+"-"+bs, Sub(a, b), new(big.Rat).Sub(ra, rb))
		eq(t, as+"*"+bs, Mul(a, b), new(big.Rat).Mul(ra, rb))
		eq(t, as+"/100", Percent(a), new(big.Rat).Quo(ra, hundred))
		if got, want := Cmp(a, b), ra.Cmp(rb); got != want {
			t.Fatalf("Cmp(%s,%s) = %d, want %d", as, bs, got, want)
		}
		if a.IsZero() != (ra.Sign() == 0) {
			t.Fatalf("IsZero(%s)", as)
		}
	}
}

func BenchmarkLineCheck(b *testing.B) {
	p, q, tot := MustParse("1234.56"), MustParse("3.00"), MustParse("3703.68")
	tol := MustParse("0.01")
	for b.Loop() {
		d := Sub(Mul(p, q), tot).Abs()
		if Cmp(d, tol) > 0 {
			b.Fatal("mismatch")
		}
	}
}
