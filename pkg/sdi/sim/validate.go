package sim

import (
	"context"
	"fmt"
	"strconv"

	"snodo/pkg/fatturapa"
	"snodo/pkg/sdi"
)

// Verdict is the simulator's judgement of a file it received, as the SdI would give it.
type Verdict struct {
	// Errori lists the failed checks (SdI code and description); empty means accepted.
	Errori []sdi.Errore
	// Formato is the FormatoTrasmissione (FPA12, FPR12), "" when unreadable.
	Formato string
	// CodiceDestinatario is the recipient office code, "" when unreadable.
	CodiceDestinatario string
	// Fatture are the invoices of the file (number, year, position in a lot), for the
	// simulated buyer's Esito Committente.
	Fatture []sdi.RiferimentoFattura
}

// Validator judges a received file. The default is [FatturaPA], the project's own
// implementation of the SdI's checks.
type Validator interface {
	// Validate returns the verdict; an error means the file could not be judged (the
	// simulator then answers RiceviFile with EI02, as an SdI in trouble would).
	Validate(ctx context.Context, name string, data []byte) (*Verdict, error)
}

// FatturaPA judges files with snodo/pkg/fatturapa: file name, size, envelope and
// signature, XSD, content checks, with the SdI's codes. The simulator checks duplicate
// file names (00002) itself.
type FatturaPA struct {
	V *fatturapa.Validator
	// Options of each validation (zero ReceivedAt: the time of the call).
	Options fatturapa.Options
}

// NewFatturaPA builds the default validator: fatturapa.New with the embedded schema
// and signature integrity checks (no trust anchors: test certificates are accepted).
// With checkTaxIDs false the check digits of Italian tax ids (00300-00306) are not
// checked: test files, the official samples included, use made-up ones (the real SdI
// checks them against the Anagrafe Tributaria, which a simulator cannot).
func NewFatturaPA(checkTaxIDs bool) (*FatturaPA, error) {
	v, err := fatturapa.New(fatturapa.Config{})
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return &FatturaPA{V: v, Options: fatturapa.Options{SkipTaxIDs: !checkTaxIDs}}, nil
}

// Validate implements Validator.
func (f *FatturaPA) Validate(ctx context.Context, name string, data []byte) (*Verdict, error) {
	opts := f.Options
	r := f.V.Validate(ctx, name, data, opts)
	if r.Err != nil {
		return nil, r.Err
	}
	out := &Verdict{}
	collect(out, r, "")
	return out, nil
}

// collect gathers the errors and invoice data of a report and its members (a lot in a
// zip: each member's errors are prefixed with its name).
func collect(v *Verdict, r *fatturapa.Report, prefix string) {
	for _, e := range r.Errors {
		d := e.Message
		if e.Line > 0 {
			d += " (riga " + strconv.Itoa(e.Line) + ")"
		}
		v.Errori = append(v.Errori, sdi.Errore{Codice: e.Code, Descrizione: clip255(prefix + d)})
	}
	if inv := r.Invoice; inv != nil {
		if v.Formato == "" {
			v.Formato, v.CodiceDestinatario = inv.Header.FormatoTrasmissione, inv.Header.CodiceDestinatario
		}
		for _, b := range inv.Bodies {
			ref := sdi.RiferimentoFattura{NumeroFattura: b.Numero}
			if len(b.Data) >= 4 {
				ref.AnnoFattura, _ = strconv.Atoi(b.Data[:4])
			}
			if len(inv.Bodies) > 1 {
				ref.PosizioneFattura = b.Position
			}
			v.Fatture = append(v.Fatture, ref)
		}
	}
	for _, m := range r.Members {
		collect(v, m, m.File+": ")
	}
}

func clip255(s string) string {
	r := []rune(s)
	if len(r) > 255 {
		return string(r[:254]) + "…"
	}
	return s
}
