// Package wstest is an ente's system for tests and local runs of the ws channel: one
// http.Handler that serves the two SOAP contracts an ente implements (RiceviFattura and
// RiceviNotifica of intermediamarche-registrazione, RiceviNotifica of
// intermediamarche-notifica-attiva) and the REST delivery (raw or JSON), records every
// delivery, recognises redeliveries by their Idempotency-Key as a well-behaved ente does,
// and answers what the test asks: success, a result code, a fault or an HTTP error, for
// the next n calls.
//
// Paths: /registrazione and /notifiche-attiva (SOAP), /rest (REST). Put it behind
// httptest.NewServer or NewTLSServer and point a route at it.
package wstest

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"snodo/pkg/channel/ws"
	"snodo/pkg/soap"
	snodowsdl "snodo/wsdl/snodo"
)

// Delivery is one call the ente received.
type Delivery struct {
	Style             string // "soap" or "rest"
	Operation         string // RiceviFattura, RiceviNotifica, or "POST" for REST
	IdentificativoSdI string
	Esito             string // the Esito Codice of a notification (DT, NS, RC, ...)
	NomeFile          string
	Data              []byte // the main file
	IdempotencyKey    string
	Authorization     string
	Header            http.Header
	// Duplicate is true when an earlier call carried the same Idempotency-Key and was
	// taken (answered with success).
	Duplicate bool
}

// Answer is what the ente answers, in place of success.
type Answer struct {
	// Code is a result code for the SOAP contracts (EF01, EN02, NA03, ...); for a fault
	// use Fault.
	Code string
	// Fault answers a SOAP fault with this FaultDetail code (EF99, EN99, NA99).
	Fault string
	// Status answers this HTTP status with a short body (both styles).
	Status int
}

// Ente is the fake ente system. The zero value is not usable: call New.
type Ente struct {
	mu        sync.Mutex
	calls     []Delivery
	taken     map[string]bool // idempotency keys answered with success
	pending   []Answer        // answers for the next calls, in order
	protocol  int             // last protocol number given
	protocols map[string]int  // protocol number by idempotency key
	changed   chan struct{}
	noProtNum bool
}

// New returns an ente that answers success to everything.
func New() *Ente {
	return &Ente{taken: map[string]bool{}, protocols: map[string]int{}, changed: make(chan struct{}, 1)}
}

// Next makes the next len(answers) calls answer these instead of success.
func (e *Ente) Next(answers ...Answer) {
	e.mu.Lock()
	e.pending = append(e.pending, answers...)
	e.mu.Unlock()
}

// WithoutProtocolNumbers stops the REST answers from carrying a protocol number.
func (e *Ente) WithoutProtocolNumbers() *Ente { e.noProtNum = true; return e }

// Deliveries returns every call received, in order.
func (e *Ente) Deliveries() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Delivery(nil), e.calls...)
}

// Taken returns the calls answered with success, one per idempotency key.
func (e *Ente) Taken() []Delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Delivery
	seen := map[string]bool{}
	for _, d := range e.calls {
		if e.taken[d.IdempotencyKey] && !seen[d.IdempotencyKey] {
			seen[d.IdempotencyKey] = true
			out = append(out, d)
		}
	}
	return out
}

