// Package amount converts euro amounts between their text forms and integer euro cents,
// the only form in which the hub computes and stores money (never floating point).
//
// pagoPA writes amounts as "\d+\.\d{2}" in SOAP (stAmount, up to 999999999.99) and as
// integer cents in its REST APIs; CSV files from enti carry "12.5", "12.50" or "12".
package amount

import (
	"errors"
	"fmt"
)

// Cents is an amount in euro cents.
type Cents = int64

// Max is the largest amount pagoPA accepts: 999,999,999.99 euro.
const Max Cents = 99_999_999_999

// ErrSyntax is the class of every parse error.
var ErrSyntax = errors.New("amount: malformed")

// ParseSOAP parses the strict SOAP form: digits, a dot and exactly two decimals.
func ParseSOAP(s string) (Cents, error) { return parse(s, true) }

// Parse parses the forms found in enti's files: "12", "12.5", "12.50" (dot as the
// decimal separator, no thousands separator, no sign).
func Parse(s string) (Cents, error) { return parse(s, false) }

func parse(s string, strict bool) (Cents, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: importo vuoto (empty amount)", ErrSyntax)
	}
	var units, frac int64
	fracDigits := -1
	intDigits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if fracDigits >= 0 {
				if fracDigits == 2 {
					return 0, fmt.Errorf("%w: importo %q: al massimo 2 decimali (at most 2 decimals)", ErrSyntax, s)
				}
				frac = frac*10 + int64(c-'0')
				fracDigits++
				continue
			}
			intDigits++
			if intDigits > 9 {
				return 0, fmt.Errorf("%w: importo %q oltre 999999999.99 (amount too large)", ErrSyntax, s)
			}
			units = units*10 + int64(c-'0')
		case c == '.' && fracDigits < 0 && intDigits > 0:
			fracDigits = 0
		case c == ',':
			return 0, fmt.Errorf("%w: importo %q: usare il punto come separatore decimale, senza separatore delle migliaia (use a dot for decimals, no thousands separator)", ErrSyntax, s)
		default:
			return 0, fmt.Errorf("%w: importo %q: carattere %q non ammesso (only digits and one dot)", ErrSyntax, s, c)
		}
	}
	if fracDigits == 0 {
		return 0, fmt.Errorf("%w: importo %q: mancano i decimali dopo il punto (missing decimals)", ErrSyntax, s)
	}
	if strict && fracDigits != 2 {
		return 0, fmt.Errorf("%w: importo %q: servono esattamente 2 decimali, es. 10.00 (exactly 2 decimals required)", ErrSyntax, s)
	}
	if fracDigits == 1 {
		frac *= 10
	}
	return units*100 + frac, nil
}

// Format writes c as "units.cc", the SOAP form. Negative amounts get a leading minus.
func Format(c Cents) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
