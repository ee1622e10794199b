package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
	snodowsdl "snodo/wsdl/snodo"
)

// Result codes of RiceviFileCA, used by the REST answers too.
const (
	FA00 = "FA00"
	FA01 = "FA01"
	FA02 = "FA02"
	FA03 = "FA03"
	FA04 = "FA04"
	FA05 = "FA05"
	FA06 = "FA06"
	FA99 = "FA99"
)

// descFA are the fixed descriptions the contract enumerates.
var descFA = map[string]string{
	FA00: "RICEZIONE AVVENUTA CON SUCCESSO",
	FA01: "CREDENZIALI NON VALIDE",
	FA02: "FILE FATTURA RIFIUTATO: ERRORE VALIDAZIONE FATTURA",
	FA03: "ENTE NON ABILITATO A INTERMEDIAMARCHE",
	FA04: "NOME FILE FATTURA NON VALIDO",
	FA05: "ALLEGATO NON TROVATO",
	FA06: "MESSAGGIO RIFIUTATO: CAMPI OBBLIGATORI NON VALORIZZATI",
	FA99: "ERRORE GENERICO",
}

// Result codes of riceviEsitoFattura, used by the REST answers too.
const (
	EN00 = "EN00"
	EN01 = "EN01"
	EN02 = "EN02"
	EN04 = "EN04"
	EN05 = "EN05"
	EN06 = "EN06"
	EN07 = "EN07"
	EN08 = "EN08"
	EN99 = "EN99"
)

var descEN = map[string]string{
	EN00: "NOTIFICA PRESA IN CARICO",
	EN01: "CREDENZIALI NON VALIDE",
	EN02: "NOTIFICA RIFIUTATA: FATTURA INESISTENTE",
	EN04: "MESSAGGIO RIFIUTATO: CAMPI OBBLIGATORI NON VALORIZZATI",
	EN05: "NOTIFICA RIFIUTATA: NOME FILE NON VALIDO",
	EN06: "NOTIFICA RIFIUTATA: ENTE NON ABILITATO A INTERMEDIAMARCHE",
	EN07: "NOTIFICA RIFIUTATA: ALLEGATO NON TROVATO",
	EN08: "FILE NOTIFICA RIFIUTATO: ERRORE VALIDAZIONE NOTIFICA",
	EN99: "ERRORE GENERICO",
}

// invoiceVerdict is the outcome of an invoice submission, for either door.
type invoiceVerdict struct {
	code     string // FA00..FA06, FA99
	msg      string // for the operator, Italian then English
	res      SubmitResult
	ricevuta string
	at       time.Time
	retry    bool // FA99: a temporary failure
	problems []Problem
}

// checkInvoiceName applies what the API itself demands of a submitted file name: safe as
// a path component and an SdI extension. The SdI naming rule proper is the flow's (it
// renames a non-compliant name).
func checkInvoiceName(name string) error {
	if err := channel.SafeFileName(name); err != nil {
		return err
	}
	n := strings.ToLower(name)
	if !strings.HasSuffix(n, ".xml") && !strings.HasSuffix(n, ".xml.p7m") && !strings.HasSuffix(n, ".zip") {
		return fmt.Errorf("nome file %q: estensione non ammessa, usare .xml, .xml.p7m o .zip (extension not allowed)", printable(name))
	}
	return nil
}

