package active

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"snodo/pkg/engine"
	"snodo/pkg/fatturapa"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/sdi/sdicoop"
	"snodo/pkg/store"
)

// ReceiveInvoice is not served on TrasmissioneFatture: invoices the SdI delivers come
// to RicezioneFatture (the passive module).
func (m *Module) ReceiveInvoice(ctx context.Context, in sdicoop.InvoiceDelivery) error {
	return fmt.Errorf("attivo: TrasmissioneFatture non riceve fatture (%s): usare RicezioneFatture (invoices go to RicezioneFatture)", in.NomeFile)
}

// ReceiveNotification stores a notification of the active cycle (RC, NS, MC, NE, DT,
// AT on TrasmissioneFatture, or one read from the SdI's PEC) with the job that
// correlates it, in one transaction; the SdI gets its answer only after the commit. A
// redelivery of the same file (IdentificativoSdI and NomeFile) is recognised.
func (m *Module) ReceiveNotification(ctx context.Context, n sdicoop.NotificationDelivery) error {
	id := string(n.IdentificativoSdI)
	headers := map[string]string{message.HeaderIdentificativoSdI: id, message.HeaderTipoMessaggio: string(n.Tipo), HeaderNomeFile: n.NomeFile}
	if f := invoiceFileOf(n.Message, n.NomeFile); f != "" {
		headers[HeaderNomeFileFattura] = f
	}
	events := []message.Event{{Type: message.EventReceived, Target: n.Service,
		Detail: fmt.Sprintf("%s %s per IdentificativoSdI %s da %s", n.Tipo.Descrizione(), n.NomeFile, id, peerName(n.Peer))}}
	if n.ParseErr != nil {
		events = append(events, message.Event{Type: message.EventNote, Detail: "notifica illeggibile, conservata (unreadable notification, kept): " + n.ParseErr.Error()})
	}
	ente := ""
	if inv, err := m.invoiceByID(ctx, id); err == nil && inv != nil {
		ente = inv.Ente
	}
	dedup := dedupNotificationPrefix + id + ":" + n.NomeFile
	msg := &message.Message{Ente: ente, Flow: message.FlowActive, Kind: message.KindNotification, FileName: n.NomeFile, Headers: headers,
		CorrelationID: CorrelationID(id), State: NotificaRicevuta, DedupKey: dedup, Source: "sdi/" + n.Service,
		Files: []message.File{{Name: n.NomeFile, Role: message.RoleMain, ContentType: notificationContentType(n.NomeFile), Data: n.File}}}
	_, created, err := m.h.Store.Ingest(ctx, store.NewMessage{Message: msg, Events: events, Keys: []string{flowkit.SdIKey(id)},
		Jobs: []store.JobSpec{{Handler: HandlerNotify, Key: "active:notify:" + dedup}}})
	if err != nil {
		return fmt.Errorf("attivo: registrazione della notifica %s (%s): %w", n.NomeFile, id, err)
	}
	if !created {
		m.metrics.notifications.WithLabelValues(string(n.Tipo), "duplicate").Inc()
		m.log.Info("notifica già ricevuta: riconsegna dello SdI riconosciuta (notification redelivered, kept once)", "IdentificativoSdI", id, "NomeFile", n.NomeFile)
		return nil
	}
	m.h.Notify()
	return nil
}

func peerName(p sdicoop.Peer) string {
	if p.ClientCN != "" {
		return p.ClientCN + " (" + p.RemoteAddr + ")"
	}
	return p.RemoteAddr
}

func notificationContentType(name string) string {
	if strings.HasSuffix(strings.ToLower(name), ".zip") {
		return "application/zip"
	}
	return "application/xml"
}

// invoiceFileOf is the invoice file a notification is about: the NomeFile inside it,
// else the notification's own name without _TT_nnn (the base, without extension).
func invoiceFileOf(m *sdi.Message, notification string) string {
	if m != nil && m.Body != nil {
		if f := strings.TrimSpace(m.Body.FileFattura()); f != "" {
			return f
		}
	}
	return invoiceBaseOf(notification)
}

