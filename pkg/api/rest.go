package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
	snodowsdl "snodo/wsdl/snodo"
)

// Base path of the REST API.
const basePath = "/api/v1"

func (a *API) mountREST(mux *http.ServeMux) {
	mux.HandleFunc("POST "+basePath+"/fatture-attive", a.withCaller(a.postInvoice))
	mux.HandleFunc("GET "+basePath+"/fatture-passive/{identificativo_sdi}", a.withCaller(a.getPassiveInvoice))
	mux.HandleFunc("POST "+basePath+"/fatture-passive/{identificativo_sdi}/esito", a.withCaller(a.postOutcome))
	mux.HandleFunc("POST "+basePath+"/esiti-committente", a.withCaller(a.postOutcomeFile))
	mux.HandleFunc("GET "+basePath+"/messaggi", a.withCaller(a.listMessages))
	mux.HandleFunc("GET "+basePath+"/messaggi/{id}", a.withCaller(a.getMessage))
	mux.HandleFunc("GET "+basePath+"/messaggi/{id}/file/{nome}", a.withCaller(a.getFile))
	mux.HandleFunc("GET "+basePath+"/ricevute/{ricevuta}", a.withCaller(a.getByRicevuta))
	mux.HandleFunc(basePath+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("%s %s: risorsa o metodo non previsti dall'API; vedere /openapi.json "+
			"(no such resource or method)", r.Method, printable(r.URL.Path)))
	})
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller)

func (a *API) withCaller(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := a.authenticate(r)
		if err != nil {
			a.authError(w, err)
			return
		}
		h(w, r, c)
	}
}

// ---- active invoice ----

// InvoiceAnswer is the answer to a submitted invoice.
type InvoiceAnswer struct {
	Codice                string    `json:"codice"`      // FA00 ... FA06, FA99
	Descrizione           string    `json:"descrizione"` // the contract's fixed text
	Messaggio             string    `json:"messaggio"`
	ID                    string    `json:"id,omitempty"`
	RicevutaComunicazione string    `json:"ricevuta_comunicazione"`
	DataOraRicezione      string    `json:"data_ora_ricezione"`
	Duplicato             bool      `json:"duplicato"`
	Stato                 string    `json:"stato,omitempty"`
	Errori                []Problem `json:"errori,omitempty"`
}

var statusFA = map[string]int{FA00: http.StatusAccepted, FA02: http.StatusUnprocessableEntity, FA03: http.StatusForbidden,
	FA04: http.StatusBadRequest, FA05: http.StatusBadRequest, FA06: http.StatusBadRequest, FA99: http.StatusInternalServerError}

func (a *API) postInvoice(w http.ResponseWriter, r *http.Request, c *caller) {
	name, data, ok := a.readUpload(w, r, a.maxInv, "nome_file", "file")
	if !ok {
		return
	}
	v := a.submitInvoice(r.Context(), c.ente, name, data, ViaREST)
	ans := InvoiceAnswer{Codice: v.code, Descrizione: descFA[v.code], Messaggio: v.msg, ID: string(v.res.MessageID),
		RicevutaComunicazione: v.ricevuta, DataOraRicezione: dataOra(v.at), Duplicato: v.res.Duplicate, Stato: string(v.res.State),
		Errori: v.problems}
	status := statusFA[v.code]
	switch {
	case v.code == FA00 && v.res.Duplicate:
		status = http.StatusOK
	case v.code == FA99 && strings.Contains(v.msg, ErrUnavailable.Error()):
		status = http.StatusServiceUnavailable
	}
	if v.code == FA99 {
		w.Header().Set("Retry-After", "60")
	}
	if ans.ID != "" {
		w.Header().Set("Location", basePath+"/messaggi/"+ans.ID)
	}
	writeJSON(w, status, ans)
}

