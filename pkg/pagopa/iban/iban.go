// Package iban checks International Bank Account Numbers (ISO 13616): country length,
// characters and the mod-97 check digits, with the Italian BBAN layout (CIN, ABI, CAB,
// account) checked in full, and tells a Poste Italiane postal IBAN apart.
package iban

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is the class of every error returned here.
var ErrInvalid = errors.New("iban: invalid")

// PosteABI is the ABI code of Poste Italiane: an Italian IBAN with it is a postal account
// ("conto corrente postale"), which pagoPA treats apart (allCCP, transferType POSTAL).
const PosteABI = "07601"

// lengths of the IBAN per country, for the SEPA area (where pagoPA beneficiaries are).
var lengths = map[string]int{
	"AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
	"EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
	"IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
	"NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
	"VA": 22,
}

// Normalize removes spaces and upper-cases s, the form in which IBANs are stored.
func Normalize(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// Check validates an IBAN already in normalized form.
func Check(s string) error {
	if len(s) < 15 || len(s) > 34 {
		return fmt.Errorf("%w: %q: lunghezza %d fuori da 15..34 (length %d out of 15..34)", ErrInvalid, s, len(s), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("%w: %q: carattere %q non ammesso, solo lettere maiuscole e cifre (only upper-case letters and digits)", ErrInvalid, s, c)
		}
	}
	country := s[:2]
	if country[0] < 'A' || country[1] < 'A' || s[2] > '9' || s[3] > '9' {
		return fmt.Errorf("%w: %q: deve iniziare con il paese (2 lettere) e 2 cifre di controllo (must start with a country code and 2 check digits)", ErrInvalid, s)
	}
	if want, ok := lengths[country]; ok && len(s) != want {
		return fmt.Errorf("%w: %s: un IBAN %s ha %d caratteri, non %d (a %s IBAN has %d characters, not %d)", ErrInvalid, s, country, want, len(s), country, want, len(s))
	}
	if country == "IT" || country == "SM" {
		if s[4] < 'A' || s[4] > 'Z' {
			return fmt.Errorf("%w: %s: il CIN (5° carattere) deve essere una lettera (the CIN must be a letter)", ErrInvalid, s)
		}
		for i := 5; i < 15; i++ {
			if s[i] < '0' || s[i] > '9' {
				return fmt.Errorf("%w: %s: ABI e CAB (caratteri 6-15) devono essere cifre (ABI and CAB must be digits)", ErrInvalid, s)
			}
		}
	}
	// mod 97 over BBAN + country + check, letters as 10..35, computed piecewise.
	rem := 0
	add := func(c byte) {
		if c >= 'A' {
			v := int(c-'A') + 10
			rem = (rem*100 + v) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	for i := 4; i < len(s); i++ {
		add(s[i])
	}
	for i := 0; i < 4; i++ {
		add(s[i])
	}
	if rem != 1 {
		return fmt.Errorf("%w: %s: cifre di controllo errate (mod 97 = %d): verificare l'IBAN (wrong check digits)", ErrInvalid, s, rem)
	}
	return nil
}

// IsPostal says whether a valid Italian IBAN belongs to Poste Italiane.
func IsPostal(s string) bool {
	return len(s) == 27 && s[:2] == "IT" && s[5:10] == PosteABI
}