// invoiceBaseOf derives the invoice file's base name from a notification file name:
// IT01234567890_11111_RC_001.xml → IT01234567890_11111; "" when the name does not
// follow the SdI's rule.
func invoiceBaseOf(notification string) string {
	if strings.ContainsAny(notification, "/\\") {
		return ""
	}
	t, ok := sdi.TipoFromName(notification)
	if !ok {
		return ""
	}
	// The last "_TT_" (any case) is the suffix TipoFromName matched. Compared byte by
	// byte: upper-casing the whole name would move the offsets of invalid UTF-8.
	pat := "_" + string(t) + "_"
	for i := len(notification) - len(pat); i > 0; i-- {
		if strings.EqualFold(notification[i:i+len(pat)], pat) {
			return notification[:i]
		}
	}
	return ""
}

// invoiceByID returns the active invoice with an IdentificativoSdI, nil when none.
func (m *Module) invoiceByID(ctx context.Context, id string) (*message.Message, error) {
	ids, err := m.h.Store.FindByKey(ctx, flowkit.SdIKey(id))
	if err != nil {
		return nil, err
	}
	for _, mid := range ids {
		msg, err := m.h.Store.Get(ctx, mid)
		if err != nil {
			return nil, err
		}
		if msg.Flow == message.FlowActive && msg.Kind == message.KindInvoice {
			return msg, nil
		}
	}
	return nil, nil
}

// notice is what a notification says, read once outside the transaction.
type notice struct {
	tipo        sdi.Tipo
	id          string
	invoiceFile string // the invoice file name, or its base when only the name was readable
	esito       string // NE: EC01 or EC02
	errori      []sdi.Errore
	descrizione string // what to record on the invoice's timeline
	rendering   *message.File
}

// read parses the stored notification.
func (m *Module) read(ctx context.Context, msg *message.Message) (*notice, error) {
	data, err := m.h.Store.ReadFile(ctx, msg.ID, msg.FileName)
	if err != nil {
		return nil, fmt.Errorf("attivo: lettura di %s: %w", msg.FileName, err)
	}
	nt := &notice{tipo: sdi.Tipo(msg.Header(message.HeaderTipoMessaggio)), id: msg.Header(message.HeaderIdentificativoSdI),
		invoiceFile: msg.Header(HeaderNomeFileFattura)}
	parsed, perr := sdi.Parse(msg.FileName, data)
	if perr == nil && parsed.Tipo != nt.tipo {
		perr = fmt.Errorf("%s: atteso %s, trovato %s (type mismatch)", msg.FileName, nt.tipo, parsed.Tipo)
	}
	if perr != nil {
		nt.descrizione = fmt.Sprintf("%s %s illeggibile (unreadable): %v", nt.tipo, msg.FileName, perr)
		return nt, nil
	}
	if nt.invoiceFile == "" {
		nt.invoiceFile = invoiceFileOf(parsed, msg.FileName)
	}
	nt.descrizione = fmt.Sprintf("%s %s", nt.tipo.Descrizione(), msg.FileName)
	switch b := parsed.Body.(type) {
	case *sdi.NotificaScarto:
		nt.errori = b.ListaErrori.Errore
		nt.descrizione += ": " + clipRunes(b.Errori(), notificationMaxDescription)
		if html, err := m.renderNS(msg.FileName, parsed.Raw); err == nil {
			nt.rendering = &message.File{Name: msg.FileName + ".html", Role: message.RoleRendering, ContentType: renderingContentType, Data: html}
		} else {
			m.log.Warn("notifica di scarto non resa in HTML: consegnata con il testo degli errori (NS not rendered)", "file", msg.FileName, "err", err)
		}
	case *sdi.NotificaEsito:
		nt.esito = b.EsitoCommittente.Esito
		nt.descrizione += ": " + nt.esito
		if d := strings.TrimSpace(b.EsitoCommittente.Descrizione); d != "" {
			nt.descrizione += " " + clipRunes(d, 255)
		}
	case *sdi.NotificaMancataConsegna:
		if d := strings.TrimSpace(b.Descrizione); d != "" {
			nt.descrizione += ": " + clipRunes(d, 255)
		}
	case *sdi.RicevutaConsegna:
		nt.descrizione += ": consegnata il " + b.DataOraConsegna.In(sdi.Rome).Format("02/01/2006 15:04")
	case *sdi.AttestazioneTrasmissioneFattura:
		if parsed.FileOriginale != nil && !parsed.HashOriginaleOK {
			nt.descrizione += "; attenzione: l'hash del file originale non corrisponde (HashFileOriginale mismatch)"
		}
	}
	return nt, nil
}

