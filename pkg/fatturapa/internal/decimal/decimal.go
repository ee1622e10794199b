// Package decimal is exact decimal arithmetic for the SdI's amount checks: a value is
// an integer mantissa and a count of decimal places, kept in an int64 while it fits and
// moved to a big.Int when it would overflow, so results are exact at any size and
// cheap at the sizes invoices use. Only what the checks need is here: parse, add,
// subtract, multiply, divide by 100, round half-up, compare.
package decimal

import (
	"math/big"
	"math/bits"
	"strconv"
)

// Dec is value = mant × 10^-scale. The zero value is 0.
type Dec struct {
	m     int64
	b     *big.Int // non-nil when the mantissa does not fit m
	scale int32
}

// Parse reads an XSD decimal as FatturaPA writes it: optional sign, digits, optional
// fraction. Anything else (exponents, spaces inside, empty) is refused.
func Parse(s string) (Dec, bool) {
	if s == "" {
		return Dec{}, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	digits, scale := 0, int32(-1)
	var m uint64
	overflow := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if scale >= 0 {
				scale++
			}
			hi, lo := bits.Mul64(m, 10)
			lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
			if hi != 0 || carry != 0 || lo > 1<<62 {
				overflow = true
			}
			m = lo
		case c == '.' && scale < 0:
			scale = 0
		default:
			return Dec{}, false
		}
	}
	if digits == 0 || scale == 0 { // "" or "." or "5."
		return Dec{}, false
	}
	if scale < 0 {
		scale = 0
	}
	if overflow {
		b, ok := new(big.Int).SetString(stripDot(s), 10)
		if !ok {
			return Dec{}, false
		}
		if neg {
			b.Neg(b)
		}
		return Dec{b: b, scale: scale}, true
	}
	v := int64(m)
	if neg {
		v = -v
	}
	return Dec{m: v, scale: scale}, true
}

func stripDot(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// MustParse is Parse for constants; it panics on a malformed literal.
func MustParse(s string) Dec {
	d, ok := Parse(s)
	if !ok {
		panic("decimal: bad literal " + s)
	}
	return d
}

func (d Dec) big() *big.Int {
	if d.b != nil {
		return d.b
	}
	return big.NewInt(d.m)
}

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// rescale returns d with scale s >= d.scale.
func (d Dec) rescale(s int32) Dec {
	k := s - d.scale
	if k == 0 {
		return d
	}
	if d.b == nil && k < int32(len(pow10)) {
		if v, ok := mul64(d.m, pow10[k]); ok {
			return Dec{m: v, scale: s}
		}
	}
	f := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
	return Dec{b: f.Mul(f, d.big()), scale: s}
}

func mul64(a, b int64) (int64, bool) {
	neg := (a < 0) != (b < 0)
	ua, ub := abs64(a), abs64(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 || lo > 1<<62 {
		return 0, false
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

func abs64(a int64) uint64 {
	if a < 0 {
		return uint64(-a)
	}
	return uint64(a)
}

func align(a, b Dec) (Dec, Dec) {
	s := max(a.scale, b.scale)
	return a.rescale(s), b.rescale(s)
}

// Add returns a + b.
func Add(a, b Dec) Dec {
	a, b = align(a, b)
	if a.b == nil && b.b == nil {
		s := a.m + b.m
		if (s > a.m) == (b.m > 0) && abs64(s) <= 1<<62 {
			return Dec{m: s, scale: a.scale}
		}
	}
	return Dec{b: new(big.Int).Add(a.big(), b.big()), scale: a.scale}
}

// Neg returns -a.
func Neg(a Dec) Dec {
	if a.b != nil {
		return Dec{b: new(big.Int).Neg(a.b), scale: a.scale}
	}
	return Dec{m: -a.m, scale: a.scale}
}

// Sub returns a - b.
func Sub(a, b Dec) Dec { return Add(a, Neg(b)) }

// Mul returns a × b, exactly.
func Mul(a, b Dec) Dec {
	if a.b == nil && b.b == nil {
		if v, ok := mul64(a.m, b.m); ok {
			return Dec{m: v, scale: a.scale + b.scale}
		}
	}
	return Dec{b: new(big.Int).Mul(a.big(), b.big()), scale: a.scale + b.scale}
}

// Percent returns a / 100, exactly.
func Percent(a Dec) Dec { a.scale += 2; return a }

// Sign is -1, 0 or +1.
func (d Dec) Sign() int {
	if d.b != nil {
		return d.b.Sign()
	}
	switch {
	case d.m < 0:
		return -1
	case d.m > 0:
		return 1
	}
	return 0
}

// IsZero reports d == 0.
func (d Dec) IsZero() bool { return d.Sign() == 0 }

// Abs returns |d|.
func (d Dec) Abs() Dec {
	if d.Sign() < 0 {
		return Neg(d)
	}
	return d
}

// Cmp compares a and b: -1, 0 or +1.
func Cmp(a, b Dec) int { return Sub(a, b).Sign() }

// RoundHalfUp rounds d to s decimal places, halves away from zero (the SdI's rule for
// Imposta: "per eccesso se la terza cifra decimale è uguale o maggiore di 5").
func (d Dec) RoundHalfUp(s int32) Dec {
	if d.scale <= s {
		return d
	}
	k := d.scale - s
	neg := d.Sign() < 0
	a := d.Abs()
	if a.b == nil && k < int32(len(pow10)) {
		q, r := a.m/pow10[k], a.m%pow10[k]
		if r*2 >= pow10[k] {
			q++
		}
		if neg {
			q = -q
		}
		return Dec{m: q, scale: s}
	}
	f := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
	q, r := new(big.Int).QuoRem(a.big(), f, new(big.Int))
	if r.Lsh(r, 1).Cmp(f) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return Dec{b: q, scale: s}
}

// String renders d with its scale, e.g. "5.50".
func (d Dec) String() string {
	var digits string
	if d.b == nil {
		digits = strconv.FormatInt(d.m, 10)
	} else {
		digits = d.b.String()
	}
	neg := false
	if digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	for int32(len(digits)) <= d.scale {
		digits = "0" + digits
	}
	if d.scale > 0 {
		digits = digits[:int32(len(digits))-d.scale] + "." + digits[int32(len(digits))-d.scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}
