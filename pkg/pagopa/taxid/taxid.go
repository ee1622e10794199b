// Package taxid checks Italian tax identifiers: the 16-character codice fiscale of a
// person (with its check letter and "omocodia" substitutions) and the 11-digit numeric
// code shared by partite IVA and the fiscal codes of legal entities and public bodies.
//
// Errors are written for the operator who typed the code: Italian first, then English.
package taxid

import (
	"errors"
	"fmt"
	"strings"
)

// Anonymous is the identifier pagoPA accepts for a debtor without a fiscal code.
const Anonymous = "ANONIMO"

// ErrInvalid is the class of every error returned here.
var ErrInvalid = errors.New("taxid: invalid code")

// Kind of identifier recognised by Check.
type Kind int

const (
	KindPerson    Kind = iota + 1 // 16-character codice fiscale
	KindNumeric                   // 11 digits: partita IVA or fiscal code of an entity
	KindAnonymous                 // ANONIMO
)

// Check validates code as either a 16-character codice fiscale or an 11-digit numeric
// code, and tells which one it is. ANONIMO is accepted only when anonymousOK.
func Check(code string, anonymousOK bool) (Kind, error) {
	switch {
	case code == Anonymous && anonymousOK:
		return KindAnonymous, nil
	case len(code) == 16:
		return KindPerson, CheckPerson(code)
	case len(code) == 11:
		return KindNumeric, CheckNumeric(code)
	default:
		return 0, fmt.Errorf("%w: %q: servono 16 caratteri (codice fiscale) o 11 cifre (partita IVA) (need 16 characters or 11 digits)", ErrInvalid, code)
	}
}

// CheckNumeric validates an 11-digit partita IVA / numeric fiscal code, check digit
// included.
func CheckNumeric(code string) error {
	if len(code) != 11 {
		return fmt.Errorf("%w: %q: servono 11 cifre (need 11 digits)", ErrInvalid, code)
	}
	sum := 0
	for i := 0; i < 11; i++ {
		c := code[i]
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: %q: solo cifre ammesse (digits only)", ErrInvalid, code)
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		if i < 10 {
			sum += d
		}
	}
	want := (10 - sum%10) % 10
	if got := int(code[10] - '0'); got != want {
		return fmt.Errorf("%w: %s: cifra di controllo %d, attesa %d (check digit %d, expected %d)", ErrInvalid, code, got, want, got, want)
	}
	return nil
}

// Values of a character in an odd (1st, 3rd, ...) position of a codice fiscale.
var oddValue = [36]int{ // 0-9 then A-Z
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
	1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
}

// omocodia letters replace digits in positions 7,8,10,11,13,14,15 (1-based).
const omocodia = "LMNPQRSTUV"

// CheckPerson validates a 16-character codice fiscale: its shape (letters and digits
// where they belong, allowing omocodia substitutions) and its check letter.
func CheckPerson(code string) error {
	if len(code) != 16 {
		return fmt.Errorf("%w: %q: servono 16 caratteri (need 16 characters)", ErrInvalid, code)
	}
	up := strings.ToUpper(code)
	if up != code {
		return fmt.Errorf("%w: %q: scrivere il codice fiscale in maiuscolo (use upper case)", ErrInvalid, code)
	}
	for i := 0; i < 15; i++ {
		c := code[i]
		switch i {
		case 0, 1, 2, 3, 4, 5, 8, 11: // surname, name, month, first letter of the municipality
			if c < 'A' || c > 'Z' {
				return fmt.Errorf("%w: %s: carattere %d (%q) deve essere una lettera (character %d must be a letter)", ErrInvalid, code, i+1, c, i+1)
			}
		default: // digits, or their omocodia letters
			if !(c >= '0' && c <= '9') && strings.IndexByte(omocodia, c) < 0 {
				return fmt.Errorf("%w: %s: carattere %d (%q) deve essere una cifra (character %d must be a digit)", ErrInvalid, code, i+1, c, i+1)
			}
		}
	}
	if !strings.ContainsRune("ABCDEHLMPRST", rune(code[8])) {
		return fmt.Errorf("%w: %s: lettera del mese %q non valida (invalid month letter)", ErrInvalid, code, code[8])
	}
	sum := 0
	for i := 0; i < 15; i++ {
		c := code[i]
		idx := 0
		if c >= '0' && c <= '9' {
			idx = int(c - '0')
		} else {
			idx = 10 + int(c-'A')
		}
		if i%2 == 0 { // 1-based odd position
			sum += oddValue[idx]
		} else if c >= '0' && c <= '9' {
			sum += int(c - '0')
		} else {
			sum += int(c - 'A')
		}
	}
	want := byte('A' + sum%26)
	if code[15] != want {
		return fmt.Errorf("%w: %s: carattere di controllo %c, atteso %c (check character %c, expected %c)", ErrInvalid, code, code[15], want, code[15], want)
	}
	return nil
}
