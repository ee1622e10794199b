package pafornode

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// SyntaxError lists what a request lacks or gets wrong against paForNode.xsd; the server
// answers it with PAA_SINTASSI_XSD.
type SyntaxError struct {
	Element  string
	Problems []string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s non conforme allo schema (does not match the schema): %s", e.Element, strings.Join(e.Problems, "; "))
}

var (
	reFiscalCodePA = regexp.MustCompile(`^[0-9]{11}$`)
	reNotice       = regexp.MustCompile(`^[0-9]{18}$`)
	reAmount       = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	reDate         = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}([+-][0-9]{2}:[0-9]{2}|Z)?$`)
	reIDTransfer   = regexp.MustCompile(`^[1-5]$`)
)

type checker struct{ problems []string }

func (c *checker) add(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *checker) text(name, v string, max int) {
	switch n := utf8.RuneCountInString(v); {
	case v == "":
		c.add("%s mancante (missing)", name)
	case n > max:
		c.add("%s di %d caratteri, massimo %d (too long)", name, n, max)
	}
}

func (c *checker) match(name, v string, re *regexp.Regexp, want string) {
	if v == "" {
		c.add("%s mancante (missing)", name)
	} else if !re.MatchString(v) {
		c.add("%s %q non valido: %s (invalid)", name, v, want)
	}
}

func (c *checker) header(h *Header) {
	c.text("idPA", h.IDPA, 35)
	c.text("idBrokerPA", h.IDBrokerPA, 35)
	c.text("idStation", h.IDStation, 35)
}

func (c *checker) qr(q *QrCode) {
	c.match("qrCode/fiscalCode", q.FiscalCode, reFiscalCodePA, "11 cifre")
	c.match("qrCode/noticeNumber", q.NoticeNumber, reNotice, "18 cifre")
}

func (c *checker) err(element string) error {
	if len(c.problems) == 0 {
		return nil
	}
	return &SyntaxError{Element: element, Problems: c.problems}
}

// Check verifies the elements the schema requires.
func (r *VerifyRequest) Check() error {
	c := &checker{}
	c.header(&r.Header)
	c.qr(&r.QrCode)
	return c.err(RequestElement[OpVerify])
}

// Check verifies the elements the schema requires.
func (r *GetPaymentRequest) Check() error {
	c := &checker{}
	c.header(&r.Header)
	c.qr(&r.QrCode)
	if r.Amount != "" && !reAmount.MatchString(r.Amount) {
		c.add("amount %q non valido: formato 0.00 (invalid)", r.Amount)
	}
	if r.TransferType != "" && r.TransferType != "POSTAL" && r.TransferType != "PAGOPA" {
		c.add("transferType %q: POSTAL o PAGOPA (invalid)", r.TransferType)
	}
	if r.DueDate != "" && !reDate.MatchString(r.DueDate) {
		c.add("dueDate %q non valida (invalid)", r.DueDate)
	}
	return c.err(RequestElement[OpGetPayment])
}

// Check verifies the elements the schema requires.
func (r *DemandRequest) Check() error {
	c := &checker{}
	c.header(&r.Header)
	if len(r.IDServizio) != 5 {
		c.add("idServizio %q: servono 5 caratteri (5 characters)", r.IDServizio)
	}
	if len(r.IDSoggettoServizio) != 5 {
		c.add("idSoggettoServizio %q: servono 5 caratteri (5 characters)", r.IDSoggettoServizio)
	}
	if r.DatiSpecificiServizioRequest == "" {
		c.add("datiSpecificiServizioRequest mancante (missing)")
	}
	return c.err(RequestElement[OpDemand])
}

// Check verifies the elements the schema requires of the request and its receipt.
func (r *SendRTRequest) Check() error {
	c := &checker{}
	c.header(&r.Header)
	rc := &r.Receipt
	c.text("receipt/receiptId", rc.ReceiptID, 256)
	c.match("receipt/noticeNumber", rc.NoticeNumber, reNotice, "18 cifre")
	c.match("receipt/fiscalCode", rc.FiscalCode, reFiscalCodePA, "11 cifre")
	if rc.Outcome != "OK" && rc.Outcome != "KO" {
		c.add("receipt/outcome %q: OK o KO (invalid)", rc.Outcome)
	}
	c.text("receipt/creditorReferenceId", rc.CreditorReferenceID, 35)
	c.match("receipt/paymentAmount", rc.PaymentAmount, reAmount, "formato 0.00")
	c.text("receipt/description", rc.Description, 140)
	c.text("receipt/companyName", rc.CompanyName, 140)
	c.subject("receipt/debtor", &rc.Debtor)
	if rc.Payer != nil {
		c.subject("receipt/payer", rc.Payer)
	}
	switch n := len(rc.Transfers); {
	case n == 0:
		c.add("receipt/transferList vuota (empty)")
	case n > 5:
		c.add("receipt/transferList con %d versamenti, massimo 5 (too many)", n)
	}
	for i, t := range rc.Transfers {
		p := fmt.Sprintf("receipt/transfer[%d]/", i+1)
		c.match(p+"idTransfer", t.IDTransfer, reIDTransfer, "1..5")
		c.match(p+"transferAmount", t.TransferAmount, reAmount, "formato 0.00")
		c.match(p+"fiscalCodePA", t.FiscalCodePA, reFiscalCodePA, "11 cifre")
		if (t.IBAN == "") == (t.MBDAttachment == "") {
			c.add("%sIBAN o MBDAttachment: serve esattamente uno dei due (exactly one required)", p)
		}
		c.text(p+"remittanceInformation", t.RemittanceInformation, 140)
		c.text(p+"transferCategory", t.TransferCategory, 140)
	}
	c.text("receipt/idPSP", rc.IDPSP, 35)
	c.text("receipt/PSPCompanyName", rc.PSPCompanyName, 70)
	c.text("receipt/idChannel", rc.IDChannel, 35)
	c.text("receipt/channelDescription", rc.ChannelDescription, 35)
	if rc.Fee != "" && !reAmount.MatchString(rc.Fee) {
		c.add("receipt/fee %q non valido: formato 0.00 (invalid)", rc.Fee)
	}
	return c.err(RequestElement[OpSendRT])
}

func (c *checker) subject(p string, s *Subject) {
	if t := s.UniqueIdentifier.Type; t != "F" && t != "G" {
		c.add("%s/entityUniqueIdentifierType %q: F o G (invalid)", p, t)
	}
	if v := s.UniqueIdentifier.Value; len(v) < 2 || len(v) > 16 {
		c.add("%s/entityUniqueIdentifierValue %q: da 2 a 16 caratteri (2 to 16 characters)", p, v)
	}
	c.text(p+"/fullName", s.FullName, 70)
}
