package active

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"snodo/pkg/engine"
	"snodo/pkg/fatturapa"
	"snodo/pkg/fatturapa/filename"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/signature"
	"snodo/pkg/store"
)

// Who signed the file the hub sends (header Firma).
const (
	FirmaHubCAdES = "hub-cades" // the hub, with the ente's certificate (active.sign.format cades)
	FirmaHubXAdES = "hub-xades" // the hub, with the ente's certificate (active.sign.format xades)
	FirmaEnte     = "ente"      // the ente signed it before submitting
	FirmaNessuna  = "nessuna"   // unsigned
)

// examination is what the checks found about a submitted file, before anything is
// committed.
type examination struct {
	data     []byte // the file to send: the one received, or signed by the hub
	ext      string // its extension at the SdI: .xml, .xml.p7m, .zip
	keepBase string // the ente's IT<id>_<progressivo> kept as the SdI name ("" when the hub names it)
	final    string // the SdI name when keepBase is set
	idCodice string // the transmitter id of the names the hub makes
	firma    string
	report   *fatturapa.Report
	errors   []Errore
	keys     []invoiceRef
	codice   string // CodiceDestinatario (first invoice file of a lot)
	formato  string
	interna  string // the ente serving codice, when the hub serves it
	notes    []string
}

// invoiceRef is an invoice of the file, with where its number is (for 00404).
type invoiceRef struct {
	key  fatturapa.InvoiceKey
	path string
	line int
}

// check is the first job of a submission: the checks, the name, the signature, then
// in one transaction the duplicate checks and either the refusal (FA02) or the queueing
// for the SdI (FA00). The state guards it: a job run again after a crash changes
// nothing.
func (m *Module) check(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	return store.Outcome{}, m.runCheck(ctx, msg)
}

func (m *Module) runCheck(ctx context.Context, msg *message.Message) error {
	if msg.State != Ricevuta && msg.State != message.StateReceived {
		return nil // done by an earlier run
	}
	e, ok := m.h.Routes.Ente(msg.Ente)
	if !ok {
		return engine.Permanent(fmt.Errorf("attivo: %s: %w", msg.Ente, errNoEnte))
	}
	data, err := m.h.Store.ReadFile(ctx, msg.ID, msg.FileName)
	if err != nil {
		return fmt.Errorf("attivo: lettura di %s: %w", msg.FileName, err)
	}
	ex, err := m.examine(ctx, e, msg.FileName, data)
	if err != nil {
		return err
	}
	var r *Receipt
	err = m.tx(ctx, func(tx store.Tx) error {
		var err error
		r, err = m.commitCheck(ctx, tx, e, msg.ID, ex)
		return err
	})
	if err != nil {
		return fmt.Errorf("attivo: esito dei controlli di %s (%s): %w", msg.FileName, msg.ID, err)
	}
	if r == nil {
		return nil
	}
	if r.Codice == FA00 {
		m.metrics.submitted.WithLabelValues("accepted").Inc()
		m.log.Info("fattura attiva controllata: in coda per l'SdI (active invoice checked, queued for the SdI)", "message", msg.ID,
			"ente", e.ID(), "file", msg.FileName, "NomeFile", r.NomeFile, "firma", ex.firma, "interna", ex.interna)
	} else {
		m.metrics.submitted.WithLabelValues("refused").Inc()
		m.log.Warn("fattura attiva rifiutata dai controlli: non inviata (active invoice refused by the checks, not sent)", "message", msg.ID,
			"ente", e.ID(), "file", msg.FileName, "errori", summary(r.Errori, 300))
	}
	return nil
}

