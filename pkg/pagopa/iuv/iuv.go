// Package iuv builds and checks pagoPA payment references: the IUV (identificativo
// univoco versamento, the creditor's reference, 15 or 17 digits) and the 18-digit
// notice number (numero avviso, NAV) printed on the payment notice.
//
// Layout per the "Specifiche Attuative dei Codici Identificativi" (SACI 3.x):
//
//	aux 0: 0 + application code (2) + IUV base (13) + check (2)   IUV = base + check (15)
//	aux 1: 1 + IUV base (17)                                       IUV = base (17), no check
//	aux 2: 2 + IUV base (15) + check (2)                           IUV = base + check (17)
//	aux 3: 3 + segregation code (2) + IUV base (13) + check (2)    IUV = code + base + check (17)
//
// The check digits are the remainder modulo 93, on two digits, of the number written
// by the digits that precede them in the notice number (aux digit included).
package iuv

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxBase13 is the largest 13-digit IUV base a Scheme can encode.
const MaxBase13 = 9_999_999_999_999

// Classes of errors, for errors.Is.
var (
	ErrSyntax     = errors.New("iuv: malformed number")
	ErrCheckDigit = errors.New("iuv: wrong check digits")
)

// Error is a refused number: Msg says why (Italian, then English), Class is ErrSyntax
// or ErrCheckDigit.
type Error struct {
	Class error
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Class }

func syntaxErr(format string, args ...any) error {
	return &Error{Class: ErrSyntax, Msg: fmt.Sprintf(format, args...)}
}

// Scheme is how one ente (through one station) numbers its notices: the aux digit and,
// for aux 3, the segregation code assigned by PagoPA or, for aux 0, the application code.
type Scheme struct {
	AuxDigit        int // 0 or 3 for new notices (1 and 2 are legacy, parse only)
	SegregationCode int // 0..99, used with aux 3
	ApplicationCode int // 0..99, used with aux 0
}

// Validate says whether s can generate notice numbers.
func (s Scheme) Validate() error {
	switch s.AuxDigit {
	case 0:
		if s.ApplicationCode < 0 || s.ApplicationCode > 99 {
			return fmt.Errorf("iuv: codice applicazione %d fuori da 00..99 (application code out of range)", s.ApplicationCode)
		}
	case 3:
		if s.SegregationCode < 0 || s.SegregationCode > 99 {
			return fmt.Errorf("iuv: codice segregazione %d fuori da 00..99 (segregation code out of range)", s.SegregationCode)
		}
	default:
		return fmt.Errorf("iuv: aux digit %d non ammesso per nuovi avvisi: usare 0 o 3 (aux digit %d cannot generate new notices: use 0 or 3)", s.AuxDigit, s.AuxDigit)
	}
	return nil
}

// Code is the two-digit code that follows the aux digit: the segregation code for aux 3,
// the application code for aux 0.
func (s Scheme) Code() int {
	if s.AuxDigit == 3 {
		return s.SegregationCode
	}
	return s.ApplicationCode
}

// Prefix names the counter a scheme draws from, e.g. "3-01": two schemes with the same
// prefix share one sequence of IUV bases.
func (s Scheme) Prefix() string { return fmt.Sprintf("%d-%02d", s.AuxDigit, s.Code()) }

// Notice is a parsed notice number.
type Notice struct {
	Number   string // the 18 digits
	AuxDigit int
	Code     int    // segregation (aux 3) or application (aux 0) code; -1 when absent
	IUV      string // the creditorReferenceId
	Check    int    // check digits; -1 when the layout has none (aux 1)
}

