package api

import (
	"context"
	"errors"
	"fmt"

	"snodo/pkg/message"
)

// Via values name the door an ente used; flows record them on the message.
const (
	ViaREST = "api-rest"
	ViaSOAP = "api-soap"
)

// ActiveSubmitter takes an active invoice an ente submits (implemented by the active
// flow). The file is stored before SubmitInvoice returns a MessageID; a file the SdI
// would refuse is not sent, and the reasons come back in Errors with the SdI codes.
type ActiveSubmitter interface {
	// SubmitInvoice stores and checks one invoice file of ente (a route id), named
	// fileName as the ente named it. via is ViaREST or ViaSOAP. An error means the
	// submission could not be handled now (the ente should retry); a refusal is a
	// SubmitResult with Errors.
	SubmitInvoice(ctx context.Context, ente, fileName string, data []byte, via string) (SubmitResult, error)
}

// SubmitResult is the answer to a submitted invoice.
type SubmitResult struct {
	// MessageID is the stored invoice; it may be set on a refusal too, when the flow
	// keeps refused files for the record.
	MessageID message.ID
	// Duplicate is true when the same file was already submitted: MessageID is the
	// earlier message and nothing new happens.
	Duplicate bool
	// RicevutaComunicazione is the receipt given to the ente; empty means the API derives
	// it from MessageID (snodowsdl.RicevutaFromMessageID), which is what flows should do.
	RicevutaComunicazione string
	// State is the message's state after the submission, for the answer (optional).
	State message.State
	// Errors, when not empty, refuse the file (FA02): each is an SdI check that failed,
	// with the SdI code and an Italian message.
	Errors []Problem
}

// Problem is one failed check.
type Problem struct {
	Code    string `json:"codice"`             // the SdI code, e.g. "00200", or "00001" for the name
	Message string `json:"messaggio"`          // Italian first, then English
	Path    string `json:"percorso,omitempty"` // the element, e.g. /FatturaElettronica/FatturaElettronicaHeader/...
	Line    int    `json:"riga,omitempty"`
}

// OutcomeSubmitter takes an ente's accept/reject of a received invoice (implemented by
// the passive flow), which then goes to the SdI as an Esito Committente.
type OutcomeSubmitter interface {
	// SubmitOutcome stores the outcome for the ente's invoice o.Invoice. Errors:
	// ErrInvoiceNotFound, ErrOutcomeClosed (already decided, or the deadline passed),
	// others mean the ente should retry. A refused EC file is an OutcomeResult with Errors.
	SubmitOutcome(ctx context.Context, ente string, o Outcome) (OutcomeResult, error)
}

// Outcome is an Esito Committente from an ente: either the fields (the flow builds the
// EC file) or a ready EC file (NomeFile and File set, the fields read from it).
type Outcome struct {
	// Invoice is the passive invoice the API found for this ente and IdentificativoSdI.
	Invoice           message.ID
	IdentificativoSdI string
	Esito             string // EC01 (accepted) or EC02 (refused)
	Descrizione       string
	// RiferimentoFattura picks one invoice of a batch file (optional).
	NumeroFattura        string
	AnnoFattura          int
	PosizioneFattura     int
	MessageIdCommittente string
	// NomeFile and File carry an EC file as the ente wrote it.
	NomeFile string
	File     []byte
	Via      string
}

// OutcomeResult is the answer to a submitted outcome.
type OutcomeResult struct {
	MessageID message.ID
	Duplicate bool
	// Errors, when not empty, refuse the EC (EN08): what is wrong with it.
	Errors []Problem
}

// Errors an OutcomeSubmitter returns for outcomes it cannot take.
var (
	ErrInvoiceNotFound = errors.New("fattura inesistente per questo ente (no such invoice for this ente)")
	ErrOutcomeClosed   = errors.New("esito non più ammesso: fattura già accettata o rifiutata, o decorsi i termini (outcome no longer allowed)")
)

// ErrUnavailable is returned when the hub runs without the flow a call needs.
var ErrUnavailable = errors.New("servizio non disponibile su questo hub: il flusso non è attivo (service not available on this hub)")

// unavailable reports a missing flow.
type unavailableActive struct{}

func (unavailableActive) SubmitInvoice(context.Context, string, string, []byte, string) (SubmitResult, error) {
	return SubmitResult{}, fmt.Errorf("ciclo attivo: %w", ErrUnavailable)
}

type unavailablePassive struct{}

func (unavailablePassive) SubmitOutcome(context.Context, string, Outcome) (OutcomeResult, error) {
	return OutcomeResult{}, fmt.Errorf("ciclo passivo: %w", ErrUnavailable)
}