// examine checks a submitted file as the SdI would, signing it first when the ente's
// route asks the hub to. An error means the checks could not run (retry, or a
// configuration an operator must fix); everything about the file is in the result.
func (m *Module) examine(ctx context.Context, e *route.Ente, name string, data []byte) (*examination, error) {
	ex := &examination{data: data, idCodice: e.Active.IdCodice, firma: FirmaNessuna}
	if ex.idCodice == "" {
		ex.idCodice = e.Ente.CodiceFiscale
	}
	lower := strings.ToLower(name)
	format := signature.Detect(data)
	zip := bytes.HasPrefix(data, []byte("PK\x03\x04")) || (strings.HasSuffix(lower, ".zip") && format == signature.FormatUnknown)
	switch {
	case zip:
		ex.ext = filename.ExtZIP
	case format == signature.FormatCAdES:
		ex.ext = filename.ExtP7M
	default:
		ex.ext = filename.ExtXML
	}
	sign := e.Active.Sign.Format
	if sign == "none" {
		sign = ""
	}
	switch {
	case format == signature.FormatCAdES || format == signature.FormatXAdES:
		ex.firma = FirmaEnte
		if sign != "" {
			ex.notes = append(ex.notes, "file già firmato dall'ente: l'hub non lo firma di nuovo (already signed by the ente: not signed again)")
		}
	case zip && sign != "":
		ex.notes = append(ex.notes, "archivio zip: la firma dell'hub non si applica ai file che contiene (zip archive: not signed by the hub)")
	}
	now := m.h.Now()
	opts := fatturapa.Options{ReceivedAt: now}
	if sign != "" && format == signature.FormatPlain {
		// The content first: a file the SdI would reject is not signed.
		rep := m.validator.Validate(ctx, m.placeholder(ex), data, fatturapa.Options{ReceivedAt: now, SkipFileName: true})
		if rep.Err != nil {
			return nil, fmt.Errorf("attivo: controlli su %s non completati (checks not completed): %w", name, rep.Err)
		}
		if !rep.AllValid() {
			ex.setReport(rep)
			return ex, nil
		}
		s, err := m.signer(e)
		if err != nil {
			return nil, engine.Permanent(err)
		}
		switch sign {
		case "cades":
			ex.data, err = s.SignCAdES(data)
			ex.ext, ex.firma = filename.ExtP7M, FirmaHubCAdES
		case "xades":
			ex.data, err = s.SignXAdES(data)
			ex.firma = FirmaHubXAdES
		}
		if err != nil {
			return nil, engine.Permanent(fmt.Errorf("attivo: firma di %s con il certificato dell'ente %s non riuscita: verificare active.sign "+
				"(signing failed): %w", name, e.ID(), err))
		}
	}
	// The ente's name is kept when it follows the SdI rules, with the extension of what
	// is sent. A file the hub signs XAdES keeps its .xml but not its bytes: it gets a
	// name of the hub, so both files stay in the journal under their own names.
	if n, err := filename.ParseInvoice(name); err == nil && ex.firma != FirmaHubXAdES {
		ex.keepBase = n.Base()
		ex.final = ex.keepBase + ex.ext
		if n.Ext == ex.ext {
			ex.final = name
		}
	}
	vname, skip := ex.final, false
	if ex.final == "" {
		vname, skip = m.placeholder(ex), true
	}
	opts.SkipFileName = skip
	rep := m.validator.Validate(ctx, vname, ex.data, opts)
	if rep.Err != nil {
		return nil, fmt.Errorf("attivo: controlli su %s non completati (checks not completed): %w", name, rep.Err)
	}
	ex.setReport(rep)
	if ex.formato == "FPA12" && ex.firma == FirmaNessuna && !zip {
		ex.notes = append(ex.notes, "fattura FPA12 senza firma: lo SdI richiede la firma qualificata; configurare active.sign o firmare "+
			"prima dell'invio (FPA12 without a signature: the SdI requires a qualified signature)")
	}
	if ex.codice != "" {
		if other, ok := m.h.Routes.ByOffice(ex.codice); ok {
			ex.interna = other.ID()
		}
	}
	return ex, nil
}

// placeholder is a compliant name with the extension of what is sent, for checking a
// file the hub will name.
func (m *Module) placeholder(ex *examination) string {
	return "IT" + ex.idCodice + "_00000" + ex.ext
}