// WaitTaken waits until n distinct deliveries were taken, or the context ends.
func (e *Ente) WaitTaken(ctx context.Context, n int) ([]Delivery, error) {
	for {
		if t := e.Taken(); len(t) >= n {
			return t, nil
		}
		select {
		case <-e.changed:
		case <-ctx.Done():
			return e.Taken(), fmt.Errorf("wstest: %d deliveries taken, waiting for %d: %w", len(e.Taken()), n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// record stores a call and returns the answer to give (nil for success).
func (e *Ente) record(d Delivery) *Answer {
	e.mu.Lock()
	defer e.mu.Unlock()
	var a *Answer
	if len(e.pending) > 0 {
		a = &e.pending[0]
		e.pending = e.pending[1:]
	}
	d.Duplicate = e.taken[d.IdempotencyKey]
	if a == nil && d.IdempotencyKey != "" {
		e.taken[d.IdempotencyKey] = true
	}
	e.calls = append(e.calls, d)
	select {
	case e.changed <- struct{}{}:
	default:
	}
	return a
}

// Handler serves the contracts.
func (e *Ente) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /registrazione", e.soap)
	mux.HandleFunc("POST /notifiche-attiva", e.soap)
	mux.HandleFunc("POST /rest", e.rest)
	return mux
}

func (e *Ente) soap(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m, err := soap.Parse("wstest", r.Header.Get("Content-Type"), body)
	if err != nil {
		writeFault(w, "Client", "", "", err.Error())
		return
	}
	d := Delivery{Style: ws.StyleSOAP, IdempotencyKey: r.Header.Get(ws.DefaultIdempotencyHeader), Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone()}
	var ns, ok string
	switch m.Body.Space {
	case snodowsdl.NSRegistrazioneFattura:
		var req ws.FatturaRequest
		if err := m.Decode(&req); err != nil {
			writeFault(w, "Client", "", "", err.Error())
			return
		}
		f := req.RegistraFattura
		d.Operation, d.IdentificativoSdI, d.NomeFile, d.Data = "RiceviFattura", f.IdentificativoSDI, f.XML.NomeFile, f.XML.Data
		ns, ok = snodowsdl.NSRegistrazioneFattura, "EF00"
	case snodowsdl.NSRegistrazioneNotifica:
		var req ws.NotificaRequest
		if err := m.Decode(&req); err != nil {
			writeFault(w, "Client", "", "", err.Error())
			return
		}
		n := req.RegistraNotifica
		d.Operation, d.IdentificativoSdI, d.Esito, d.NomeFile, d.Data = "RiceviNotifica", n.IdentificativoSDI, n.Esito.Codice, n.XML.NomeFile, n.XML.Data
		ns, ok = snodowsdl.NSRegistrazioneNotifica, "EN00"
	case snodowsdl.NSNotificaAttiva:
		var req ws.NotificaAttivaRequest
		if err := m.Decode(&req); err != nil {
			writeFault(w, "Client", "", "", err.Error())
			return
		}
		n := req.RegistraNotifica
		d.Operation, d.IdentificativoSdI, d.Esito, d.NomeFile, d.Data = "RiceviNotifica", n.IdentificativoSDI, n.Esito.Codice, n.XML.NomeFile, n.XML.Data
		ns, ok = snodowsdl.NSNotificaAttiva, "NA00"
	default:
		writeFault(w, "Client", "", "", "operazione sconosciuta {"+m.Body.Space+"}"+m.Body.Local)
		return
	}
	a := e.record(d)
	switch {
	case a == nil:
		writeAnswer(w, ns, ok, "PRESA IN CARICO")
	case a.Status != 0:
		http.Error(w, http.StatusText(a.Status), a.Status)
	case a.Fault != "":
		writeFault(w, "Server", ns, a.Fault, "errore generico")
	default:
		writeAnswer(w, ns, a.Code, "RIFIUTATA")
	}
}

func writeAnswer(w http.ResponseWriter, ns, code, desc string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="%s"><soap:Body><n:Response xmlns:n="%s">`+
		`<n:Codice>%s</n:Codice><n:Descrizione>%s</n:Descrizione></n:Response></soap:Body></soap:Envelope>`, soap.NS11, ns, esc(code), esc(desc))
}

func writeFault(w http.ResponseWriter, faultcode, ns, code, reason string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	detail := ""
	if code != "" {
		detail = fmt.Sprintf(`<detail><n:FaultDetail xmlns:n="%s"><n:Codice>%s</n:Codice><n:Descrizione>%s</n:Descrizione></n:FaultDetail></detail>`, ns, esc(code), esc(reason))
	}
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault><faultcode>soap:%s</faultcode>`+
		`<faultstring>%s</faultstring>%s</soap:Fault></soap:Body></soap:Envelope>`, soap.NS11, faultcode, esc(reason), detail)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (e *Ente) rest(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := Delivery{Style: ws.StyleREST, Operation: "POST", IdempotencyKey: r.Header.Get(ws.DefaultIdempotencyHeader),
		Authorization: r.Header.Get("Authorization"), Header: r.Header.Clone()}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var doc ws.Document
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.File) == 0 {
			http.Error(w, "documento non valido", http.StatusBadRequest)
			return
		}
		d.IdentificativoSdI, d.Esito, d.NomeFile, d.Data = doc.IdentificativoSdI, doc.TipoMessaggio, doc.NomeFile, doc.File[0].Dati
	} else {
		d.IdentificativoSdI = firstOf(r.Header, ws.HeaderSnodoIdentificativoSdI, ws.HeaderGovWayIdentificativoSdI)
		d.NomeFile = firstOf(r.Header, ws.HeaderSnodoNomeFile, ws.HeaderGovWayNomeFile)
		d.Esito = r.Header.Get(ws.HeaderSnodoTipoMessaggio)
		d.Data = body
	}
	a := e.record(d)
	if a != nil {
		st := a.Status
		if st == 0 {
			st = http.StatusInternalServerError
		}
		http.Error(w, http.StatusText(st), st)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if e.noProtNum {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	e.mu.Lock()
	n, seen := e.protocols[d.IdempotencyKey]
	if !seen {
		e.protocol++
		n = e.protocol
		e.protocols[d.IdempotencyKey] = n
	}
	e.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]string{"numero_protocollo": fmt.Sprintf("PG/%06d", n), "data_protocollo": time.Now().Format(time.DateOnly)})
}

func firstOf(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
