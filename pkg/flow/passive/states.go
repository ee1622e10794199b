package passive

import (
	"context"
	"fmt"
	"sort"

	"snodo/pkg/message"
	"snodo/pkg/store"
)

// States of a passive invoice (the message of kind invoice). The names are those an
// operator reads in `snodo messages list --state` and on the timeline; the comment
// gives the matching IntermediaMarche code (regional-peers §1.9) where there is one.
const (
	// Ricevuta: received from the SdI and stored; checks pending (001 RICEVUTA).
	Ricevuta message.State = "ricevuta"
	// NonInstradata: no ente serves its CodiceDestinatario (or the ente's passive cycle
	// is disabled). Kept, with a dead-lettered check job: fix the route file, restart,
	// then `snodo replay ID`.
	NonInstradata message.State = "non-instradata"
	// Verificata: checks done, pre-validation passed or only flagged; deliveries queued.
	Verificata message.State = "verificata"
	// RifiutataPrevalidazione: the ente's pre-validation rules failed with on_failure
	// reject; the hub sends an EC02 by itself (012 RIFIUTATA_PER_VALIDAZIONE_FALLITA).
	RifiutataPrevalidazione message.State = "rifiutata-prevalidazione"
	// ConsegnataProtocollo: delivered to the protocol system, no number returned.
	ConsegnataProtocollo message.State = "consegnata-protocollo"
	// Protocollata: the protocol system returned NumeroProtocollo (002 PROTOCOLLATA).
	Protocollata message.State = "protocollata"
	// ConsegnataContabilita: delivered to the accounting system after the protocol
	// (003 REGISTRATA).
	ConsegnataContabilita message.State = "consegnata-contabilita"
	// Consegnata: delivered once for protocol and accounting (invio unico).
	Consegnata message.State = "consegnata"
	// EsitoRicevuto: an Esito Committente (from the ente, the API or the hub) is
	// validated and queued for the SdI (004/005).
	EsitoRicevuto message.State = "esito-ricevuto"
	// EsitoInviato: the EC went to the SdI on a channel with no synchronous answer (PEC).
	EsitoInviato message.State = "esito-inviato"
	// EsitoAccettato: the SdI accepted the EC (ES01); header EsitoCommittente says EC01
	// or EC02 (006/007, 010).
	EsitoAccettato message.State = "esito-accettato"
	// EsitoScartato: the SdI refused the EC (ES00 with an SE); the ente may send another
	// (011, 017).
	EsitoScartato message.State = "esito-scartato"
	// DecorrenzaTermini: the SdI's DT arrived: accepted by deadline, no EC possible any
	// more (008, 019).
	DecorrenzaTermini message.State = "decorrenza-termini"
)

// States of an Esito Committente message (kind outcome): the EC file itself.
const (
	// ECRifiutato: the hub refused the ente's EC (unknown invoice, another ente's,
	// after the DT, already answered, malformed); the reason went back to the ente.
	ECRifiutato message.State = "esito-rifiutato"
)

// invoiceTransitions is the passive invoice's state machine: from → allowed targets.
// A transition not listed is not applied: the event that asked for it is recorded on
// the timeline and the state stays (e.g. a delivery completing after the EC went out).
var invoiceTransitions = map[message.State][]message.State{
	message.StateReceived:   {Ricevuta, NonInstradata}, // store default, before the module's first word
	Ricevuta:                {Verificata, RifiutataPrevalidazione, NonInstradata},
	NonInstradata:           {Ricevuta},
	Verificata:              {ConsegnataProtocollo, Protocollata, Consegnata, EsitoRicevuto, DecorrenzaTermini},
	ConsegnataProtocollo:    {ConsegnataContabilita, EsitoRicevuto, DecorrenzaTermini},
	Protocollata:            {ConsegnataContabilita, EsitoRicevuto, DecorrenzaTermini},
	ConsegnataContabilita:   {EsitoRicevuto, DecorrenzaTermini},
	Consegnata:              {EsitoRicevuto, DecorrenzaTermini},
	RifiutataPrevalidazione: {EsitoInviato, EsitoAccettato, EsitoScartato, DecorrenzaTermini},
	EsitoRicevuto:           {EsitoInviato, EsitoAccettato, EsitoScartato, DecorrenzaTermini},
	EsitoInviato:            {EsitoAccettato, EsitoScartato, DecorrenzaTermini},
	EsitoScartato:           {EsitoRicevuto, DecorrenzaTermini},
	// Another invoice of the same file (a lotto) may still get its own EC.
	EsitoAccettato:    {EsitoRicevuto},
	DecorrenzaTermini: nil,
}

// outcomeTransitions is the state machine of an EC message.
var outcomeTransitions = map[message.State][]message.State{
	message.StateReceived: {EsitoRicevuto, ECRifiutato},
	EsitoRicevuto:         {EsitoInviato, EsitoAccettato, EsitoScartato, ECRifiutato},
	EsitoInviato:          {EsitoAccettato, EsitoScartato},
	EsitoAccettato:        nil,
	EsitoScartato:         nil,
	ECRifiutato:           nil,
}

// InvoiceStates lists every state of a passive invoice, sorted.
func InvoiceStates() []message.State {
	out := make([]message.State, 0, len(invoiceTransitions))
	for s := range invoiceTransitions {
		if s != message.StateReceived {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Allowed reports whether a passive invoice may move from one state to another.
func Allowed(from, to message.State) bool { return allowed(invoiceTransitions, from, to) }

func allowed(table map[message.State][]message.State, from, to message.State) bool {
	for _, s := range table[from] {
		if s == to {
			return true
		}
	}
	return false
}

// waitingForOutcome reports whether an invoice in state s has no EC on its way and no
// DT: an EC may be sent now.
func waitingForOutcome(s message.State) bool {
	switch s {
	case Verificata, ConsegnataProtocollo, Protocollata, ConsegnataContabilita, Consegnata, EsitoScartato, EsitoAccettato:
		return true
	}
	return false
}

// lock takes the row lock of a message for the rest of the transaction (PostgreSQL;
// SQLite transactions are already serialised by the store's single writer) and returns
// the message as it is now.
func lock(ctx context.Context, tx store.Tx, dialect store.Dialect, id message.ID) (*message.Message, error) {
	if dialect == store.Postgres {
		var one int
		if err := tx.SQL().QueryRowContext(ctx, tx.Rebind(`SELECT 1 FROM messages WHERE id = ? FOR UPDATE`), string(id)).Scan(&one); err != nil {
			return nil, fmt.Errorf("passivo: blocco del messaggio %s (locking the message): %w", id, err)
		}
	}
	return tx.Get(id)
}

// transition moves message cur (locked in tx) to state to when the table allows it and
// reports whether it moved. A transition to the current state is a no-op; a refused
// one is recorded on the timeline as a note with the reason it was asked for.
func transition(tx store.Tx, table map[message.State][]message.State, cur *message.Message, to message.State, detail string) (bool, error) {
	if cur.State == to {
		return false, nil
	}
	if !allowed(table, cur.State, to) {
		return false, tx.AppendEvents(message.Event{MessageID: cur.ID, Type: message.EventNote, Target: string(to),
			Detail: fmt.Sprintf("stato %s invariato: passaggio a %s non previsto (state kept, transition not allowed): %s", cur.State, to, detail)})
	}
	if err := tx.SetState(cur.ID, to, detail); err != nil {
		return false, err
	}
	cur.State = to
	return true, nil
}
