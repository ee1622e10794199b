package active

import (
	"testing"

	"snodo/pkg/message"
	"snodo/pkg/sdi"
)

// TestTransitions is the invoice's state machine as a table: every pair of states,
// allowed or not.
func TestTransitions(t *testing.T) {
	allowed := map[message.State][]message.State{
		Ricevuta:             {DaInviare, RifiutataValidazione},
		RifiutataValidazione: nil,
		DaInviare:            {Inviata, Consegnata, Scartata, MancataConsegna, Accettata, Rifiutata, DecorrenzaTermini, Attestazione},
		Inviata:              {Consegnata, Scartata, MancataConsegna, Accettata, Rifiutata, DecorrenzaTermini, Attestazione},
		Consegnata:           {Accettata, Rifiutata, DecorrenzaTermini},
		MancataConsegna:      {Consegnata, Attestazione, Accettata, Rifiutata, DecorrenzaTermini},
		Scartata:             nil,
		Accettata:            nil,
		Rifiutata:            nil,
		DecorrenzaTermini:    nil,
		Attestazione:         nil,
	}
	states := InvoiceStates()
	if len(states) != len(allowed) {
		t.Fatalf("states %v, table has %d", states, len(allowed))
	}
	for _, from := range states {
		want := map[message.State]bool{}
		for _, to := range allowed[from] {
			want[to] = true
		}
		for _, to := range states {
			if got := Allowed(from, to); got != want[to] {
				t.Errorf("%s → %s: allowed %v, want %v", from, to, got, want[to])
			}
		}
		if Final(from) != (len(allowed[from]) == 0) {
			t.Errorf("Final(%s) = %v", from, Final(from))
		}
	}
	// A late RC never takes an answered invoice back.
	for _, s := range []message.State{Accettata, Rifiutata, DecorrenzaTermini, Scartata, Attestazione} {
		if Allowed(s, Consegnata) {
			t.Errorf("%s → consegnata allowed", s)
		}
	}
}

func TestStateFor(t *testing.T) {
	cases := []struct {
		tipo  sdi.Tipo
		esito string
		want  message.State
		ok    bool
	}{
		{sdi.RC, "", Consegnata, true},
		{sdi.NS, "", Scartata, true},
		{sdi.MC, "", MancataConsegna, true},
		{sdi.NE, sdi.EC01, Accettata, true},
		{sdi.NE, sdi.EC02, Rifiutata, true},
		{sdi.NE, "", "", false},
		{sdi.NE, "EC03", "", false},
		{sdi.DT, "", DecorrenzaTermini, true},
		{sdi.AT, "", Attestazione, true},
		{sdi.MT, "", "", false},
		{sdi.SE, "", "", false},
		{sdi.EC, "", "", false},
	}
	for _, c := range cases {
		got, ok := StateFor(c.tipo, c.esito)
		if got != c.want || ok != c.ok {
			t.Errorf("StateFor(%s, %q) = %s %v, want %s %v", c.tipo, c.esito, got, ok, c.want, c.ok)
		}
	}
	for _, s := range []message.State{RifiutataValidazione, Scartata, Rifiutata} {
		if !Discarded(s) {
			t.Errorf("%s does not free the invoice number", s)
		}
	}
	for _, s := range []message.State{Inviata, Consegnata, Accettata, DecorrenzaTermini, MancataConsegna, Attestazione, DaInviare} {
		if Discarded(s) {
			t.Errorf("%s frees the invoice number", s)
		}
	}
}

func TestInvoiceBaseOf(t *testing.T) {
	cases := map[string]string{
		"IT01234567890_11111_RC_001.xml":     "IT01234567890_11111",
		"IT01234567890_11111_AT_001.zip":     "IT01234567890_11111",
		"IT01234567890_abc_NS_00A.xml":       "IT01234567890_abc",
		"it01234567890_11111_ne_001.XML":     "it01234567890_11111",
		"IT01234567890_11111.xml":            "",
		"_RC_001.xml":                        "",
		"IT01234567890_RC_001_RC_002.xml":    "IT01234567890_RC_001",
		"../../etc/IT0123_1_DT_001.xml":      "",
		"IT01234567890_11111_XX_001.xml":     "",
		"IT01234567890_11111_RC_0001.xml":    "",
		"IT01234567890_11111_RC_001.xml.p7m": "",
	}
	for in, want := range cases {
		if got := invoiceBaseOf(in); got != want {
			t.Errorf("invoiceBaseOf(%q) = %q, want %q", in, got, want)
		}
	}
}