// setReport records a validation report: its errors (those of every file of a zip)
// and what identifies the invoices.
func (ex *examination) setReport(rep *fatturapa.Report) {
	ex.report = rep
	ex.errors = ex.errors[:0]
	ex.notes = append(ex.notes, rep.Notes...)
	add := func(file string, r *fatturapa.Report) {
		for _, e := range r.Errors {
			d := e.Message
			if file != "" {
				d = file + ": " + d
			}
			ex.errors = append(ex.errors, Errore{Codice: e.Code, Descrizione: d, Percorso: e.Path, Riga: e.Line})
		}
		if inv := r.Invoice; inv != nil {
			if ex.codice == "" {
				ex.codice = inv.Header.CodiceDestinatario
				ex.formato = inv.Header.FormatoTrasmissione
			}
			for i, k := range fatturapa.Keys(inv) {
				ref := invoiceRef{key: k}
				if n := inv.Bodies[i].Node.Find("DatiGenerali/DatiGeneraliDocumento/Numero"); n != nil {
					ref.path, ref.line = n.Path(), n.Line
				}
				ex.keys = append(ex.keys, ref)
			}
		}
		ex.notes = append(ex.notes, r.Notes...)
	}
	add("", rep)
	for _, mem := range rep.Members {
		add(mem.File, mem)
	}
}

// commitCheck records the examination in tx: the refusal, or the name, the file to
// send and the send job. Duplicates are decided here, under a lock, so two
// submissions of one invoice checked at once cannot both pass. It returns the receipt,
// nil when an earlier run already did the work.
func (m *Module) commitCheck(ctx context.Context, tx store.Tx, e *route.Ente, id message.ID, ex *examination) (*Receipt, error) {
	cur, err := lock(ctx, tx, m.h.Store.Dialect(), id)
	if err != nil {
		return nil, err
	}
	if cur.State != Ricevuta && cur.State != message.StateReceived {
		return nil, nil
	}
	errs := append([]Errore(nil), ex.errors...)
	if len(errs) == 0 {
		dups, err := m.duplicates(ctx, tx, id, ex.keys)
		if err != nil {
			return nil, err
		}
		errs = append(errs, dups...)
	}
	final := ""
	if len(errs) == 0 {
		var taken bool
		final, taken, err = m.claimName(tx, ex)
		if err != nil {
			return nil, err
		}
		if taken {
			errs = append(errs, Errore{Codice: fatturapa.CodeNomeFileDuplicato, Descrizione: fmt.Sprintf("%s: un file di nome %s è già stato "+
				"trasmesso: usare un nuovo progressivo, o lasciare che l'hub dia il nome (a file named %s was already sent: use a new progressive)",
				fatturapa.Description(fatturapa.CodeNomeFileDuplicato), ex.final, ex.final)})
		}
	}
	r := receiptOf(cur)
	r.DataOraRicezione = cur.CreatedAt
	headers := map[string]string{}
	if ex.codice != "" {
		headers[message.HeaderCodiceDestinatario] = ex.codice
	}
	if ex.formato != "" {
		headers[HeaderFormato] = ex.formato
	}
	var evs []message.Event
	for _, n := range ex.notes {
		evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "controlli", Detail: n})
	}
	var jobs []store.JobSpec
	var next message.State
	var detail string
	if len(errs) > 0 {
		r.Codice, r.Descrizione, r.Errori, r.NomeFile = FA02, descrizioni[FA02], errs, ""
		r.Messaggio = fmt.Sprintf("fattura non inviata allo SdI (errori: %d, con i codici che lo SdI avrebbe dato): correggere il file e "+
			"inviarlo di nuovo (invoice not sent to the SdI, errors: %d, with the SdI's codes: fix the file and submit it again)", len(errs), len(errs))
		headers[HeaderCodice], headers[HeaderErrori] = FA02, summary(errs, 1500)
		evs = append(evs, message.Event{MessageID: id, Type: message.EventInvalid, Target: "controlli SdI", Detail: summary(errs, 1500)})
		next, detail = RifiutataValidazione, fmt.Sprintf("rifiutata dai controlli: %s (refused by the checks)", codes(errs))
	} else {
		r.Codice, r.Descrizione, r.NomeFile = FA00, descrizioni[FA00], final
		r.Messaggio = fmt.Sprintf("fattura controllata: sarà trasmessa allo SdI come %s (invoice checked: it will be sent to the SdI as %s)", final, final)
		headers[HeaderCodice], headers[HeaderNomeFile], headers[HeaderFirma] = FA00, final, ex.firma
		if ex.report != nil && ex.report.Envelope != "" {
			headers[HeaderBusta] = ex.report.Envelope
		}
		if ex.interna != "" {
			headers[HeaderFatturaInterna] = ex.interna
			r.Messaggio += fmt.Sprintf("; fattura interna verso l'ente %s: passa comunque dallo SdI (internal invoice: it still goes through the SdI)", ex.interna)
			evs = append(evs, message.Event{MessageID: id, Type: message.EventNote, Target: "fattura interna",
				Detail: fmt.Sprintf("l'ufficio %s è dell'ente %s servito da questo hub: la fattura passa comunque dallo SdI, che la recapita al ciclo passivo "+
					"(office served by this hub: the invoice still goes through the SdI)", ex.codice, ex.interna)})
		}
		if final != cur.FileName {
			if err := tx.AddFile(id, message.File{Name: final, Role: roleSent, ContentType: contentType(ex.ext), Data: ex.data}); err != nil {
				return nil, err
			}
		}
		keys := []string{flowkit.FileKey(final)}
		inv := make([]fatturapa.InvoiceKey, len(ex.keys))
		for i, k := range ex.keys {
			inv[i] = k.key
		}
		if err := tx.AddKeys(id, append(keys, flowkit.InvoiceKeys(inv)...)...); err != nil {
			return nil, err
		}
		checked := "firma, schema XSD e controlli SdI superati (signature, XSD and SdI checks passed); nome allo SdI " + final
		if final != cur.FileName {
			checked += " (ricevuta come " + cur.FileName + ")"
		}
		if ex.firma == FirmaHubCAdES || ex.firma == FirmaHubXAdES {
			checked += "; firmata dall'hub (" + ex.firma + ")"
		}
		evs = append(evs, message.Event{MessageID: id, Type: message.EventValidated, Target: "controlli SdI", Detail: checked})
		jobs = append(jobs, store.JobSpec{MessageID: id, Handler: HandlerSend, Target: TargetSdI, Key: "active:send:" + string(id),
			Params: map[string]string{"ente": e.ID()}})
		next, detail = DaInviare, "in coda per lo SdI come "+final+" (queued for the SdI)"
	}
	out, err := MarshalOutcome(r)
	if err != nil {
		return nil, err
	}
	if err := tx.AddFile(id, message.File{Name: outcomeName(cur), Role: message.RoleOutcome, ContentType: outcomeContentType, Data: out}); err != nil {
		return nil, err
	}
	if job, ok := m.outcomeJob(e, cur, r); ok {
		jobs = append(jobs, job)
	}
	if err := tx.MergeHeaders(id, headers); err != nil {
		return nil, err
	}
	if err := tx.AppendEvents(evs...); err != nil {
		return nil, err
	}
	if _, err := transition(tx, cur, next, detail); err != nil {
		return nil, err
	}
	r.State = cur.State
	return r, tx.Enqueue(jobs...)
}

