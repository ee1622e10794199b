package position

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"snodo/pkg/pagopa/iuv"
)

// sample is a valid two-transfer position of ente 01234567897.
func sample() *Position {
	p := &Position{
		Ente:        "01234567897",
		IUPD:        "TARI-2026-0001",
		Description: "TARI 2026 acconto",
		Debtor:      Debtor{Type: "F", ID: "RSSMRA30A01H501I", Name: "Mario Rossi", Email: "mario.rossi@example.it", Country: "IT", Province: "AN"},
		Options: []Option{{
			Amount:  12050,
			DueDate: NewDate(2026, 12, 31),
			Transfers: []Transfer{
				{Amount: 10000, IBAN: "IT60X0542811101000000123456", Remittance: "TARI 2026", Category: "9/0101002IM"},
				{Amount: 2050, Beneficiary: "80001234568", IBAN: "IT45R0760103200000000001016", Remittance: "TEFA 2026", Category: "9/0201102IM"},
			},
		}},
	}
	p.Normalize()
	return p
}

func TestValidateOK(t *testing.T) {
	p := sample()
	if err := Validate(p, Rules{}); err != nil {
		t.Fatal(err)
	}
	if p.Options[0].Transfers[1].ID != 2 || p.Options[0].Transfers[0].Beneficiary != p.Ente {
		t.Fatalf("Normalize: %+v", p.Options[0].Transfers)
	}
	if p.Amount() != 12050 || p.State != StateValid {
		t.Fatal(p.Amount(), p.State)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(p *Position)
		field string
		msg   string
	}{
		{"bad ente", func(p *Position) { p.Ente = "123" }, "ente", "11 cifre"},
		{"no iupd", func(p *Position) { p.IUPD = "" }, "iupd", "obbligatorio"},
		{"long causale", func(p *Position) { p.Description = strings.Repeat("x", 141) }, "description", "massimo 140"},
		{"control char", func(p *Position) { p.Description = "a\x00b" }, "description", "controllo"},
		{"debtor cf", func(p *Position) { p.Debtor.ID = "RSSMRA30A01H501J" }, "debtor.id", "atteso I"},
		{"debtor type", func(p *Position) { p.Debtor.Type = "X" }, "debtor.type", "F (persona fisica)"},
		{"debtor email", func(p *Position) { p.Debtor.Email = "a@@b" }, "debtor.email", "e-mail"},
		{"amount mismatch", func(p *Position) { p.Options[0].Amount = 12000 }, "options[0].amount", "somma dei versamenti"},
		{"bad iban", func(p *Position) { p.Options[0].Transfers[0].IBAN = "IT60X0542811101000000123457" }, "options[0].transfers[0].iban", "mod 97"},
		{"bad beneficiary", func(p *Position) { p.Options[0].Transfers[1].Beneficiary = "80001234567" }, "options[0].transfers[1].beneficiary", "attesa 8"},
		{"six transfers", func(p *Position) {
			tr := p.Options[0].Transfers[0]
			tr.Amount = 1
			p.Options[0].Transfers = []Transfer{tr, tr, tr, tr, tr, tr}
			p.Options[0].Amount = 6
		}, "options[0].transfers", "massimo 5"},
		{"no transfers", func(p *Position) { p.Options[0].Transfers = nil }, "options[0].transfers", "almeno un versamento"},
		{"iban and stamp", func(p *Position) {
			p.Options[0].Transfers[0].Stamp = &Stamp{HashDocument: "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", Type: "01", Province: "FI"}
		}, "options[0].transfers[0]", "non entrambi"},
		{"bad stamp", func(p *Position) {
			p.Options[0].Transfers[0].IBAN = ""
			p.Options[0].Transfers[0].Stamp = &Stamp{HashDocument: "!!!!", Type: "02", Province: "fi"}
		}, "options[0].transfers[0].stamp.type", "01"},
		{"notice check digit", func(p *Position) { p.Options[0].NoticeNumber = "301000000000012374" }, "options[0].noticeNumber", "attese 73"},
		{"iuv mismatch", func(p *Position) {
			p.Options[0].NoticeNumber = "301000000000012373"
			p.Options[0].IUV = "01000000000099999"
		}, "options[0].iuv", "diverso"},
		{"no due date", func(p *Position) { p.Options[0].DueDate = Date{} }, "options[0].dueDate", "obbligatoria"},
		{"two singles", func(p *Position) { p.Options = append(p.Options, p.Options[0]) }, "options[1].instalment", "più di un"},
		{"too much metadata", func(p *Position) { p.Metadata = make([]MapEntry, 16) }, "metadata", "massimo 15"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := sample()
			tc.edit(p)
			err := Validate(p, Rules{})
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			for _, f := range ve.Fields {
				if f.Field == tc.field && strings.Contains(f.Message, tc.msg) {
					return
				}
			}
			t.Fatalf("no error on %s containing %q: %v", tc.field, tc.msg, err)
		})
	}
}