// readUpload reads a submitted file: multipart/form-data (part fileField, optional field
// nameField), application/json {nameField, fileField base64}, or the raw file as the body
// with ?nameField=. It answers the error itself and returns ok=false.
func (a *API) readUpload(w http.ResponseWriter, r *http.Request, max int64, nameField, fileField string) (name string, data []byte, ok bool) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" {
		writeError(w, http.StatusUnsupportedMediaType, CodeMediaType, "Content-Type mancante: inviare il file come application/xml "+
			"(o application/pkcs7-mime, application/octet-stream) con ?"+nameField+"=, oppure multipart/form-data o application/json (Content-Type missing)")
		return "", nil, false
	}
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, CodeMediaType, fmt.Sprintf("Content-Type %q non valido (invalid Content-Type): %v", printable(ct), err))
		return "", nil, false
	}
	q := r.URL.Query()
	switch mt {
	case "multipart/form-data":
		r.Body = http.MaxBytesReader(w, r.Body, max+64<<10)
		mr, err := r.MultipartReader()
		if err != nil || params["boundary"] == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "multipart/form-data senza boundary valido (multipart without a valid boundary)")
			return "", nil, false
		}
		var fileName string
		var have bool
		for parts := 0; ; parts++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				a.bodyError(w, err, max, "multipart/form-data non valido (invalid multipart body)")
				return "", nil, false
			}
			if parts >= 8 {
				writeError(w, http.StatusBadRequest, CodeBadRequest, "troppe parti nel multipart: inviare solo "+fileField+" e "+nameField+" (too many parts)")
				return "", nil, false
			}
			switch p.FormName() {
			case fileField:
				if have {
					writeError(w, http.StatusBadRequest, CodeBadRequest, "più di un file nella richiesta: un file per richiesta (more than one file)")
					return "", nil, false
				}
				data, err = io.ReadAll(io.LimitReader(p, max+1))
				if err != nil {
					a.bodyError(w, err, max, "lettura del file interrotta (file read failed)")
					return "", nil, false
				}
				if int64(len(data)) > max {
					a.tooLarge(w, max)
					return "", nil, false
				}
				fileName, have = p.FileName(), true
			case nameField:
				b, err := io.ReadAll(io.LimitReader(p, 1024))
				if err != nil {
					a.bodyError(w, err, max, "lettura del campo "+nameField+" interrotta")
					return "", nil, false
				}
				name = strings.TrimSpace(string(b))
			}
		}
		if !have {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("manca la parte %q con il file (the %q part is missing)", fileField, fileField))
			return "", nil, false
		}
		if name == "" {
			name = fileName
		}
	case "application/json":
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max*4/3+64<<10))
		if err != nil {
			a.bodyError(w, err, max, "lettura della richiesta interrotta (request read failed)")
			return "", nil, false
		}
		fields := map[string]json.RawMessage{}
		if err := strictJSON(body, &fields); err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "JSON non valido (invalid JSON): "+err.Error())
			return "", nil, false
		}
		for k := range fields {
			if k != nameField && k != fileField {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("campo %q sconosciuto: ammessi %q e %q (unknown field)", printable(k), nameField, fileField))
				return "", nil, false
			}
		}
		if raw, ok := fields[nameField]; ok {
			if err := json.Unmarshal(raw, &name); err != nil {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("%s: attesa una stringa (a string is expected)", nameField))
				return "", nil, false
			}
		}
		var b64 string
		if raw, ok := fields[fileField]; ok {
			if err := json.Unmarshal(raw, &b64); err != nil {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("%s: attesa una stringa base64 (a base64 string is expected)", fileField))
				return "", nil, false
			}
		}
		if data, err = base64.StdEncoding.DecodeString(b64); err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("%s: base64 non valido (invalid base64): %v", fileField, err))
			return "", nil, false
		}
		if int64(len(data)) > max {
			a.tooLarge(w, max)
			return "", nil, false
		}
	case "application/xml", "text/xml", "application/pkcs7-mime", "application/pkcs7", "application/octet-stream", "application/zip":
		name = q.Get(nameField)
		if name == "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("con il file nel corpo serve il parametro ?%s= (the ?%s= parameter is required)", nameField, nameField))
			return "", nil, false
		}
		data, err = readAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength, max)
		if err != nil {
			a.bodyError(w, err, max, "lettura del file interrotta (file read failed)")
			return "", nil, false
		}
	default:
		writeError(w, http.StatusUnsupportedMediaType, CodeMediaType, fmt.Sprintf("Content-Type %q non supportato: usare application/xml, application/pkcs7-mime, "+
			"application/octet-stream, multipart/form-data o application/json (unsupported Content-Type)", printable(mt)))
		return "", nil, false
	}
	for k := range q {
		if k != nameField {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("parametro %q sconosciuto (unknown query parameter)", printable(k)))
			return "", nil, false
		}
	}
	return name, data, true
}