// submitInvoice runs an invoice submission of an authenticated ente.
func (a *API) submitInvoice(ctx context.Context, e *route.Ente, name string, data []byte, via string) invoiceVerdict {
	v := invoiceVerdict{at: a.now()}
	switch {
	case name == "":
		v.code, v.msg = FA06, "nome del file mancante (file name missing)"
	case checkInvoiceName(name) != nil:
		v.code, v.msg = FA04, checkInvoiceName(name).Error()
	case len(data) == 0:
		v.code, v.msg = FA05, "file fattura mancante o vuoto (invoice file missing or empty)"
	case e.Active.Enabled != nil && !*e.Active.Enabled:
		v.code, v.msg = FA03, fmt.Sprintf("il ciclo attivo dell'ente %s è disattivato nel file di rotta (active cycle disabled)", e.ID())
	case int64(len(data)) > a.maxInv:
		v.code, v.msg = FA02, fmt.Sprintf("file di %d byte oltre il limite di %d (file too large)", len(data), a.maxInv)
		v.problems = []Problem{{Message: v.msg}}
	}
	if v.code != "" {
		v.ricevuta = snodowsdl.NewRicevuta(v.at)
		return v
	}
	res, err := a.active.SubmitInvoice(ctx, e.ID(), name, data, via)
	if err != nil {
		v.code, v.retry, v.ricevuta = FA99, true, snodowsdl.NewRicevuta(v.at)
		v.msg = "errore temporaneo nella presa in carico: riprovare più tardi (temporary failure: retry later)"
		if errors.Is(err, ErrUnavailable) {
			v.msg = err.Error()
		}
		a.log.Error("api: fattura attiva non presa in carico (invoice submission failed)", "ente", e.ID(), "file", name, "via", via, "err", err)
		return v
	}
	v.res = res
	v.ricevuta = res.RicevutaComunicazione
	if v.ricevuta == "" && res.MessageID != "" {
		if r, err := snodowsdl.RicevutaFromMessageID(string(res.MessageID)); err == nil {
			v.ricevuta = r
		}
	}
	if v.ricevuta == "" {
		v.ricevuta = snodowsdl.NewRicevuta(v.at)
	}
	if len(res.Errors) > 0 {
		v.code, v.problems = FA02, res.Errors
		v.msg = fmt.Sprintf("fattura rifiutata: %d controlli non superati, lo SdI la scarterebbe (invoice refused: the SdI would reject it)", len(res.Errors))
		a.log.Info("api: fattura attiva rifiutata (invoice refused)", "ente", e.ID(), "file", name, "via", via, "message", res.MessageID,
			"errors", len(res.Errors), "first", res.Errors[0].Code)
		return v
	}
	v.code = FA00
	v.msg = "fattura presa in carico: sarà inviata allo SdI (invoice accepted: it will be sent to the SdI)"
	if res.Duplicate {
		v.msg = "file già ricevuto: nessun nuovo invio, questa è la ricevuta della prima volta (file already received: nothing new is sent)"
	}
	a.log.Info("api: fattura attiva presa in carico (invoice accepted)", "ente", e.ID(), "file", name, "via", via, "message", res.MessageID,
		"duplicate", res.Duplicate)
	return v
}

// outcomeVerdict is the outcome of an Esito Committente submission.
type outcomeVerdict struct {
	code     string // EN00..EN08, EN99
	msg      string
	res      OutcomeResult
	retry    bool // EN99 as soap:Server / HTTP 5xx
	closed   bool // EN99 for an invoice already decided: do not repeat
	problems []Problem
	invoice  message.ID
}