func TestValidateAnonymousAndStamp(t *testing.T) {
	p := sample()
	p.Debtor = Debtor{Type: "F", ID: "ANONIMO", Name: "Anonimo"}
	p.Options[0].Transfers[1].IBAN = ""
	p.Options[0].Transfers[1].Stamp = &Stamp{HashDocument: "a/CWqtFtCEyA/ymBySahGSaqKMiak5mlX3BoX0jupy8=", Type: "01", Province: "FI"}
	if err := Validate(p, Rules{}); err != nil {
		t.Fatal(err)
	}
}

func TestUncheckedNotices(t *testing.T) {
	p := sample()
	p.Options[0].NoticeNumber = "302009921337126000" // pagopa-mock-ec sample, check digits do not verify
	if Validate(p, Rules{}) == nil {
		t.Fatal("bad check digits accepted")
	}
	if err := Validate(p, Rules{AllowUncheckedNotices: true}); err != nil {
		t.Fatal(err)
	}
}

// nav is the notice number of IUV base n under aux 3, segregation code 01.
func nav(n int64) string {
	x, err := iuv.Scheme{AuxDigit: 3, SegregationCode: 1}.Generate(n)
	if err != nil {
		panic(err)
	}
	return x.Number
}

func instalments() *Position {
	p := sample()
	single := p.Options[0]
	r1, r2 := single, single
	r1.Instalment, r1.NoticeNumber = 1, nav(19)
	r2.Instalment, r2.NoticeNumber = 2, nav(20)
	r1.Transfers = []Transfer{{Amount: 6000, IBAN: "IT60X0542811101000000123456", Remittance: "rata 1", Category: "9/0101002IM"}}
	r2.Transfers = []Transfer{{Amount: 6050, IBAN: "IT60X0542811101000000123456", Remittance: "rata 2", Category: "9/0101002IM"}}
	r1.Amount, r2.Amount = 6000, 6050
	single.NoticeNumber = nav(9)
	p.Options = []Option{single, r1, r2}
	p.Normalize()
	return p
}

func TestPayable(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	p := instalments()
	if err := Validate(p, Rules{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CheckPayable(nav(9), now); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CheckPayable("399999999999999903", now); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
	// Pay instalment 1: the position is partially paid, the single payment is closed.
	paid := now
	p.Options[1].ReceiptID, p.Options[1].PaidAt = "r1", &paid
	p.State = p.SettledState()
	if p.State != StatePartiallyPaid {
		t.Fatal(p.State)
	}
	if _, err := p.CheckPayable(nav(9), now); !errors.Is(err, ErrPaid) {
		t.Fatalf("single after instalment: %v", err)
	}
	if _, err := p.CheckPayable(nav(19), now); !errors.Is(err, ErrPaid) {
		t.Fatalf("paid instalment: %v", err)
	}
	if _, err := p.CheckPayable(nav(20), now); err != nil {
		t.Fatalf("open instalment: %v", err)
	}
	p.Options[2].ReceiptID = "r2"
	if p.State = p.SettledState(); p.State != StatePaid {
		t.Fatal(p.State)
	}

	q := sample()
	q.Options[0].NoticeNumber = nav(9)
	exp := NewDate(2026, 10, 31)
	q.ExpiryDate = &exp
	// 31 October 23:30 UTC is already 1 November in Rome: expired.
	if _, err := q.CheckPayable(nav(9), time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := q.CheckPayable(nav(9), time.Date(2026, 10, 31, 21, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("last day: %v", err)
	}
	q.State = StateCancelled
	if _, err := q.CheckPayable(nav(9), now); !errors.Is(err, ErrCancelled) {
		t.Fatal(err)
	}
}

func TestDateJSON(t *testing.T) {
	var v struct {
		D Date  `json:"d"`
		E *Date `json:"e"`
	}
	if err := json.Unmarshal([]byte(`{"d":"2026-02-28","e":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.String() != "2026-02-28" || v.E != nil {
		t.Fatal(v)
	}
	if err := json.Unmarshal([]byte(`{"d":"2026-02-30"}`), &v); err == nil || !strings.Contains(err.Error(), "AAAA-MM-GG") {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	if !strings.Contains(string(b), `"2026-02-28"`) {
		t.Fatal(string(b))
	}
}

// FuzzJSON decodes arbitrary JSON as a position (what the REST API accepts), normalizes
// and validates it: a verdict, never a panic; an accepted position has a positive amount
// equal to the sum of its transfers.
func FuzzJSON(f *testing.F) {
	b, _ := json.Marshal(sample())
	f.Add(b)
	f.Add([]byte(`{"options":[{"amount":1,"transfers":[{"amount":1}]},{"instalment":-1}]}`))
	f.Add([]byte(`{"expiryDate":"2026-02-30","debtor":{"id":"ANONIMO"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Position
		if json.Unmarshal(data, &p) != nil {
			return
		}
		p.Ente = "01234567897"
		p.Normalize()
		if Validate(&p, Rules{}) != nil {
			return
		}
		for _, o := range p.Options {
			var sum int64
			for _, tr := range o.Transfers {
				sum += tr.Amount
			}
			if o.Amount <= 0 || sum != o.Amount {
				t.Fatalf("accepted option with amount %d, transfers %d", o.Amount, sum)
			}
		}
		_, _ = p.CheckPayable("x", time.Now())
	})
}
