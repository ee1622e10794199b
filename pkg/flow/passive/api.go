package passive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"snodo/pkg/api"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
)

var _ api.OutcomeSubmitter = (*Module)(nil)

// SubmitOutcome implements api.OutcomeSubmitter: the API for enti hands over an
// accept/reject, by fields (the hub writes the EC) or as the ente's EC file. Unknown
// invoices and another ente's are api.ErrInvoiceNotFound; after the DT or once the SdI
// accepted an outcome, api.ErrOutcomeClosed; a malformed EC (or a reference to no
// invoice of the file) is an OutcomeResult with Errors; an outcome already on its way
// is an error to retry later. The same EC file handed over twice is a Duplicate.
func (m *Module) SubmitOutcome(ctx context.Context, ente string, o api.Outcome) (api.OutcomeResult, error) {
	var rec OutcomeReceipt
	var err error
	if o.NomeFile != "" || len(o.File) > 0 {
		if id, ok, err := m.sameFile(ctx, ente, o.NomeFile, o.File); err != nil {
			return api.OutcomeResult{}, err
		} else if ok {
			return api.OutcomeResult{MessageID: id, Duplicate: true}, nil
		}
		rec, err = m.SubmitECFile(ctx, ente, o.NomeFile, o.File)
	} else {
		req := OutcomeRequest{Ente: ente, IdentificativoSdI: o.IdentificativoSdI, Esito: o.Esito, Descrizione: o.Descrizione,
			MessageIdCommittente: o.MessageIdCommittente}
		if o.NumeroFattura != "" || o.AnnoFattura != 0 {
			req.RiferimentoFattura = &sdi.RiferimentoFattura{NumeroFattura: o.NumeroFattura, AnnoFattura: o.AnnoFattura, PosizioneFattura: o.PosizioneFattura}
		}
		rec, err = m.SubmitDecision(ctx, req)
	}
	var oe *OutcomeError
	if errors.As(err, &oe) {
		switch oe.Code {
		case RefusalUnknown, RefusalOtherEnte:
			return api.OutcomeResult{}, fmt.Errorf("%w: %s", api.ErrInvoiceNotFound, oe.Reason)
		case RefusalAfterDT, RefusalAlready:
			return api.OutcomeResult{}, fmt.Errorf("%w: %s", api.ErrOutcomeClosed, oe.Reason)
		case RefusalInProgress:
			return api.OutcomeResult{}, oe
		}
		return api.OutcomeResult{Errors: []api.Problem{{Code: oe.Code, Message: oe.Reason}}}, nil
	}
	if err != nil {
		return api.OutcomeResult{}, err
	}
	return api.OutcomeResult{MessageID: rec.MessageID}, nil
}

// sameFile finds an EC file of the ente already taken with this name and content.
func (m *Module) sameFile(ctx context.Context, ente, name string, data []byte) (message.ID, bool, error) {
	if name == "" {
		return "", false, nil
	}
	ids, err := m.h.Store.FindByKey(ctx, flowkit.FileKey(name))
	if err != nil {
		return "", false, err
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	for _, id := range ids {
		msg, err := m.h.Store.Get(ctx, id)
		if err != nil {
			return "", false, err
		}
		if msg.Kind == message.KindOutcome && msg.Ente == ente && msg.SHA256 == want {
			return id, true, nil
		}
	}
	return "", false, nil
}