// Generate returns the notice number and IUV for the IUV base seq (0..MaxBase13).
func (s Scheme) Generate(seq int64) (Notice, error) {
	if err := s.Validate(); err != nil {
		return Notice{}, err
	}
	if seq < 0 || seq > MaxBase13 {
		return Notice{}, fmt.Errorf("iuv: progressivo %d fuori da 0..%d: sequenza esaurita per %s (sequence exhausted)", seq, int64(MaxBase13), s.Prefix())
	}
	// The digits before the check: aux(1) code(2) base(13) = 16 digits, < 10^16 fits int64.
	head := int64(s.AuxDigit)*1e15 + int64(s.Code())*1e13 + seq
	check := int(head % 93)
	number := fmt.Sprintf("%d%02d%013d%02d", s.AuxDigit, s.Code(), seq, check)
	n := Notice{Number: number, AuxDigit: s.AuxDigit, Code: s.Code(), Check: check}
	if s.AuxDigit == 3 {
		n.IUV = number[1:]
	} else {
		n.IUV = number[3:]
	}
	return n, nil
}

// CheckDigits returns the mod-93 check of the digits string (at most 18 digits).
func CheckDigits(digits string) (int, error) {
	if len(digits) == 0 || len(digits) > 18 || !allDigits(digits) {
		return 0, syntaxErr("cifre %q non valide (invalid digits)", digits)
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, syntaxErr("cifre %q non valide (invalid digits)", digits)
	}
	return int(v % 93), nil
}

// Parse splits an 18-digit notice number and verifies its check digits. On a wrong
// check it returns the parsed Notice together with an error wrapping ErrCheckDigit, so
// a caller that accepts legacy numbers can still use it.
func Parse(number string) (Notice, error) {
	if len(number) != 18 || !allDigits(number) {
		return Notice{}, syntaxErr("numero avviso %q: servono 18 cifre (a notice number has 18 digits)", number)
	}
	n := Notice{Number: number, AuxDigit: int(number[0] - '0'), Code: -1, Check: -1}
	switch n.AuxDigit {
	case 0:
		n.Code = atoi2(number[1:3])
		n.IUV = number[3:]
		n.Check = atoi2(number[16:])
	case 1:
		n.IUV = number[1:]
		return n, nil
	case 2:
		n.IUV = number[1:]
		n.Check = atoi2(number[16:])
	case 3:
		n.Code = atoi2(number[1:3])
		n.IUV = number[1:]
		n.Check = atoi2(number[16:])
	default:
		return Notice{}, syntaxErr("numero avviso %q: aux digit %c non previsto (aux digit must be 0..3)", number, number[0])
	}
	want, _ := CheckDigits(number[:16])
	if want != n.Check {
		return n, &Error{Class: ErrCheckDigit, Msg: fmt.Sprintf("numero avviso %s: cifre di controllo %02d, attese %02d (check digits %02d, expected %02d)",
			number, n.Check, want, n.Check, want)}
	}
	return n, nil
}

// NoticeFromIUV rebuilds the notice number of an IUV under scheme s: for aux 3 the IUV
// already starts with the segregation code; for aux 0 the application code is inserted.
// The check digits are verified.
func (s Scheme) NoticeFromIUV(iuvCode string) (Notice, error) {
	var number string
	switch s.AuxDigit {
	case 3:
		if len(iuvCode) != 17 || !allDigits(iuvCode) {
			return Notice{}, syntaxErr("IUV %q: con aux digit 3 servono 17 cifre (with aux digit 3 an IUV has 17 digits)", iuvCode)
		}
		if got := atoi2(iuvCode[:2]); got != s.SegregationCode {
			return Notice{}, syntaxErr("IUV %s: codice segregazione %02d, atteso %02d (segregation code %02d, expected %02d)",
				iuvCode, got, s.SegregationCode, got, s.SegregationCode)
		}
		number = "3" + iuvCode
	case 0:
		if len(iuvCode) != 15 || !allDigits(iuvCode) {
			return Notice{}, syntaxErr("IUV %q: con aux digit 0 servono 15 cifre (with aux digit 0 an IUV has 15 digits)", iuvCode)
		}
		number = fmt.Sprintf("0%02d%s", s.ApplicationCode, iuvCode)
	default:
		return Notice{}, s.Validate()
	}
	return Parse(number)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }
