package position

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/iuv"
	"snodo/pkg/pagopa/taxid"
)

// Limits of the model, from the pagoPA schemas (paForNode.xsd, sac-common-types).
const (
	MaxTransfers   = 5   // transferList maxOccurs
	MaxMetadata    = 15  // ctMetadata maxOccurs
	MaxOptions     = 100 // instalments of one position (hub limit)
	MaxIUPD        = 35
	MaxDescription = 140
	MaxName        = 70
)

// FieldError is one problem with one field, the path written like
// "options[0].transfers[1].iban".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"` // Italian first, then English in parentheses
}

// ValidationError lists every problem found in a position.
type ValidationError struct {
	Fields []FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "posizione non valida (invalid position): " + strings.Join(parts, "; ")
}

// Rules tune validation.
type Rules struct {
	// AllowUncheckedNotices accepts notice numbers whose check digits do not verify (or
	// legacy aux digits 1 and 2), for notices issued by an ente's previous intermediary.
	AllowUncheckedNotices bool
}

type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// text checks a free-text field: required or not, length in characters, no control
// characters.
func (c *checker) text(field, v string, required bool, max int) {
	if v == "" {
		if required {
			c.add(field, "obbligatorio (required)")
		}
		return
	}
	if !utf8.ValidString(v) {
		c.add(field, "testo non UTF-8 (not valid UTF-8)")
		return
	}
	if n := utf8.RuneCountInString(v); n > max {
		c.add(field, "%d caratteri, massimo %d (%d characters, at most %d)", n, max, n, max)
	}
	if strings.TrimSpace(v) == "" {
		c.add(field, "solo spazi (blank)")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			c.add(field, "carattere di controllo %U non ammesso (control character not allowed)", r)
			return
		}
	}
}

var (
	emailRe    = regexp.MustCompile(`^[a-zA-Z0-9_.+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$`) // stEMail
	twoLetters = regexp.MustCompile(`^[A-Z]{2}$`)
	digits11   = regexp.MustCompile(`^[0-9]{11}$`)
)

// Validate checks p (after Normalize) and returns a *ValidationError listing every
// problem, or nil.
func Validate(p *Position, r Rules) error {
	c := &checker{}
	if !digits11.MatchString(p.Ente) {
		c.add("ente", "codice fiscale dell'ente %q: servono 11 cifre (the ente's fiscal code needs 11 digits)", p.Ente)
	}
	c.text("iupd", p.IUPD, true, MaxIUPD)
	c.text("type", p.Type, false, 64)
	c.text("description", p.Description, true, MaxDescription)
	c.text("companyName", p.CompanyName, false, MaxDescription)
	c.text("officeName", p.OfficeName, false, MaxDescription)
	c.text("document", p.Document, false, MaxIUPD)
	validateDebtor(c, &p.Debtor)
	validateMetadata(c, "metadata", p.Metadata)
	if p.State != "" && !p.State.Valid() {
		c.add("state", "stato %q sconosciuto (unknown state)", p.State)
	}

	switch n := len(p.Options); {
	case n == 0:
		c.add("options", "serve almeno un'opzione di pagamento (at least one payment option is required)")
	case n > MaxOptions:
		c.add("options", "%d opzioni, massimo %d (%d options, at most %d)", n, MaxOptions, n, MaxOptions)
	}
	singles := 0
	seenInst := map[int]bool{}
	seenNotice := map[string]bool{}
	for i := range p.Options {
		o := &p.Options[i]
		f := fmt.Sprintf("options[%d]", i)
		switch {
		case o.Instalment == 0:
			singles++
			if singles == 2 {
				c.add(f+".instalment", "più di un pagamento in unica soluzione (more than one single payment)")
			}
		case o.Instalment < 0:
			c.add(f+".instalment", "numero rata %d non valido (invalid instalment number)", o.Instalment)
		case seenInst[o.Instalment]:
			c.add(f+".instalment", "rata %d ripetuta (instalment repeated)", o.Instalment)
		}
		seenInst[o.Instalment] = true
		if o.NoticeNumber != "" {
			if seenNotice[o.NoticeNumber] {
				c.add(f+".noticeNumber", "numero avviso %s ripetuto (notice number repeated)", o.NoticeNumber)
			}
			seenNotice[o.NoticeNumber] = true
		}
		validateOption(c, f, p, o, r)
	}
	if p.ExpiryDate != nil && p.ExpiryDate.IsZero() {
		c.add("expiryDate", "data vuota (empty date)")
	}
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: c.errs}
}

func validateOption(c *checker, f string, p *Position, o *Option, r Rules) {
	if o.NoticeNumber != "" {
		n, err := iuv.Parse(o.NoticeNumber)
		switch {
		case errors.Is(err, iuv.ErrCheckDigit) && r.AllowUncheckedNotices:
		case err != nil:
			c.add(f+".noticeNumber", "%s", err.Error())
		case (n.AuxDigit == 1 || n.AuxDigit == 2) && !r.AllowUncheckedNotices:
			c.add(f+".noticeNumber", "aux digit %d dismesso: usare 0 o 3 (deprecated aux digit: use 0 or 3)", n.AuxDigit)
		}
		if o.IUV != "" && n.IUV != "" && o.IUV != n.IUV {
			c.add(f+".iuv", "IUV %s diverso da quello del numero avviso (%s) (IUV does not match the notice number)", o.IUV, n.IUV)
		}
	} else if o.IUV != "" {
		c.add(f+".iuv", "IUV senza numero avviso: indicare il numero avviso o nessuno dei due (IUV without notice number)")
	}
	if o.Amount < 1 || o.Amount > amount.Max {
		c.add(f+".amount", "importo %s fuori da 0.01..999999999.99 (amount out of range)", amount.Format(o.Amount))
	}
	if o.DueDate.IsZero() {
		c.add(f+".dueDate", "data di scadenza obbligatoria (due date required)")
	}
	c.text(f+".description", o.Description, false, MaxDescription)
	validateMetadata(c, f+".metadata", o.Metadata)

	switch n := len(o.Transfers); {
	case n == 0:
		c.add(f+".transfers", "serve almeno un versamento (at least one transfer is required)")
		return
	case n > MaxTransfers:
		c.add(f+".transfers", "%d versamenti, massimo %d (%d transfers, at most %d)", n, MaxTransfers, n, MaxTransfers)
	}
	var sum int64
	for j := range o.Transfers {
		t := &o.Transfers[j]
		tf := fmt.Sprintf("%s.transfers[%d]", f, j)
		sum += t.Amount
		if t.Amount < 1 || t.Amount > amount.Max {
			c.add(tf+".amount", "importo %s fuori da 0.01..999999999.99 (amount out of range)", amount.Format(t.Amount))
		}
		switch {
		case !digits11.MatchString(t.Beneficiary):
			c.add(tf+".beneficiary", "codice fiscale del beneficiario %q: servono 11 cifre (11 digits required)", t.Beneficiary)
		case t.Beneficiary != p.Ente:
			if err := taxid.CheckNumeric(t.Beneficiary); err != nil {
				c.add(tf+".beneficiary", "%s", strings.TrimPrefix(err.Error(), "taxid: invalid code: "))
			}
		}
		c.text(tf+".companyName", t.CompanyName, false, MaxDescription)
		c.text(tf+".ref", t.Ref, false, MaxIUPD)
		switch {
		case t.IBAN != "" && t.Stamp != nil:
			c.add(tf, "indicare l'IBAN oppure la marca da bollo, non entrambi (IBAN or stamp, not both)")
		case t.IBAN == "" && t.Stamp == nil:
			c.add(tf+".iban", "IBAN obbligatorio se il versamento non è una marca da bollo (IBAN required unless a stamp)")
		case t.IBAN != "":
			if err := iban.Check(t.IBAN); err != nil {
				c.add(tf+".iban", "%s", strings.TrimPrefix(err.Error(), "iban: invalid: "))
			}
		default:
			validateStamp(c, tf+".stamp", t.Stamp)
		}
		c.text(tf+".remittanceInformation", t.Remittance, true, MaxDescription)
		c.text(tf+".category", t.Category, true, MaxDescription)
		validateMetadata(c, tf+".metadata", t.Metadata)
	}
	if sum != o.Amount {
		c.add(f+".amount", "importo %s diverso dalla somma dei versamenti %s (amount differs from the sum of the transfers)",
			amount.Format(o.Amount), amount.Format(sum))
	}
}

func validateStamp(c *checker, f string, s *Stamp) {
	if n := len(s.HashDocument); n < 4 || n > 72 {
		c.add(f+".hashDocument", "hash del documento di %d caratteri, servono 4..72 (base64, 4..72 characters)", n)
	} else if _, err := base64.StdEncoding.DecodeString(s.HashDocument); err != nil {
		c.add(f+".hashDocument", "hash del documento non in base64 (not base64)")
	}
	if s.Type != "01" {
		c.add(f+".type", "tipo bollo %q: unico valore ammesso 01 (only 01 is allowed)", s.Type)
	}
	if !twoLetters.MatchString(s.Province) {
		c.add(f+".province", "provincia %q: servono 2 lettere maiuscole (2 upper-case letters)", s.Province)
	}
}

func validateDebtor(c *checker, d *Debtor) {
	switch d.Type {
	case "F", "G":
	default:
		c.add("debtor.type", "tipo %q: F (persona fisica) o G (persona giuridica) (F natural or G legal person)", d.Type)
	}
	if d.ID == "" {
		c.add("debtor.id", "codice fiscale o partita IVA obbligatorio, oppure ANONIMO (fiscal code required, or ANONIMO)")
	} else if _, err := taxid.Check(d.ID, true); err != nil {
		c.add("debtor.id", "%s", strings.TrimPrefix(err.Error(), "taxid: invalid code: "))
	}
	c.text("debtor.name", d.Name, true, MaxName)
	c.text("debtor.street", d.Street, false, 70)
	c.text("debtor.civic", d.Civic, false, 16)
	c.text("debtor.postalCode", d.PostalCode, false, 16)
	c.text("debtor.city", d.City, false, 35)
	if d.Province != "" && !twoLetters.MatchString(d.Province) {
		c.add("debtor.province", "provincia %q: servono 2 lettere maiuscole (2 upper-case letters)", d.Province)
	}
	if d.Country != "" && !twoLetters.MatchString(d.Country) {
		c.add("debtor.country", "nazione %q: codice ISO di 2 lettere maiuscole (2-letter ISO code)", d.Country)
	}
	if d.Email != "" && (len(d.Email) > 256 || !emailRe.MatchString(d.Email)) {
		c.add("debtor.email", "indirizzo e-mail %q non valido (invalid e-mail address)", d.Email)
	}
}

func validateMetadata(c *checker, f string, m []MapEntry) {
	if len(m) > MaxMetadata {
		c.add(f, "%d metadati, massimo %d (%d entries, at most %d)", len(m), MaxMetadata, len(m), MaxMetadata)
	}
	for i, e := range m {
		c.text(fmt.Sprintf("%s[%d].key", f, i), e.Key, true, 140)
		c.text(fmt.Sprintf("%s[%d].value", f, i), e.Value, true, 140)
	}
}
