package active

import (
	"context"
	"fmt"
	"sort"

	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
)

// States of an active invoice (the message of kind invoice). The comment gives the
// IntermediaMarche state where there is one (regional-peers §1.9: 001 RICEVUTA, 002
// INVIATA).
const (
	// Ricevuta: submitted by the ente and stored; checks pending (001 RICEVUTA).
	Ricevuta message.State = "ricevuta"
	// RifiutataValidazione: the hub's checks failed (the SdI would have rejected it, or
	// a duplicate): not sent; the ente got an FA02 outcome with the codes.
	RifiutataValidazione message.State = "rifiutata-validazione"
	// DaInviare: checked, named, signed: queued for the SdI.
	DaInviare message.State = "da-inviare"
	// Inviata: the SdI accepted the file (IdentificativoSdI recorded) (002 INVIATA).
	Inviata message.State = "inviata"
	// Consegnata: RC, delivered to the recipient.
	Consegnata message.State = "consegnata"
	// Scartata: NS, rejected by the SdI (codes in header Errori and on the timeline).
	Scartata message.State = "scartata"
	// MancataConsegna: MC, the recipient could not be reached yet.
	MancataConsegna message.State = "mancata-consegna"
	// Accettata: NE with EC01, accepted by the recipient PA.
	Accettata message.State = "accettata"
	// Rifiutata: NE with EC02, refused by the recipient PA.
	Rifiutata message.State = "rifiutata"
	// DecorrenzaTermini: DT, 15 days without an outcome from the recipient.
	DecorrenzaTermini message.State = "decorrenza-termini"
	// Attestazione: AT, the SdI certifies the transmission it could not deliver.
	Attestazione message.State = "attestazione"
)

// States of a notification message (kind notification).
const (
	// NotificaRicevuta: stored, correlation pending.
	NotificaRicevuta message.State = "ricevuta"
	// NotificaCorrelata: correlated to its invoice; no active.notifications phase to
	// deliver it on (or delivery queued).
	NotificaCorrelata message.State = "correlata"
	// NotificaInoltrata: delivered to the ente on active.notifications.
	NotificaInoltrata message.State = "inoltrata"
	// NotificaNonCorrelata: no invoice of the journal has its IdentificativoSdI or file
	// name; kept for an operator (the correlation job is dead-lettered, replayable).
	NotificaNonCorrelata message.State = "non-correlata"
)

// invoiceTransitions is the active invoice's state machine: from → allowed targets.
// A notification may overtake another (the SdI's calls and the hub's jobs run
// concurrently), so a later state is reachable directly (an NE before its RC); an
// earlier one never comes back (a late RC after the NE is recorded, not applied).
var invoiceTransitions = map[message.State][]message.State{
	message.StateReceived: {Ricevuta, RifiutataValidazione, DaInviare}, // store default, before the module's first word
	Ricevuta:              {DaInviare, RifiutataValidazione},
	RifiutataValidazione:  nil,
	DaInviare:             {Inviata, Consegnata, Scartata, MancataConsegna, Accettata, Rifiutata, DecorrenzaTermini, Attestazione},
	Inviata:               {Consegnata, Scartata, MancataConsegna, Accettata, Rifiutata, DecorrenzaTermini, Attestazione},
	// After an MC the SdI keeps trying: an RC may follow, or the AT after 10 days.
	MancataConsegna:   {Consegnata, Attestazione, Accettata, Rifiutata, DecorrenzaTermini},
	Consegnata:        {Accettata, Rifiutata, DecorrenzaTermini},
	Scartata:          nil,
	Accettata:         nil,
	Rifiutata:         nil,
	DecorrenzaTermini: nil,
	Attestazione:      nil,
}

// discarded are the states whose invoice does not count as transmitted for the
// duplicate check 00404: rejected by the hub or the SdI, refused by the recipient.
var discarded = map[message.State]bool{RifiutataValidazione: true, Scartata: true, Rifiutata: true}

// Discarded reports whether an invoice in state s does not count for the SdI's
// duplicate check (00404): a new invoice with its number may be sent.
func Discarded(s message.State) bool { return discarded[s] }

// InvoiceStates lists every state of an active invoice, sorted.
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

// Allowed reports whether an active invoice may move from one state to another.
func Allowed(from, to message.State) bool {
	for _, s := range invoiceTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Final reports whether no notification moves an invoice in state s any more.
func Final(s message.State) bool {
	next, known := invoiceTransitions[s]
	return known && len(next) == 0
}

// StateFor is the state a notification of type tipo moves its invoice to; esito is the
// EC01/EC02 of an NE. ok is false for types that move nothing (MT, EC, SE) and for an
// NE without a readable esito.
func StateFor(tipo sdi.Tipo, esito string) (message.State, bool) {
	switch tipo {
	case sdi.RC:
		return Consegnata, true
	case sdi.NS:
		return Scartata, true
	case sdi.MC:
		return MancataConsegna, true
	case sdi.DT:
		return DecorrenzaTermini, true
	case sdi.AT:
		return Attestazione, true
	case sdi.NE:
		switch esito {
		case sdi.EC01:
			return Accettata, true
		case sdi.EC02:
			return Rifiutata, true
		}
	}
	return "", false
}

// lock takes the row lock of a message for the rest of the transaction (PostgreSQL;
// SQLite transactions are already serialised by the store's single writer) and returns
// the message as it is now.
func lock(ctx context.Context, tx store.Tx, dialect store.Dialect, id message.ID) (*message.Message, error) {
	if dialect == store.Postgres {
		var one int
		if err := tx.SQL().QueryRowContext(ctx, tx.Rebind(`SELECT 1 FROM messages WHERE id = ? FOR UPDATE`), string(id)).Scan(&one); err != nil {
			return nil, fmt.Errorf("attivo: blocco del messaggio %s (locking the message): %w", id, err)
		}
	}
	return tx.Get(id)
}

// transition moves message cur (locked in tx) to state to when the table allows it and
// reports whether it moved. A transition to the current state is a no-op; a refused
// one is recorded on the timeline as a note with the reason it was asked for.
func transition(tx store.Tx, cur *message.Message, to message.State, detail string) (bool, error) {
	if cur.State == to {
		return false, nil
	}
	if !Allowed(cur.State, to) {
		return false, tx.AppendEvents(message.Event{MessageID: cur.ID, Type: message.EventNote, Target: string(to),
			Detail: fmt.Sprintf("stato %s invariato: passaggio a %s non previsto (state kept, transition not allowed): %s", cur.State, to, detail)})
	}
	if err := tx.SetState(cur.ID, to, detail); err != nil {
		return false, err
	}
	cur.State = to
	return true, nil
}