// renderNS renders an NS with the official stylesheet.
func (m *Module) renderNS(name string, doc []byte) ([]byte, error) {
	sheet, err := m.nsStylesheet()
	if err != nil {
		return nil, err
	}
	return sheet.Transform(name, doc, nil)
}

// errUncorrelated is the failure of a notification no invoice claims.
var errUncorrelated = errors.New("notifica senza fattura corrispondente (notification without a matching invoice)")

// maxCorrelationAttempts is how many times a notification is looked for its invoice
// before it is dead-lettered (the invoice's commit may lag its notification).
const maxCorrelationAttempts = 3

// notify is the job that correlates a notification to its invoice, moves the invoice
// along its state machine and relays the notification to the ente.
func (m *Module) notify(ctx context.Context, j *store.Job, msg *message.Message) (store.Outcome, error) {
	if msg.State != NotificaRicevuta && msg.State != NotificaNonCorrelata && msg.State != message.StateReceived {
		return store.Outcome{}, nil // done by an earlier run
	}
	nt, err := m.read(ctx, msg)
	if err != nil {
		return store.Outcome{}, err
	}
	var inv *message.Message
	var waitingSend bool
	var how string
	err = m.tx(ctx, func(tx store.Tx) error {
		found, byName, err := m.correlate(ctx, tx, nt)
		if err != nil {
			return err
		}
		ncur, err := lock(ctx, tx, m.h.Store.Dialect(), msg.ID)
		if err != nil {
			return err
		}
		if ncur.State != NotificaRicevuta && ncur.State != NotificaNonCorrelata && ncur.State != message.StateReceived {
			return nil
		}
		if found == nil {
			if ncur.State != NotificaNonCorrelata {
				return tx.SetState(msg.ID, NotificaNonCorrelata, fmt.Sprintf("nessuna fattura attiva con IdentificativoSdI %s né file %s "+
					"(no active invoice with this IdentificativoSdI or file name)", nt.id, nt.invoiceFile))
			}
			return nil
		}
		icur, err := lock(ctx, tx, m.h.Store.Dialect(), found.ID)
		if err != nil {
			return err
		}
		inv = icur
		waitingSend = icur.State == DaInviare
		how = "IdentificativoSdI"
		if byName {
			how = "nome file " + nt.invoiceFile
		}
		return m.apply(ctx, tx, icur, ncur, nt, byName)
	})
	if err != nil {
		return store.Outcome{}, err
	}
	if inv == nil {
		m.metrics.notifications.WithLabelValues(string(nt.tipo), "uncorrelated").Inc()
		cause := fmt.Errorf("attivo: %s %s (IdentificativoSdI %s, file %s): %w", nt.tipo, msg.FileName, nt.id, nt.invoiceFile, errUncorrelated)
		if j.Attempts < maxCorrelationAttempts {
			return store.Outcome{}, cause
		}
		m.log.Error("notifica SdI non correlata: in dead letter per un operatore (uncorrelated SdI notification)", "message", msg.ID,
			"IdentificativoSdI", nt.id, "NomeFile", msg.FileName, "fattura", nt.invoiceFile)
		return store.Outcome{}, engine.Permanent(cause)
	}
	m.metrics.notifications.WithLabelValues(string(nt.tipo), "correlated").Inc()
	if waitingSend {
		// A send whose outcome was unknown waits for exactly this.
		if _, err := m.h.Store.ResolveAwait(ctx, awaitKey(inv.Header(HeaderNomeFile)), true,
			fmt.Sprintf("%s ricevuta per %s: lo SdI aveva il file (the SdI had the file)", nt.tipo, inv.Header(HeaderNomeFile)), store.Outcome{}); err != nil &&
			!errors.Is(err, store.ErrNotFound) {
			m.log.Warn("invio in attesa non risolto: si risolverà alla scadenza (awaiting send not resolved)", "message", inv.ID, "err", err)
		}
		m.h.Notify()
	}
	m.log.Info("notifica SdI correlata (SdI notification correlated)", "message", msg.ID, "fattura", inv.ID, "ente", inv.Ente, "tipo", nt.tipo,
		"IdentificativoSdI", nt.id, "per", how, "stato", inv.State)
	return store.Outcome{}, nil
}