// findInvoice returns the passive invoice of ente with an IdentificativoSdI, or
// store.ErrNotFound. Another ente's invoice is not found.
func (a *API) findInvoice(ctx context.Context, ente, idSdI string) (*message.Message, error) {
	id, err := sdi.ParseIdentificativoSdI(idSdI)
	if err != nil {
		return nil, store.ErrNotFound
	}
	ids, err := a.st.FindByKey(ctx, "sdi:"+string(id))
	if err != nil {
		return nil, err
	}
	for _, mid := range ids {
		m, err := a.st.Get(ctx, mid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Ente == ente && m.Flow == message.FlowPassive && m.Kind == message.KindInvoice {
			return m, nil
		}
	}
	return nil, store.ErrNotFound
}

// submitOutcome runs an outcome submission of an authenticated ente, after the fields or
// the file were read and checked by the door.
func (a *API) submitOutcome(ctx context.Context, e *route.Ente, o Outcome) outcomeVerdict {
	var v outcomeVerdict
	inv, err := a.findInvoice(ctx, e.ID(), o.IdentificativoSdI)
	if errors.Is(err, store.ErrNotFound) {
		v.code = EN02
		v.msg = fmt.Sprintf("nessuna fattura ricevuta dall'ente %s con IdentificativoSdI %s (no such invoice for this ente)", e.ID(), printable(o.IdentificativoSdI))
		return v
	}
	if err != nil {
		v.code, v.retry = EN99, true
		v.msg = "errore temporaneo: riprovare più tardi (temporary failure: retry later)"
		a.log.Error("api: ricerca fattura (invoice lookup)", "ente", e.ID(), "sdi", o.IdentificativoSdI, "err", err)
		return v
	}
	o.Invoice = inv.ID
	v.invoice = inv.ID
	res, err := a.passive.SubmitOutcome(ctx, e.ID(), o)
	switch {
	case errors.Is(err, ErrInvoiceNotFound):
		v.code, v.msg = EN02, err.Error()
		return v
	case errors.Is(err, ErrOutcomeClosed):
		v.code, v.closed, v.msg = EN99, true, err.Error()
		return v
	case err != nil:
		v.code, v.retry = EN99, true
		v.msg = "errore temporaneo: riprovare più tardi (temporary failure: retry later)"
		if errors.Is(err, ErrUnavailable) {
			v.msg = err.Error()
		}
		a.log.Error("api: esito committente non preso in carico (outcome submission failed)", "ente", e.ID(), "invoice", inv.ID, "err", err)
		return v
	}
	v.res = res
	if len(res.Errors) > 0 {
		v.code, v.problems = EN08, res.Errors
		v.msg = fmt.Sprintf("esito committente non valido: %d errori (invalid outcome)", len(res.Errors))
		return v
	}
	v.code = EN00
	v.msg = "esito preso in carico: sarà inviato allo SdI (outcome accepted: it will be sent to the SdI)"
	if res.Duplicate {
		v.msg = "esito già ricevuto: nessun nuovo invio (outcome already received: nothing new is sent)"
	}
	a.log.Info("api: esito committente preso in carico (outcome accepted)", "ente", e.ID(), "invoice", inv.ID, "message", res.MessageID,
		"via", o.Via, "duplicate", res.Duplicate)
	return v
}

// readECFile checks an EC file sent by an ente and fills the outcome from it; a failed
// check returns the EN code and why.
func readECFile(name string, data []byte, max int64) (Outcome, string, string) {
	mn, err := filename.ParseMessage(name)
	if err != nil {
		return Outcome{}, EN05, err.Error()
	}
	if mn.Tipo != string(sdi.EC) {
		return Outcome{}, EN05, fmt.Sprintf("%s: è un nome di messaggio %s, atteso _EC_nnn.xml (not an EC file name)", printable(name), mn.Tipo)
	}
	if len(data) == 0 {
		return Outcome{}, EN07, "file EC mancante o vuoto (EC file missing or empty)"
	}
	if int64(len(data)) > max {
		return Outcome{}, EN08, fmt.Sprintf("file EC di %d byte oltre il limite di %d (EC file too large)", len(data), max)
	}
	m, err := sdi.Parse(name, data)
	if err != nil {
		return Outcome{}, EN08, err.Error()
	}
	ec, ok := m.Body.(*sdi.NotificaEsitoCommittente)
	if !ok {
		return Outcome{}, EN08, fmt.Sprintf("%s: il file contiene %s, non una NotificaEsitoCommittente (not an EC)", printable(name), m.Tipo.Descrizione())
	}
	o := Outcome{IdentificativoSdI: string(ec.IdentificativoSdI), Esito: ec.Esito, Descrizione: ec.Descrizione,
		MessageIdCommittente: ec.MessageIdCommittente, NomeFile: name, File: data}
	if rf := ec.RiferimentoFattura; rf != nil {
		o.NumeroFattura, o.AnnoFattura, o.PosizioneFattura = rf.NumeroFattura, rf.AnnoFattura, rf.PosizioneFattura
	}
	return o, "", ""
}