// readAll reads a body, sized at once when the request declared its length.
func readAll(r io.Reader, declared, max int64) ([]byte, error) {
	if declared <= 0 || declared > max {
		return io.ReadAll(r)
	}
	// The server already bounds the body to the declared Content-Length.
	buf := make([]byte, declared)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func (a *API) tooLarge(w http.ResponseWriter, max int64) {
	writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("file oltre il limite di %d byte: lo SdI accetta file fino a 5 MB "+
		"(file exceeds the %d-byte limit)", max, max))
}

func (a *API) bodyError(w http.ResponseWriter, err error, max int64, what string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		a.tooLarge(w, max)
		return
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, what+": "+err.Error())
}

// strictJSON decodes one JSON value, refusing trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("dati dopo il documento JSON (trailing data)")
	}
	return nil
}

// ---- outcomes ----

// OutcomeRequest is the JSON body of an accept/reject.
type OutcomeRequest struct {
	Esito                string `json:"esito"` // EC01 or EC02
	Descrizione          string `json:"descrizione,omitempty"`
	NumeroFattura        string `json:"numero_fattura,omitempty"`
	AnnoFattura          int    `json:"anno_fattura,omitempty"`
	PosizioneFattura     int    `json:"posizione_fattura,omitempty"`
	MessageIdCommittente string `json:"message_id_committente,omitempty"`
}

// OutcomeAnswer is the answer to a submitted outcome.
type OutcomeAnswer struct {
	Codice      string    `json:"codice"` // EN00 ... EN08, EN99
	Descrizione string    `json:"descrizione"`
	Messaggio   string    `json:"messaggio"`
	ID          string    `json:"id,omitempty"`      // the outcome message
	Fattura     string    `json:"fattura,omitempty"` // the invoice message
	Duplicato   bool      `json:"duplicato"`
	Errori      []Problem `json:"errori,omitempty"`
}

var statusEN = map[string]int{EN00: http.StatusAccepted, EN02: http.StatusNotFound, EN04: http.StatusBadRequest, EN05: http.StatusBadRequest,
	EN06: http.StatusForbidden, EN07: http.StatusBadRequest, EN08: http.StatusUnprocessableEntity, EN99: http.StatusInternalServerError}

func (a *API) postOutcome(w http.ResponseWriter, r *http.Request, c *caller) {
	idSdI := r.PathValue("identificativo_sdi")
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, CodeMediaType, "inviare l'esito come application/json {\"esito\": \"EC01\"|\"EC02\", ...}; "+
			"per un file EC usare POST "+basePath+"/esiti-committente (send JSON)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBytes))
	if err != nil {
		a.bodyError(w, err, maxJSONBytes, "lettura della richiesta interrotta (request read failed)")
		return
	}
	var req OutcomeRequest
	if err := strictJSON(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "JSON non valido (invalid JSON): "+err.Error())
		return
	}
	if p := checkOutcomeRequest(&req); len(p) > 0 {
		writeJSON(w, http.StatusBadRequest, OutcomeAnswer{Codice: EN04, Descrizione: descEN[EN04], Errori: p,
			Messaggio: "esito non valido: correggere i campi indicati (invalid outcome: fix the fields listed)"})
		return
	}
	o := Outcome{IdentificativoSdI: idSdI, Esito: req.Esito, Descrizione: req.Descrizione, NumeroFattura: req.NumeroFattura,
		AnnoFattura: req.AnnoFattura, PosizioneFattura: req.PosizioneFattura, MessageIdCommittente: req.MessageIdCommittente, Via: ViaREST}
	a.answerOutcome(w, a.submitOutcome(r.Context(), c.ente, o))
}