// correlate finds the invoice of a notification: by IdentificativoSdI, else by the
// invoice file name it names when that invoice may have this id (it has none yet, or
// one of its sends had an unknown outcome).
func (m *Module) correlate(ctx context.Context, tx store.Tx, nt *notice) (*message.Message, bool, error) {
	if nt.id != "" {
		ids, err := tx.FindByKey(flowkit.SdIKey(nt.id))
		if err != nil {
			return nil, false, err
		}
		for _, mid := range ids {
			x, err := tx.Get(mid)
			if err != nil {
				return nil, false, err
			}
			if x.Flow == message.FlowActive && x.Kind == message.KindInvoice {
				return x, false, nil
			}
		}
	}
	if nt.invoiceFile == "" {
		return nil, false, nil
	}
	var ids []message.ID
	var err error
	if strings.Contains(nt.invoiceFile, ".") {
		ids, err = tx.FindByKey(flowkit.FileKey(nt.invoiceFile))
	} else {
		ids, err = keysWithPrefix(ctx, tx, flowkit.FileKey(nt.invoiceFile+"."))
	}
	if err != nil {
		return nil, false, err
	}
	var found *message.Message
	for _, mid := range ids {
		x, err := tx.Get(mid)
		if err != nil {
			return nil, false, err
		}
		if x.Flow != message.FlowActive || x.Kind != message.KindInvoice {
			continue
		}
		if x.Header(message.HeaderIdentificativoSdI) != "" && x.Header(HeaderEsitoIncerto) == "" {
			continue // it has its id; this notification is about another file of that name
		}
		if found != nil {
			return nil, false, nil // ambiguous: an operator decides
		}
		found = x
	}
	return found, found != nil, nil
}

// keysWithPrefix returns the messages holding a key that starts with prefix.
func keysWithPrefix(ctx context.Context, tx store.Tx, prefix string) ([]message.ID, error) {
	rows, err := tx.SQL().QueryContext(ctx, tx.Rebind(`SELECT message_id FROM message_keys WHERE key >= ? AND key < ? ORDER BY message_id`),
		prefix, prefix+"\U0010FFFF")
	if err != nil {
		return nil, fmt.Errorf("attivo: ricerca per %s (key lookup): %w", prefix, err)
	}
	defer rows.Close()
	var out []message.ID
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, message.ID(id))
	}
	return out, rows.Err()
}

