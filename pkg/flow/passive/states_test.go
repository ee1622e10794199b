package passive

import (
	"testing"

	"snodo/pkg/message"
)

func TestInvoiceTransitions(t *testing.T) {
	cases := []struct {
		from, to message.State
		ok       bool
	}{
		{Ricevuta, Verificata, true},
		{Ricevuta, RifiutataPrevalidazione, true},
		{NonInstradata, Ricevuta, true},
		{NonInstradata, Verificata, false}, // routed first, then checked
		{Verificata, ConsegnataProtocollo, true},
		{Verificata, Protocollata, true},
		{Verificata, Consegnata, true},
		{Verificata, ConsegnataContabilita, false}, // accounting only after the protocol
		{ConsegnataProtocollo, ConsegnataContabilita, true},
		{Protocollata, ConsegnataContabilita, true},
		{ConsegnataContabilita, EsitoRicevuto, true},
		{Consegnata, EsitoRicevuto, true},
		{EsitoRicevuto, EsitoAccettato, true},
		{EsitoRicevuto, EsitoScartato, true},
		{EsitoRicevuto, ConsegnataContabilita, false}, // a late delivery keeps the outcome state
		{EsitoScartato, EsitoRicevuto, true},          // the ente may try again after an SE
		{EsitoAccettato, EsitoRicevuto, true},         // another invoice of a lotto
		{EsitoAccettato, DecorrenzaTermini, false},    // no DT after an accepted EC
		{RifiutataPrevalidazione, EsitoAccettato, true},
		{RifiutataPrevalidazione, ConsegnataProtocollo, false}, // delivered, but the state stays "rejected"
		{ConsegnataContabilita, DecorrenzaTermini, true},
		{EsitoScartato, DecorrenzaTermini, true},
		{DecorrenzaTermini, EsitoRicevuto, false}, // no EC after the DT
		{DecorrenzaTermini, Verificata, false},
	}
	for _, c := range cases {
		if got := Allowed(c.from, c.to); got != c.ok {
			t.Errorf("%s → %s: allowed %v, want %v", c.from, c.to, got, c.ok)
		}
	}
}

// Every state is reachable from ricevuta, and every target of the table is a state.
func TestInvoiceStatesReachable(t *testing.T) {
	seen := map[message.State]bool{Ricevuta: true, NonInstradata: true}
	queue := []message.State{Ricevuta, NonInstradata}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range invoiceTransitions[s] {
			if _, ok := invoiceTransitions[n]; !ok {
				t.Errorf("%s → %s: target is not a state of the table", s, n)
			}
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	for _, s := range InvoiceStates() {
		if !seen[s] {
			t.Errorf("state %s is not reachable", s)
		}
	}
	if len(InvoiceStates()) != 13 {
		t.Errorf("%d states: %v", len(InvoiceStates()), InvoiceStates())
	}
	for s, next := range outcomeTransitions {
		for _, n := range next {
			if _, ok := outcomeTransitions[n]; !ok {
				t.Errorf("EC %s → %s: target is not a state of the table", s, n)
			}
		}
	}
}

func TestWaitingForOutcome(t *testing.T) {
	for _, s := range InvoiceStates() {
		want := Allowed(s, EsitoRicevuto)
		if got := waitingForOutcome(s); got != want {
			t.Errorf("%s: waitingForOutcome %v, but the table allows esito-ricevuto: %v", s, got, want)
		}
	}
}