func (a *API) postOutcomeFile(w http.ResponseWriter, r *http.Request, c *caller) {
	name, data, ok := a.readUpload(w, r, a.maxOut, "nome_file", "file")
	if !ok {
		return
	}
	o, code, why := readECFile(name, data, a.maxOut)
	if code != "" {
		writeJSON(w, statusEN[code], OutcomeAnswer{Codice: code, Descrizione: descEN[code], Messaggio: why, Errori: []Problem{{Message: why}}})
		return
	}
	o.Via = ViaREST
	a.answerOutcome(w, a.submitOutcome(r.Context(), c.ente, o))
}

func (a *API) answerOutcome(w http.ResponseWriter, v outcomeVerdict) {
	ans := OutcomeAnswer{Codice: v.code, Descrizione: descEN[v.code], Messaggio: v.msg, ID: string(v.res.MessageID), Fattura: string(v.invoice),
		Duplicato: v.res.Duplicate, Errori: v.problems}
	status := statusEN[v.code]
	switch {
	case v.code == EN00 && v.res.Duplicate:
		status = http.StatusOK
	case v.closed:
		status = http.StatusConflict
	case v.code == EN99 && strings.Contains(v.msg, ErrUnavailable.Error()):
		status = http.StatusServiceUnavailable
	}
	if v.retry {
		w.Header().Set("Retry-After", "60")
	}
	writeJSON(w, status, ans)
}

// checkOutcomeRequest checks the fields against the EC schema's limits.
func checkOutcomeRequest(r *OutcomeRequest) []Problem {
	var p []Problem
	if r.Esito != "EC01" && r.Esito != "EC02" {
		p = append(p, Problem{Path: "esito", Message: fmt.Sprintf("esito %q: usare EC01 (accettazione) o EC02 (rifiuto) (esito must be EC01 or EC02)", printable(r.Esito))})
	}
	if utf8.RuneCountInString(r.Descrizione) > 255 {
		p = append(p, Problem{Path: "descrizione", Message: "descrizione oltre 255 caratteri (longer than 255 characters)"})
	}
	if n := len(r.NumeroFattura); n > 20 || r.NumeroFattura != "" && strings.TrimSpace(r.NumeroFattura) == "" {
		p = append(p, Problem{Path: "numero_fattura", Message: "numero_fattura: da 1 a 20 caratteri (1 to 20 characters)"})
	}
	if r.AnnoFattura != 0 && (r.AnnoFattura < 1970 || r.AnnoFattura > 9999) {
		p = append(p, Problem{Path: "anno_fattura", Message: "anno_fattura: quattro cifre (four digits)"})
	}
	if (r.AnnoFattura != 0 || r.PosizioneFattura != 0) && r.NumeroFattura == "" {
		p = append(p, Problem{Path: "numero_fattura", Message: "anno_fattura e posizione_fattura richiedono numero_fattura (they need numero_fattura)"})
	}
	if r.NumeroFattura != "" && r.AnnoFattura == 0 {
		p = append(p, Problem{Path: "anno_fattura", Message: "numero_fattura richiede anno_fattura (numero_fattura needs anno_fattura)"})
	}
	if r.PosizioneFattura < 0 {
		p = append(p, Problem{Path: "posizione_fattura", Message: "posizione_fattura: un numero da 1 (a number from 1)"})
	}
	if len(r.MessageIdCommittente) > 14 {
		p = append(p, Problem{Path: "message_id_committente", Message: "message_id_committente: al massimo 14 caratteri (at most 14 characters)"})
	}
	return p
}