// apply records a correlated notification: the invoice's id when it was found by name,
// the link between both messages, the invoice's new state, the link to the passive
// side of an internal invoice, and the relay to the ente.
func (m *Module) apply(ctx context.Context, tx store.Tx, inv, ntf *message.Message, nt *notice, byName bool) error {
	corr := CorrelationID(nt.id)
	ih := map[string]string{}
	var ievs []message.Event
	if nt.id != "" && byName {
		if err := tx.AddKeys(inv.ID, flowkit.SdIKey(nt.id)); err != nil {
			return err
		}
		if existing := inv.Header(message.HeaderIdentificativoSdI); existing == "" {
			ih[message.HeaderIdentificativoSdI] = nt.id
		} else if existing != nt.id {
			ih[HeaderIdentificativiSdI] = addID(inv.Header(HeaderIdentificativiSdI), existing, nt.id)
		}
		ievs = append(ievs, message.Event{MessageID: inv.ID, Type: message.EventNote, Target: "correlazione",
			Detail: fmt.Sprintf("IdentificativoSdI %s appreso dalla notifica %s, correlata per nome file (learned from a notification, by file name)", nt.id, ntf.FileName)})
		if err := setCorrelation(ctx, tx, inv.ID, corr); err != nil {
			return err
		}
	}
	if inv.State == DaInviare && inv.Header(HeaderInvioInCorso) != "" {
		ih[HeaderInvioInCorso] = ""
	}
	// The state the notification asks for.
	detail := nt.descrizione
	target, moves := StateFor(nt.tipo, nt.esito)
	if nt.tipo == sdi.NS && onlyDuplicateName(nt.errori) && inv.Header(HeaderEsitoIncerto) != "" {
		moves = false
		ievs = append(ievs, message.Event{MessageID: inv.ID, Type: message.EventNote, Target: string(sdi.NS),
			Detail: fmt.Sprintf("scarto 00002 (nome duplicato) dell'invio ripetuto dopo un esito sconosciuto: lo SdI aveva già ricevuto %s al primo invio, "+
				"che resta valido; le notifiche di quell'invio sono correlate per nome file (00002 of the repeated send: the SdI had the file already)", inv.Header(HeaderNomeFile))})
		m.log.Warn("scarto 00002 dopo un esito sconosciuto: il primo invio era arrivato allo SdI (00002 after an unknown outcome: the first send reached the SdI)",
			"fattura", inv.ID, "NomeFile", inv.Header(HeaderNomeFile), "IdentificativoSdI", nt.id)
	}
	switch nt.tipo {
	case sdi.NE:
		if nt.esito != "" {
			ih[HeaderEsitoCommittente] = nt.esito
		}
	case sdi.NS:
		if moves {
			ih[HeaderErrori] = clipRunes(sdiErrors(nt.errori), notificationMaxDescription)
		}
	}
	if inv.State == DaInviare && nt.id != "" && moves {
		ievs = append(ievs, message.Event{MessageID: inv.ID, Type: message.EventDelivered, Target: TargetSdI,
			Detail: fmt.Sprintf("lo SdI ha il file: IdentificativoSdI %s (the SdI has the file)", nt.id)})
	}
	if err := tx.MergeHeaders(inv.ID, ih); err != nil {
		return err
	}
	if err := tx.AppendEvents(ievs...); err != nil {
		return err
	}
	if moves {
		if _, err := transition(tx, inv, target, detail); err != nil {
			return err
		}
	} else if !moves && nt.tipo != sdi.NS {
		if err := tx.AppendEvents(message.Event{MessageID: inv.ID, Type: message.EventNote, Target: string(nt.tipo), Detail: detail}); err != nil {
			return err
		}
	}
	if err := m.linkInternal(ctx, tx, inv, nt.id); err != nil {
		return err
	}
	// The notification itself.
	if ntf.Ente == "" {
		if err := setEnte(ctx, tx, ntf.ID, inv.Ente); err != nil {
			return err
		}
	}
	nh := map[string]string{HeaderFattura: string(inv.ID), HeaderNomeFileFattura: inv.Header(HeaderNomeFile)}
	if nt.esito != "" {
		nh[HeaderEsitoCommittente] = nt.esito
	}
	if len(nt.errori) > 0 {
		nh[HeaderErrori] = clipRunes(sdiErrors(nt.errori), notificationMaxDescription)
	}
	if err := tx.MergeHeaders(ntf.ID, nh); err != nil {
		return err
	}
	if nt.rendering != nil {
		if err := tx.AddFile(ntf.ID, *nt.rendering); err != nil {
			return err
		}
	}
	state, sdetail := NotificaCorrelata, fmt.Sprintf("fattura %s (%s), stato %s", inv.ID, inv.Header(HeaderNomeFile), inv.State)
	if _, ok := m.h.Routes.Endpoint(inv.Ente, route.ActiveNotifications); ok {
		j := hub.DeliverJob(inv.Ente, route.ActiveNotifications, map[string]string{hub.ParamState: string(NotificaInoltrata),
			hub.ParamSubject: subject(nt.tipo, nt.id)})
		j.MessageID, j.Key = ntf.ID, "active:relay:"+string(ntf.ID)
		if err := tx.Enqueue(j); err != nil {
			return err
		}
		sdetail += "; inoltro all'ente in coda (relay to the ente queued)"
	} else {
		sdetail += "; l'ente non ha la fase active.notifications: notifica non inoltrata (no active.notifications phase)"
	}
	return tx.SetState(ntf.ID, state, sdetail)
}