// duplicates returns a 00404 error for each invoice of the file that an earlier active
// invoice of the journal, not discarded, already carries (same cedente, number and
// year, as fatturapa.InvoiceKey.Duplicates says). On PostgreSQL it first takes a lock
// per cedente for the rest of the transaction, so concurrent checks take turns.
func (m *Module) duplicates(ctx context.Context, tx store.Tx, self message.ID, refs []invoiceRef) ([]Errore, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if m.h.Store.Dialect() == store.Postgres {
		cedenti := map[string]bool{}
		for _, r := range refs {
			cedenti[r.key.Cedente] = true
		}
		names := make([]string, 0, len(cedenti))
		for c := range cedenti {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			if _, err := tx.SQL().ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "snodo-attivo-duplicati:"+c); err != nil {
				return nil, fmt.Errorf("attivo: blocco dei duplicati di %s (duplicate lock): %w", c, err)
			}
		}
	}
	var out []Errore
	for _, r := range refs {
		earlier, err := m.invoiceSeen(ctx, tx, self, r.key)
		if err != nil {
			return nil, err
		}
		if earlier == "" {
			continue
		}
		year := r.key.Data
		if len(year) >= 4 {
			year = year[:4]
		}
		out = append(out, Errore{Codice: fatturapa.CodeFatturaDuplicata, Percorso: r.path, Riga: r.line,
			Descrizione: fmt.Sprintf("%s: la fattura numero %s del %s di %s è già stata trasmessa (messaggio %s) e non è stata scartata né rifiutata "+
				"(invoice number %s of %s already sent)", fatturapa.Description(fatturapa.CodeFatturaDuplicata), r.key.Numero, year, r.key.Cedente,
				earlier, r.key.Numero, year)})
	}
	return out, nil
}