// ---- reads ----

// MessageView is a message as an ente sees it.
type MessageView struct {
	ID                    string            `json:"id"`
	Flusso                string            `json:"flusso"`
	Tipo                  string            `json:"tipo"`
	NomeFile              string            `json:"nome_file"`
	Dimensione            int64             `json:"dimensione"`
	SHA256                string            `json:"sha256,omitempty"`
	Stato                 string            `json:"stato"`
	IdentificativoSdI     string            `json:"identificativo_sdi,omitempty"`
	RicevutaComunicazione string            `json:"ricevuta_comunicazione,omitempty"`
	Correlazione          string            `json:"correlazione,omitempty"`
	Padre                 string            `json:"padre,omitempty"`
	Creato                time.Time         `json:"creato"`
	Aggiornato            time.Time         `json:"aggiornato"`
	Intestazioni          map[string]string `json:"intestazioni"`
	File                  []FileView        `json:"file,omitempty"`
	Eventi                []EventView       `json:"eventi,omitempty"`
}

// FileView describes one file of a message.
type FileView struct {
	Nome        string `json:"nome"`
	Ruolo       string `json:"ruolo"`
	ContentType string `json:"content_type"`
	Dimensione  int64  `json:"dimensione"`
	URL         string `json:"url"`
}

// EventView is one entry of a message's timeline.
type EventView struct {
	Seq          int64     `json:"seq"`
	Quando       time.Time `json:"quando"`
	Tipo         string    `json:"tipo"`
	Destinazione string    `json:"destinazione,omitempty"`
	Tentativo    int       `json:"tentativo,omitempty"`
	Dettaglio    string    `json:"dettaglio,omitempty"`
}

// MessageList is a page of messages.
type MessageList struct {
	Messaggi []MessageView `json:"messaggi"`
	// Prossimo is the cursor of the next page (pass it as prima_di), absent on the last.
	Prossimo string `json:"prossimo,omitempty"`
}

func view(m *message.Message) MessageView {
	v := MessageView{ID: string(m.ID), Flusso: string(m.Flow), Tipo: string(m.Kind), NomeFile: m.FileName, Dimensione: m.Size, SHA256: m.SHA256,
		Stato: string(m.State), IdentificativoSdI: m.Header(message.HeaderIdentificativoSdI), Correlazione: m.CorrelationID,
		Padre: string(m.ParentID), Creato: m.CreatedAt, Aggiornato: m.UpdatedAt, Intestazioni: m.Headers}
	if v.Intestazioni == nil {
		v.Intestazioni = map[string]string{}
	}
	if m.Flow == message.FlowActive && m.Kind == message.KindInvoice {
		v.RicevutaComunicazione, _ = snodowsdl.RicevutaFromMessageID(string(m.ID))
	}
	return v
}

// own loads a message of the caller's ente: another ente's message is "not found".
func (a *API) own(ctx context.Context, c *caller, id string) (*message.Message, error) {
	if !message.Valid(id) {
		return nil, store.ErrNotFound
	}
	m, err := a.st.Get(ctx, message.ID(id))
	if err != nil {
		return nil, err
	}
	if m.Ente != c.ente.ID() {
		a.log.Warn("api: richiesta di un messaggio di un altro ente (request for another ente's message)", "ente", c.ente.ID(),
			"message", id, "remote", c.ip)
		return nil, store.ErrNotFound
	}
	return m, nil
}

func (a *API) notFound(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotFound, CodeNotFound, what+": non trovato tra i messaggi dell'ente (not found among the ente's messages)")
}

func (a *API) readError(w http.ResponseWriter, err error, what string) {
	if errors.Is(err, store.ErrNotFound) {
		a.notFound(w, what)
		return
	}
	a.log.Error("api: lettura dallo store (store read)", "what", what, "err", err)
	w.Header().Set("Retry-After", "10")
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "archivio momentaneamente non disponibile: riprovare (store unavailable: retry)")
}