// linkInternal links an internal invoice to its passive side, once the SdI delivered
// it to this hub: both carry CorrelationID sdi:<id>, and each names the other.
func (m *Module) linkInternal(ctx context.Context, tx store.Tx, inv *message.Message, id string) error {
	if inv.Header(HeaderFatturaInterna) == "" || inv.Header(HeaderFatturaPassiva) != "" || id == "" {
		return nil
	}
	ids, err := tx.FindByKey(flowkit.SdIKey(id))
	if err != nil {
		return err
	}
	for _, mid := range ids {
		p, err := tx.Get(mid)
		if err != nil {
			return err
		}
		if p.Flow != message.FlowPassive || p.Kind != message.KindInvoice {
			continue
		}
		if err := setCorrelation(ctx, tx, p.ID, CorrelationID(id)); err != nil {
			return err
		}
		if err := tx.MergeHeaders(inv.ID, map[string]string{HeaderFatturaPassiva: string(p.ID)}); err != nil {
			return err
		}
		return tx.AppendEvents(
			message.Event{MessageID: inv.ID, Type: message.EventNote, Target: "fattura interna",
				Detail: fmt.Sprintf("recapitata dallo SdI all'ente %s: messaggio passivo %s (delivered to the ente's passive cycle)", p.Ente, p.ID)},
			message.Event{MessageID: p.ID, Type: message.EventNote, Target: "fattura interna",
				Detail: fmt.Sprintf("emessa dall'ente %s tramite questo hub: messaggio attivo %s (issued through this hub)", inv.Ente, inv.ID)})
	}
	return nil
}

// onlyDuplicateName reports whether an NS rejects the file only for its name (00002).
func onlyDuplicateName(errs []sdi.Errore) bool {
	if len(errs) == 0 {
		return false
	}
	for _, e := range errs {
		if strings.TrimSpace(e.Codice) != fatturapa.CodeNomeFileDuplicato {
			return false
		}
	}
	return true
}

func sdiErrors(errs []sdi.Errore) string {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		s := e.Codice + " " + e.Descrizione
		if e.Suggerimento != "" {
			s += " (" + e.Suggerimento + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// subject is the title of a relayed notification on channels that carry one (PEC), as
// IntermediaMarche writes it: "<label> - Identificativo SDI: <id>".
func subject(t sdi.Tipo, id string) string {
	label := map[sdi.Tipo]string{sdi.RC: "Ricevuta Consegna", sdi.MC: "Mancata Consegna", sdi.NS: "Notifica Scarto", sdi.NE: "Notifica Esito",
		sdi.DT: "Decorrenza Termini", sdi.AT: "Attestazione Trasmissione Fattura"}[t]
	if label == "" {
		label = "Notifica " + string(t)
	}
	return label + " - Identificativo SDI: " + id
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func joinList(xs []string) string { return strings.Join(xs, ",") }
