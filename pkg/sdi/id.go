package sdi

import (
	"fmt"
	"strconv"
	"strings"
)

// IdentificativoSdI is the identifier the SdI gives a file. It is kept as a string end
// to end: the SDICoop and PA message schemas define it as xsd:integer of up to 12 digits
// (beyond 32 bits: a peer that stored it in an int32 overflowed), the B2B schemas as a
// string of up to 36 characters. Numeric identifiers are held in canonical form (no
// sign, no leading zeros), so "000123" and "123" are the same file.
type IdentificativoSdI string

// MaxIdentificativoLen is the longest identifier accepted (the B2B schema's maximum).
const MaxIdentificativoLen = 36

// ParseIdentificativoSdI reads an identifier: decimal digits (canonicalised), or for the
// B2B flows up to 36 letters, digits and -_. characters.
func ParseIdentificativoSdI(s string) (IdentificativoSdI, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("IdentificativoSdI vuoto (empty IdentificativoSdI)")
	}
	if digits := strings.TrimPrefix(s, "+"); isDigits(digits) {
		digits = strings.TrimLeft(digits, "0")
		if digits == "" {
			digits = "0"
		}
		if len(digits) > 18 {
			return "", fmt.Errorf("IdentificativoSdI %q oltre 18 cifre (more than 18 digits)", clip(s))
		}
		return IdentificativoSdI(digits), nil
	}
	if len(s) > MaxIdentificativoLen {
		return "", fmt.Errorf("IdentificativoSdI %q oltre %d caratteri (longer than %d characters)", clip(s), MaxIdentificativoLen, MaxIdentificativoLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return "", fmt.Errorf("IdentificativoSdI %q con carattere non ammesso %q (character not allowed)", clip(s), c)
		}
	}
	return IdentificativoSdI(s), nil
}

// FromInt64 is the identifier n.
func FromInt64(n int64) IdentificativoSdI { return IdentificativoSdI(strconv.FormatInt(n, 10)) }

// Int64 returns the numeric value, and false for a non-numeric (B2B) identifier.
func (id IdentificativoSdI) Int64() (int64, bool) {
	n, err := strconv.ParseInt(string(id), 10, 64)
	return n, err == nil
}

// IsZero reports an empty identifier or 0, which the SdI returns with an error.
func (id IdentificativoSdI) IsZero() bool { return id == "" || id == "0" }

// CheckWS checks the identifier fits the SDICoop type: 1 to 12 decimal digits.
func (id IdentificativoSdI) CheckWS() error {
	if !isDigits(string(id)) || len(id) > 12 {
		return fmt.Errorf("IdentificativoSdI %q: attese da 1 a 12 cifre (1 to 12 digits expected)", clip(string(id)))
	}
	return nil
}

func (id IdentificativoSdI) String() string { return string(id) }

// MarshalText writes the identifier.
func (id IdentificativoSdI) MarshalText() ([]byte, error) { return []byte(id), nil }

// UnmarshalText parses and canonicalises the identifier.
func (id *IdentificativoSdI) UnmarshalText(b []byte) error {
	v, err := ParseIdentificativoSdI(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens hostile input quoted in errors.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