// detail writes the full view of a message: files and timeline included.
func (a *API) detail(w http.ResponseWriter, r *http.Request, m *message.Message) {
	v := view(m)
	files, err := a.st.Files(r.Context(), m.ID)
	if err != nil {
		a.readError(w, err, "messaggio "+string(m.ID))
		return
	}
	for _, f := range files {
		ct := f.ContentType
		if ct == "" {
			ct = contentTypeOf(f.Name)
		}
		v.File = append(v.File, FileView{Nome: f.Name, Ruolo: f.Role, ContentType: ct, Dimensione: f.Size,
			URL: basePath + "/messaggi/" + string(m.ID) + "/file/" + url.PathEscape(f.Name)})
	}
	evs, err := a.st.Events(r.Context(), m.ID)
	if err != nil {
		a.readError(w, err, "messaggio "+string(m.ID))
		return
	}
	for _, e := range evs {
		v.Eventi = append(v.Eventi, EventView{Seq: e.Seq, Quando: e.At, Tipo: string(e.Type), Destinazione: e.Target, Tentativo: e.Attempt, Dettaglio: e.Detail})
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) getMessage(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	m, err := a.own(r.Context(), c, id)
	if err != nil {
		a.readError(w, err, "messaggio "+printable(id))
		return
	}
	a.detail(w, r, m)
}

func (a *API) getByRicevuta(w http.ResponseWriter, r *http.Request, c *caller) {
	ric := r.PathValue("ricevuta")
	id, ok := snodowsdl.MessageIDFromRicevuta(ric)
	if !ok {
		writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("ricevuta %q non valida: attesa IntermediaMarche_<32 esadecimali>_<data e ora> "+
			"(bad RicevutaComunicazione)", printable(ric)))
		return
	}
	m, err := a.own(r.Context(), c, id)
	if err != nil {
		a.readError(w, err, "ricevuta "+printable(ric))
		return
	}
	a.detail(w, r, m)
}

func (a *API) getPassiveInvoice(w http.ResponseWriter, r *http.Request, c *caller) {
	idSdI := r.PathValue("identificativo_sdi")
	m, err := a.findInvoice(r.Context(), c.ente.ID(), idSdI)
	if err != nil {
		a.readError(w, err, "fattura con IdentificativoSdI "+printable(idSdI))
		return
	}
	a.detail(w, r, m)
}

func (a *API) getFile(w http.ResponseWriter, r *http.Request, c *caller) {
	id, name := r.PathValue("id"), r.PathValue("nome")
	m, err := a.own(r.Context(), c, id)
	if err != nil {
		a.readError(w, err, "messaggio "+printable(id))
		return
	}
	files, err := a.st.Files(r.Context(), m.ID)
	if err != nil {
		a.readError(w, err, "messaggio "+printable(id))
		return
	}
	var f *message.File
	for i := range files {
		if files[i].Name == name {
			f = &files[i]
		}
	}
	if f == nil {
		a.notFound(w, fmt.Sprintf("file %q del messaggio %s", printable(name), m.ID))
		return
	}
	data, err := a.st.ReadFile(r.Context(), m.ID, f.Name)
	if err != nil {
		a.readError(w, err, "file "+printable(name))
		return
	}
	ct := f.ContentType
	if ct == "" {
		ct = contentTypeOf(f.Name)
	}
	sum := sha256.Sum256(data)
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Name}))
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// List parameters.
const (
	defaultPage = 50
	maxPage     = 200
)

