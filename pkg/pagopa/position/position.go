// Package position is the debt position ("posizione debitoria", "pendenza") an ente
// loads so that its debtors can pay it on pagoPA: the model, its per-field validation
// and the rules that say whether one of its payment options can be paid now.
//
// A Position belongs to one ente (its idPA fiscal code) and is identified by the ente's
// own id (IUPD: GovPay's idPendenza, MyPay's IUD). It has one or more payment Options,
// each with its own notice number and IUV: a single payment ("rata unica", Instalment 0)
// and/or numbered instalments ("rate"). Each option carries 1–5 Transfers whose amounts
// sum to the option's amount. All amounts are integer euro cents.
//
// Storage lives in package posdb; this package has no I/O.
package position

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Rome must resolve on hosts without a zoneinfo database
)

// State of a position.
type State string

const (
	StateValid         State = "valid"          // payable
	StatePartiallyPaid State = "partially_paid" // some instalments paid
	StatePaid          State = "paid"           // fully paid
	StateExpired       State = "expired"        // past its expiry date: no longer payable
	StateCancelled     State = "cancelled"      // withdrawn by the ente
)

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StateValid, StatePartiallyPaid, StatePaid, StateExpired, StateCancelled:
		return true
	}
	return false
}

// Position is one debt of one debtor towards one ente.
type Position struct {
	Ente        string `json:"ente"`                  // creditor: idPA, 11-digit fiscal code
	IUPD        string `json:"iupd"`                  // the ente's id of the position, unique per ente
	Type        string `json:"type,omitempty"`        // tipo pendenza / tipo dovuto
	Description string `json:"description"`           // causale, ≤140
	CompanyName string `json:"companyName,omitempty"` // shown to the payer; defaults to the ente's name
	OfficeName  string `json:"officeName,omitempty"`
	Debtor      Debtor `json:"debtor"`
	// ExpiryDate, when set, is the last day the position can be paid ("scadenza" after
	// which the Node is answered PAA_PAGAMENTO_SCADUTO).
	ExpiryDate *Date `json:"expiryDate,omitempty"`
	// Document groups positions that are instalments of one document when a file loads
	// them one per row (GovPay idDocumento).
	Document string     `json:"document,omitempty"`
	Options  []Option   `json:"options"`
	Metadata []MapEntry `json:"metadata,omitempty"` // payment-level metadata (≤15)

	State     State     `json:"state"`
	Version   int64     `json:"version"` // bumped at every change; updates name the version they read
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Option is one way to pay the position: the single payment or one instalment.
type Option struct {
	NoticeNumber string     `json:"noticeNumber,omitempty"` // 18 digits; generated when empty
	IUV          string     `json:"iuv,omitempty"`          // creditorReferenceId, derived from the notice number
	Instalment   int        `json:"instalment"`             // 0 = single payment, 1..n = instalment number
	Amount       int64      `json:"amount"`                 // euro cents = sum of the transfers
	DueDate      Date       `json:"dueDate"`
	Description  string     `json:"description,omitempty"` // defaults to the position's
	Transfers    []Transfer `json:"transfers"`
	Metadata     []MapEntry `json:"metadata,omitempty"`

	// Set when a receipt paid this option.
	ReceiptID string     `json:"receiptId,omitempty"`
	PaidAt    *time.Time `json:"paidAt,omitempty"`
}

// Paid reports whether a receipt paid this option.
func (o *Option) Paid() bool { return o.ReceiptID != "" }

// Transfer is one beneficiary's share ("versamento", "voce") of an option.
type Transfer struct {
	ID          int        `json:"id"`                    // idTransfer 1..5, by position in the list
	Ref         string     `json:"ref,omitempty"`         // the ente's own id of the line (GovPay idVoce)
	Amount      int64      `json:"amount"`                // euro cents
	Beneficiary string     `json:"beneficiary,omitempty"` // fiscalCodePA of the beneficiary; defaults to the ente
	CompanyName string     `json:"companyName,omitempty"`
	IBAN        string     `json:"iban,omitempty"`  // credit account, or
	Stamp       *Stamp     `json:"stamp,omitempty"` // a digital revenue stamp (marca da bollo)
	Remittance  string     `json:"remittanceInformation"`
	Category    string     `json:"category"` // taxonomy code (transferCategory), e.g. 9/0101002IM
	Metadata    []MapEntry `json:"metadata,omitempty"`
}

// Stamp is the request of a digital revenue stamp (@e.bollo) instead of an IBAN.
type Stamp struct {
	HashDocument string `json:"hashDocument"` // base64 SHA-256 of the document to stamp
	Type         string `json:"type"`         // tipoBollo, "01"
	Province     string `json:"province"`     // provincia di residenza, 2 letters
}

// Debtor is who owes the position.
type Debtor struct {
	Type       string `json:"type"` // F natural person, G legal person
	ID         string `json:"id"`   // codice fiscale, partita IVA or ANONIMO
	Name       string `json:"name"`
	Street     string `json:"street,omitempty"`
	Civic      string `json:"civic,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	City       string `json:"city,omitempty"`
	Province   string `json:"province,omitempty"`
	Country    string `json:"country,omitempty"`
	Email      string `json:"email,omitempty"`
}

// MapEntry is a metadata key/value pair (pagoPA ctMapEntry).
type MapEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Amount is what the position is worth: the single payment's amount when there is one,
// otherwise the sum of the instalments.
func (p *Position) Amount() int64 {
	var sum int64
	for i := range p.Options {
		if p.Options[i].Instalment == 0 {
			return p.Options[i].Amount
		}
		sum += p.Options[i].Amount
	}
	return sum
}

// Option returns the option with the notice number, or nil.
func (p *Position) Option(noticeNumber string) *Option {
	for i := range p.Options {
		if p.Options[i].NoticeNumber == noticeNumber {
			return &p.Options[i]
		}
	}
	return nil
}

// Normalize fills what can be derived: transfer ids by order, the ente as default
// beneficiary, the option description. It does not validate.
func (p *Position) Normalize() {
	for i := range p.Options {
		o := &p.Options[i]
		if o.Description == "" {
			o.Description = p.Description
		}
		for j := range o.Transfers {
			t := &o.Transfers[j]
			t.ID = j + 1
			if t.Beneficiary == "" {
				t.Beneficiary = p.Ente
			}
		}
	}
	if p.State == "" {
		p.State = StateValid
	}
}

// SettledState computes the state from the options' payments: paid when the single
// payment or every instalment is paid, partially paid when some instalments are.
func (p *Position) SettledState() State {
	if p.State == StateCancelled {
		return StateCancelled
	}
	paid, instalments := 0, 0
	for i := range p.Options {
		o := &p.Options[i]
		if o.Instalment == 0 {
			if o.Paid() {
				return StatePaid
			}
			continue
		}
		instalments++
		if o.Paid() {
			paid++
		}
	}
	switch {
	case instalments > 0 && paid == instalments:
		return StatePaid
	case paid > 0:
		return StatePartiallyPaid
	case p.State == StateExpired:
		return StateExpired
	}
	return StateValid
}

// Rome is the time zone of the civil dates of pagoPA (due dates, expiry dates).
var Rome = mustLoad("Europe/Rome")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("position: time zone " + name + ": " + err.Error())
	}
	return loc
}

// EffectiveState is the state a reader should see at instant now: a valid position past
// its expiry date (in Italian time) is expired even before a job records it.
func (p *Position) EffectiveState(now time.Time) State {
	if (p.State == StateValid || p.State == StatePartiallyPaid) && p.ExpiryDate != nil {
		if Today(now).After(*p.ExpiryDate) {
			return StateExpired
		}
	}
	return p.State
}

// Reasons an option cannot be paid, for errors.Is; the paForNode server maps them to
// PAA_PAGAMENTO_* faults.
var (
	ErrPaid      = errors.New("position: already paid")
	ErrCancelled = errors.New("position: cancelled")
	ErrExpired   = errors.New("position: expired")
	ErrUnknown   = errors.New("position: unknown notice")
)

// CheckPayable says whether the option with noticeNumber can be paid at now.
func (p *Position) CheckPayable(noticeNumber string, now time.Time) (*Option, error) {
	o := p.Option(noticeNumber)
	if o == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknown, noticeNumber)
	}
	switch p.EffectiveState(now) {
	case StateCancelled:
		return o, fmt.Errorf("%w: avviso %s annullato dall'ente (notice cancelled by the creditor)", ErrCancelled, noticeNumber)
	case StatePaid:
		return o, fmt.Errorf("%w: avviso %s già pagato (notice already paid)", ErrPaid, noticeNumber)
	case StateExpired:
		return o, fmt.Errorf("%w: avviso %s scaduto il %s (notice expired)", ErrExpired, noticeNumber, p.ExpiryDate)
	}
	if o.Paid() {
		return o, fmt.Errorf("%w: avviso %s già pagato (notice already paid)", ErrPaid, noticeNumber)
	}
	if o.Instalment == 0 && p.SettledState() == StatePartiallyPaid {
		return o, fmt.Errorf("%w: pagamento in unica soluzione non più possibile, alcune rate sono già pagate: pagare le rate restanti (some instalments are already paid: pay the remaining ones)",
			ErrPaid)
	}
	return o, nil
}

// Date is a civil date (no time, no zone), written YYYY-MM-DD.
type Date struct{ y, m, d int }

// NewDate builds a Date; ParseDate checks the calendar.
func NewDate(y int, m time.Month, d int) Date { return Date{y, int(m), d} }

// Today is the civil date in Italy at instant t.
func Today(t time.Time) Date {
	y, m, d := t.In(Rome).Date()
	return Date{y, int(m), d}
}

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("data %q non valida: usare AAAA-MM-GG (invalid date: use YYYY-MM-DD)", s)
	}
	return Date{t.Year(), int(t.Month()), t.Day()}, nil
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// After reports whether d is later than e.
func (d Date) After(e Date) bool {
	if d.y != e.y {
		return d.y > e.y
	}
	if d.m != e.m {
		return d.m > e.m
	}
	return d.d > e.d
}

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d)
}

// Time is midnight of d in Italy.
func (d Date) Time() time.Time { return time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, Rome) }

// MarshalJSON writes "YYYY-MM-DD", or null when unset.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("data: serve una stringa AAAA-MM-GG (a YYYY-MM-DD string is required)")
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