// invoiceSeen returns an earlier active invoice, not discarded, that k duplicates.
func (m *Module) invoiceSeen(ctx context.Context, tx store.Tx, self message.ID, k fatturapa.InvoiceKey) (message.ID, error) {
	prefix := flowkit.KeyInvoicePrefix + k.Cedente + "|" + k.Numero + "|"
	rows, err := tx.SQL().QueryContext(ctx, tx.Rebind(`SELECT key, message_id FROM message_keys WHERE key >= ? AND key < ?`), prefix, prefix+"\U0010FFFF")
	if err != nil {
		return "", fmt.Errorf("attivo: ricerca di duplicati di %s (duplicate lookup): %w", k.Numero, err)
	}
	type ref struct {
		key string
		id  message.ID
	}
	var refs []ref
	for rows.Next() {
		var r ref
		var id string
		if err := rows.Scan(&r.key, &id); err != nil {
			rows.Close()
			return "", err
		}
		r.id = message.ID(id)
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", err
	}
	for _, r := range refs {
		if r.id == self {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(r.key, flowkit.KeyInvoicePrefix), "|")
		if len(parts) != 5 {
			continue
		}
		earlier := fatturapa.InvoiceKey{Cedente: parts[0], Numero: parts[1], TipoDocumento: parts[2], Data: parts[3], Art73: parts[4] == "true"}
		if !k.Duplicates(earlier) {
			continue
		}
		msg, err := tx.Get(r.id)
		if err != nil {
			return "", err
		}
		if msg.Flow != message.FlowActive || msg.Kind != message.KindInvoice || discarded[msg.State] {
			continue
		}
		return r.id, nil
	}
	return "", nil
}

// claimName gives the file its name at the SdI and claims it, so it is never used
// twice (the SdI refuses a name it knows with 00002). The ente's compliant name is
// claimed as it is (taken reports it was used before); otherwise the hub names it
// IT<IdCodice>_<progressivo> with the per-transmitter counter, skipping names already
// claimed (an ente's own names share the transmitter's space). Counters are rows of
// the store: unique across hub processes sharing PostgreSQL.
func (m *Module) claimName(tx store.Tx, ex *examination) (name string, taken bool, err error) {
	if ex.keepBase != "" {
		n, err := tx.NextCounter(counterNomeFilePrefix + ex.keepBase)
		if err != nil {
			return "", false, err
		}
		return ex.final, n > 1, nil
	}
	for i := 0; i < maxGeneratedNameCollisions; i++ {
		n, err := tx.NextCounter(counterProgressivoPrefix + "IT" + ex.idCodice)
		if err != nil {
			return "", false, err
		}
		p, err := filename.Progressivo(n)
		if err != nil {
			return "", false, engine.Permanent(err)
		}
		name, err := filename.InvoiceName("IT", ex.idCodice, p, ex.ext)
		if err != nil {
			return "", false, engine.Permanent(fmt.Errorf("attivo: nome IT%s_%s non valido: verificare active.id_codice (bad transmitter id): %w", ex.idCodice, p, err))
		}
		c, err := tx.NextCounter(counterNomeFilePrefix + "IT" + ex.idCodice + "_" + p)
		if err != nil {
			return "", false, err
		}
		if c == 1 {
			return name, false, nil
		}
	}
	return "", false, errors.New("attivo: troppi progressivi già usati di seguito (too many progressives already used in a row)")
}

func contentType(ext string) string {
	switch ext {
	case filename.ExtP7M:
		return "application/pkcs7-mime"
	case filename.ExtZIP:
		return "application/zip"
	}
	return "application/xml"
}

// summary lists errors for a person: "00404 …; 00423 …", clipped to n runes.
func summary(errs []Errore, n int) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		s := e.Codice + " " + e.Descrizione
		if e.Riga > 0 {
			s += fmt.Sprintf(" (riga %d)", e.Riga)
		}
		parts = append(parts, s)
	}
	return clipRunes(strings.Join(parts, "; "), n)
}

func codes(errs []Errore) string {
	seen := map[string]bool{}
	var out []string
	for _, e := range errs {
		if !seen[e.Codice] {
			seen[e.Codice] = true
			out = append(out, e.Codice)
		}
	}
	return strings.Join(out, ", ")
}