func (a *API) listMessages(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	f := store.Filter{Ente: c.ente.ID(), Limit: defaultPage}
	var idSdI string
	for k, vs := range q {
		v := vs[0]
		if len(vs) > 1 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("parametro %q ripetuto (repeated parameter)", printable(k)))
			return
		}
		switch k {
		case "flusso":
			switch message.Flow(v) {
			case message.FlowPassive, message.FlowActive, message.FlowPayment, message.FlowForward:
				f.Flow = v
			default:
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("flusso %q: usare passive, active, payment o forward (unknown flow)", printable(v)))
				return
			}
		case "tipo":
			f.Kind = v
		case "stato":
			f.State = v
		case "da":
			t, err := parseSince(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
				return
			}
			f.Since = t
		case "prima_di":
			if !message.Valid(v) {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("prima_di %q: usare il valore di prossimo della pagina precedente (bad cursor)", printable(v)))
				return
			}
			f.Before = message.ID(v)
		case "limite":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPage {
				writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("limite %q: un numero da 1 a %d (limit from 1 to %d)", printable(v), maxPage, maxPage))
				return
			}
			f.Limit = n
		case "identificativo_sdi":
			idSdI = v
		default:
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("parametro %q sconosciuto: ammessi flusso, tipo, stato, da, prima_di, limite, "+
				"identificativo_sdi (unknown parameter)", printable(k)))
			return
		}
	}
	var msgs []*message.Message
	if idSdI != "" {
		ms, err := a.bySdI(r.Context(), c.ente.ID(), idSdI, f)
		if err != nil {
			a.readError(w, err, "messaggi")
			return
		}
		msgs = ms
	} else {
		want := f.Limit
		f.Limit = want + 1
		ms, err := a.st.List(r.Context(), f)
		if err != nil {
			a.readError(w, err, "messaggi")
			return
		}
		msgs = ms
		f.Limit = want
	}
	out := MessageList{Messaggi: []MessageView{}}
	for i, m := range msgs {
		if i == f.Limit {
			out.Prossimo = string(msgs[i-1].ID)
			break
		}
		if m.Ente != c.ente.ID() { // the store filters; this is the belt to its braces
			continue
		}
		out.Messaggi = append(out.Messaggi, view(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// bySdI lists the ente's messages carrying an IdentificativoSdI (the invoice and its
// notifications), newest first, with the other filters applied.
func (a *API) bySdI(ctx context.Context, ente, idSdI string, f store.Filter) ([]*message.Message, error) {
	id, err := sdi.ParseIdentificativoSdI(idSdI)
	if err != nil {
		return nil, nil
	}
	ids, err := a.st.FindByKey(ctx, "sdi:"+string(id))
	if err != nil {
		return nil, err
	}
	var out []*message.Message
	for i := len(ids) - 1; i >= 0; i-- {
		m, err := a.st.Get(ctx, ids[i])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Ente != ente || f.Flow != "" && string(m.Flow) != f.Flow || f.Kind != "" && string(m.Kind) != f.Kind ||
			f.State != "" && string(m.State) != f.State || !f.Since.IsZero() && m.CreatedAt.Before(f.Since) ||
			f.Before != "" && m.ID >= f.Before {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

func parseSince(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("da %q: usare una data AAAA-MM-GG o data e ora RFC 3339 (bad date)", printable(v))
}

// dataOra formats a time as the contracts' xs:dateTime, Italian offset and milliseconds.
func dataOra(t time.Time) string {
	return t.In(sdi.Rome).Format("2006-01-02T15:04:05.000-07:00")
}

// contentTypeOf names the media type of a stored file by its name.
func contentTypeOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".p7m"):
		return "application/pkcs7-mime"
	case strings.HasSuffix(n, ".xml"):
		return "application/xml"
	case strings.HasSuffix(n, ".zip"):
		return "application/zip"
	case strings.HasSuffix(n, ".html"), strings.HasSuffix(n, ".htm"):
		return "text/html; charset=utf-8"
	case strings.HasSuffix(n, ".pdf"):
		return "application/pdf"
	case strings.HasSuffix(n, ".csv"):
		return "text/csv; charset=utf-8"
	case strings.HasSuffix(n, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}
