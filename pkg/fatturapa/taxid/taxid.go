// Package taxid checks the structure and check character of Italian tax identifiers:
// the partita IVA (11 digits) and the codice fiscale (16 characters for a person, or 11
// digits for a legal entity or a provisional code).
//
// This is what can be decided offline. The SdI goes further and looks every Italian
// identifier up in the Anagrafe Tributaria (codes 00300-00306: a partita IVA must exist
// and not be ceased); a well-formed number with a right check digit may still be
// refused there.
package taxid

import "fmt"

// PartitaIVA checks an 11-digit partita IVA: digits only and the Luhn-style check digit
// of the Agenzia delle Entrate. It returns nil or an error saying what is wrong, in
// Italian first, then English.
func PartitaIVA(s string) error { return numeric("partita IVA", s) }

// numeric checks an 11-digit code (partita IVA, numeric codice fiscale) called noun.
func numeric(noun, s string) error {
	if len(s) != 11 {
		return fmt.Errorf("%s %q di %d caratteri: ne servono 11 cifre (11 digits are needed)", noun, s, len(s))
	}
	for i := 0; i < 11; i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%s %q: solo cifre (digits only)", noun, s)
		}
	}
	if want := luhnDigit(s[:10]); s[10] != want {
		return fmt.Errorf("%s %q: cifra di controllo %c errata, atteso %c (wrong check digit)", noun, s, s[10], want)
	}
	return nil
}

// luhnDigit computes the check digit of the first 10 digits of a partita IVA.
func luhnDigit(s string) byte {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// CodiceFiscale checks a codice fiscale: 11 digits (legal entities, provisional codes:
// the partita IVA algorithm) or 16 characters for a person, letters where letters
// belong, digits or their omocodia letters (L M N P Q R S T U V) where digits belong,
// a month letter among A B C D E H L M P R S T, and the final check letter. Lower case
// is refused: the SdI expects capitals.
func CodiceFiscale(s string) error {
	switch len(s) {
	case 11:
		return numeric("codice fiscale numerico", s)
	case 16:
	default:
		return fmt.Errorf("codice fiscale %q di %d caratteri: ne servono 16 (persona) o 11 cifre (ente) "+
			"(a codice fiscale has 16 characters, or 11 digits)", s, len(s))
	}
	for i := 0; i < 16; i++ {
		c := s[i]
		switch {
		case letterPos(i):
			if c < 'A' || c > 'Z' {
				return fmt.Errorf("codice fiscale %q: in posizione %d serve una lettera maiuscola (a capital letter is needed at position %d)", s, i+1, i+1)
			}
		default: // digit positions 7-8, 10-11, 13-15 (1-based), with omocodia letters
			if !(c >= '0' && c <= '9') && !isOmocodia(c) {
				return fmt.Errorf("codice fiscale %q: in posizione %d serve una cifra (a digit is needed at position %d)", s, i+1, i+1)
			}
		}
	}
	if !isMonth(s[8]) {
		return fmt.Errorf("codice fiscale %q: lettera del mese %q non valida (invalid month letter)", s, s[8])
	}
	if want := cfCheck(s[:15]); s[15] != want {
		return fmt.Errorf("codice fiscale %q: carattere di controllo %c errato, atteso %c (wrong check character)", s, s[15], want)
	}
	return nil
}

// letterPos reports whether 0-based position i of a 16-character code holds a letter.
func letterPos(i int) bool { return i < 6 || i == 8 || i == 11 || i == 15 }

func isOmocodia(c byte) bool {
	switch c {
	case 'L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'U', 'V':
		return true
	}
	return false
}

func isMonth(c byte) bool {
	switch c {
	case 'A', 'B', 'C', 'D', 'E', 'H', 'L', 'M', 'P', 'R', 'S', 'T':
		return true
	}
	return false
}

// oddValues are the values of the characters in odd (1-based) positions, for digits
// 0-9 and letters A-Z alike (a digit counts as the letter of the same index).
var oddValues = [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}

// cfCheck computes the check letter of the first 15 characters.
func cfCheck(s string) byte {
	sum := 0
	for i := 0; i < 15; i++ {
		c := s[i]
		var idx int
		if c >= '0' && c <= '9' {
			idx = int(c - '0')
		} else {
			idx = int(c - 'A')
		}
		if i%2 == 0 { // odd position, 1-based
			sum += oddValues[idx]
		} else {
			sum += idx
		}
	}
	return byte('A' + sum%26)
}
