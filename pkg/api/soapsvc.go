package api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"snodo/pkg/soap"
	snodowsdl "snodo/wsdl/snodo"
)

// Paths of the SOAP services. Each is also served at IntermediaMarche's default path,
// so an ente switches by changing host and port only.
const (
	PathFatturaAttiva      = "/api/soap/v1/fatturaAttiva"
	PathEsitoCommittente   = "/api/soap/v1/esitoCommittente"
	PathIMFatturaAttiva    = "/fatturaAttivaCa/riceviFatture"
	PathIMEsitoCommittente = "/fatturaPassivaCa/notificheEnte"
	// PathContracts serves every document of snodo/wsdl/snodo by name.
	PathContracts = "/wsdl/snodo/"
)

// soapService is one SOAP endpoint of the API.
type soapService struct {
	name    string
	paths   []string
	action  string
	request xml.Name
	wsdl    string
	schemas []string
	faultNS string // namespace of the contract's FaultDetail
	maxBody int64
	handle  func(ctx context.Context, r *http.Request, msg *soap.Message) soapAnswer
}

// soapAnswer is a response payload, or a fault.
type soapAnswer struct {
	body      any
	dettaglio *dettaglio
	fault     *contractFault
}

// contractFault is a SOAP fault carrying the contract's FaultDetail {Codice, Descrizione}.
type contractFault struct {
	client bool   // soap:Client (do not repeat as is) or soap:Server (retry later)
	reason string // faultstring, Italian then English
	code   string // FA99 / EN99; empty for a fault outside the contract (malformed request)
	status int    // HTTP status, 500 by default
}

func (a *API) soapServices() []*soapService {
	return []*soapService{
		{name: "RiceviFileCA", paths: []string{PathFatturaAttiva, PathIMFatturaAttiva}, action: snodowsdl.ActionRiceviFileCA,
			request: xml.Name{Space: snodowsdl.NSFatturaAttiva, Local: "RiceviFileCAElement"},
			wsdl:    snodowsdl.HubFatturaAttivaWSDL, schemas: []string{snodowsdl.HubFatturaAttiva, snodowsdl.SnodoDettaglio},
			faultNS: snodowsdl.NSFatturaAttiva, maxBody: a.maxInv*4/3 + 64<<10, handle: a.riceviFileCA},
		{name: "riceviEsitoFattura", paths: []string{PathEsitoCommittente, PathIMEsitoCommittente}, action: snodowsdl.ActionRiceviEsitoFattura,
			request: xml.Name{Space: snodowsdl.NSEsitoCommittente, Local: "esitoFatturaMessageRequest"},
			wsdl:    snodowsdl.HubEsitoCommittenteWSDL, schemas: []string{snodowsdl.HubEsitoCommittente, snodowsdl.SnodoDettaglio},
			faultNS: snodowsdl.NSEsitoCommittente, maxBody: a.maxOut*4/3 + 64<<10, handle: a.riceviEsitoFattura},
	}
}

func (a *API) mountSOAP(mux *http.ServeMux) {
	for _, svc := range a.services {
		h := a.serveSOAP(svc)
		for _, p := range svc.paths {
			mux.HandleFunc(p, h)
		}
	}
	mux.HandleFunc("GET "+PathContracts+"{file}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		data, err := fs.ReadFile(snodowsdl.FS, name)
		if err != nil || strings.Contains(name, "/") {
			writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("documento %q inesistente: vedere %s (no such document)", printable(name),
				strings.Join(append(append([]string{}, snodowsdl.WSDLs...), snodowsdl.Schemas...), ", ")))
			return
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.Write(data)
	})
}

func (a *API) serveSOAP(svc *soapService) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.serveDocument(w, r, svc)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "servizio SOAP: usare POST, o GET ?wsdl per il contratto (SOAP service: use POST, or GET ?wsdl)", http.StatusMethodNotAllowed)
			return
		}
		begin := time.Now()
		ip := clientIP(r, a.proxies)
		name := fmt.Sprintf("richiesta %s da %s", svc.name, ip)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, svc.maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				a.writeSOAP(w, soap.V11, svc, soapAnswer{fault: &contractFault{client: true, status: http.StatusRequestEntityTooLarge,
					reason: fmt.Sprintf("%s: richiesta oltre il limite di %d byte: il file non può superare %d byte (request too large)", name, svc.maxBody, a.maxInv)}}, begin)
				return
			}
			a.writeSOAP(w, soap.V11, svc, soapAnswer{fault: &contractFault{client: true, reason: name + ": lettura interrotta (read failed): " + err.Error()}}, begin)
			return
		}
		msg, err := soap.Parse(name, r.Header.Get("Content-Type"), body)
		if err != nil {
			a.writeSOAP(w, soap.V11, svc, soapAnswer{fault: &contractFault{client: true, reason: err.Error()}}, begin)
			return
		}
		action := soapAction(r)
		switch {
		case msg.Fault != nil:
			a.writeSOAP(w, msg.Version, svc, soapAnswer{fault: &contractFault{client: true, reason: name + ": un soap:Fault non è una richiesta (a fault is not a request)"}}, begin)
			return
		case msg.Body != svc.request:
			a.writeSOAP(w, msg.Version, svc, soapAnswer{fault: &contractFault{client: true, reason: fmt.Sprintf(
				"%s: elemento {%s}%s: il servizio %s attende {%s}%s; controllare il WSDL a ?wsdl (unexpected body element)",
				name, printable(msg.Body.Space), printable(msg.Body.Local), svc.name, svc.request.Space, svc.request.Local)}}, begin)
			return
		case action != "" && action != svc.action:
			a.writeSOAP(w, msg.Version, svc, soapAnswer{fault: &contractFault{client: true, reason: fmt.Sprintf(
				"%s: SOAPAction %q: il servizio %s attende %q (unexpected SOAPAction)", name, printable(action), svc.name, svc.action)}}, begin)
			return
		}
		a.writeSOAP(w, msg.Version, svc, svc.handle(r.Context(), r, msg), begin)
	}
}

func soapAction(r *http.Request) string {
	a := strings.TrimSpace(r.Header.Get("SOAPAction"))
	if a == "" {
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
			a = params["action"]
		}
	}
	return strings.Trim(strings.TrimSpace(a), `"`)
}

// writeSOAP writes an answer: the payload with the snodo:Dettaglio header, or a fault.
func (a *API) writeSOAP(w http.ResponseWriter, v soap.Version, svc *soapService, ans soapAnswer, begin time.Time) {
	var payload any = ans.body
	status := http.StatusOK
	if f := ans.fault; f != nil {
		status = f.status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		payload = faultPayload(v, svc.faultNS, f)
		level := a.log.Warn
		if !f.client {
			level = a.log.Error
		}
		level("api: fault SOAP (SOAP fault)", "service", svc.name, "code", f.code, "client", f.client, "reason", f.reason, "elapsed", time.Since(begin))
	}
	ct, out, err := soap.Marshal(v, payload, false)
	if err != nil {
		a.log.Error("api: risposta SOAP non serializzabile (unserialisable SOAP answer)", "service", svc.name, "err", err)
		http.Error(w, "errore interno (internal error)", http.StatusInternalServerError)
		return
	}
	if ans.dettaglio != nil && ans.fault == nil {
		out = withHeader(out, ans.dettaglio.xml())
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if ans.fault != nil && !ans.fault.client {
		w.Header().Set("Retry-After", "60")
	}
	w.WriteHeader(status)
	w.Write(out)
}

// withHeader puts a SOAP header block into an envelope written by soap.Marshal, right
// before its soap:Body.
func withHeader(env, block []byte) []byte {
	i := bytes.Index(env, []byte("<soap:Body>"))
	if i < 0 {
		return env
	}
	out := make([]byte, 0, len(env)+len(block)+32)
	out = append(out, env[:i]...)
	out = append(out, "<soap:Header>"...)
	out = append(out, block...)
	out = append(out, "</soap:Header>"...)
	return append(out, env[i:]...)
}

// ---- faults ----

type fault11 struct {
	XMLName xml.Name     `xml:"http://schemas.xmlsoap.org/soap/envelope/ Fault"`
	Code    string       `xml:"faultcode"`
	String  faultText    `xml:"faultstring"`
	Detail  *faultDetail `xml:"detail,omitempty"`
}

type fault12 struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
	Code    struct {
		Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text faultText `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
	Detail *faultDetail `xml:"http://www.w3.org/2003/05/soap-envelope Detail,omitempty"`
}

// faultText is a reason in Italian.
type faultText struct {
	Lang string `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
	Text string `xml:",chardata"`
}

// faultDetail holds the contract's FaultDetail element.
type faultDetail struct {
	Inner detailElement
}

// detailElement writes <t:FaultDetail xmlns:t="ns"><Codice/><Descrizione/></t:FaultDetail>:
// the prefix keeps the children unqualified, as the inbound contracts require.
type detailElement struct {
	ns, code, desc string
}

func (d detailElement) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	start := xml.StartElement{Name: xml.Name{Local: "t:FaultDetail"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns:t"}, Value: d.ns}}}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeElement(d.code, xml.StartElement{Name: xml.Name{Local: "Codice"}}); err != nil {
		return err
	}
	if err := e.EncodeElement(d.desc, xml.StartElement{Name: xml.Name{Local: "Descrizione"}}); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

func faultPayload(v soap.Version, ns string, f *contractFault) any {
	var det *faultDetail
	if f.code != "" {
		det = &faultDetail{Inner: detailElement{ns: ns, code: f.code, desc: f.reason}}
	}
	if v == soap.V12 {
		out := &fault12{Detail: det}
		out.Code.Value = "soap:Receiver"
		if f.client {
			out.Code.Value = "soap:Sender"
		}
		out.Reason.Text = faultText{Lang: "it", Text: f.reason}
		return out
	}
	code := "soap:Server"
	if f.client {
		code = "soap:Client"
	}
	return &fault11{Code: code, String: faultText{Lang: "it", Text: f.reason}, Detail: det}
}

// ---- snodo:Dettaglio ----

// dettaglio is the optional header snodo adds to answers: the message id and the
// problems behind an FA02/EN08 (SnodoDettaglio.xsd).
type dettaglio struct {
	id       string
	msg      string
	problems []Problem
}

func (d *dettaglio) xml() []byte {
	var b bytes.Buffer
	el := func(name, text string) {
		b.WriteString("<d:" + name + ">")
		xml.EscapeText(&b, []byte(text))
		b.WriteString("</d:" + name + ">")
	}
	b.WriteString(`<d:Dettaglio xmlns:d="` + snodowsdl.NSDettaglio + `">`)
	if d.id != "" {
		el("IdMessaggio", d.id)
	}
	el("Messaggio", d.msg)
	for _, p := range d.problems {
		b.WriteString("<d:Errore>")
		el("Codice", p.Code)
		el("Descrizione", p.Message)
		if p.Path != "" {
			el("Percorso", p.Path)
		}
		if p.Line > 0 {
			el("Riga", strconv.Itoa(p.Line))
		}
		b.WriteString("</d:Errore>")
	}
	b.WriteString("</d:Dettaglio>")
	return b.Bytes()
}

// ---- RiceviFileCA ----

// riceviFileCARequest reads RiceviFileCAElement; children are matched in any namespace.
type riceviFileCARequest struct {
	IdFiscaleMittente string      `xml:"IdFiscaleMittente"`
	CodiceUfficio     string      `xml:"CodiceUfficio"`
	NomeFile          string      `xml:"NomeFile"`
	File              soap.Binary `xml:"File"`
}

type rispostaRiceviFileCA struct {
	XMLName               xml.Name `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/services/types RispostaRiceviFileCAElement"`
	DataOraRicezione      string   `xml:"DataOraRicezione"`
	Codice                string   `xml:"Codice"`
	Descrizione           string   `xml:"Descrizione"`
	RicevutaComunicazione string   `xml:"RicevutaComunicazione"`
}

func (a *API) riceviFileCA(ctx context.Context, r *http.Request, msg *soap.Message) soapAnswer {
	var req riceviFileCARequest
	if err := msg.Decode(&req); err != nil {
		return soapAnswer{fault: &contractFault{client: true, reason: err.Error()}}
	}
	office := strings.TrimSpace(req.CodiceUfficio)
	name := strings.TrimSpace(req.NomeFile)
	refuse := func(code, why string) soapAnswer {
		now := a.now()
		return soapAnswer{body: &rispostaRiceviFileCA{DataOraRicezione: dataOra(now), Codice: code, Descrizione: descFA[code],
			RicevutaComunicazione: snodowsdl.NewRicevuta(now)}, dettaglio: &dettaglio{msg: why}}
	}
	switch {
	case strings.TrimSpace(req.IdFiscaleMittente) == "" || office == "" || name == "":
		return refuse(FA06, "IdFiscaleMittente, CodiceUfficio e NomeFile sono obbligatori (required fields missing)")
	case checkInvoiceName(name) != nil:
		return refuse(FA04, checkInvoiceName(name).Error())
	case len(req.File) == 0:
		return refuse(FA05, "elemento File mancante o vuoto (File missing or empty)")
	}
	e, ok := a.routes.ByOffice(office)
	if !ok || !e.Ente.IsEnabled() || e.Active.Enabled != nil && !*e.Active.Enabled {
		return refuse(FA03, fmt.Sprintf("l'ufficio %s non è servito da un ente con ciclo attivo abilitato su questo hub (office not served)", printable(office)))
	}
	c, err := a.authenticate(r)
	var be *blockedError
	if errors.As(err, &be) {
		return soapAnswer{fault: &contractFault{client: true, status: http.StatusTooManyRequests, reason: err.Error()}}
	}
	if err != nil {
		return refuse(FA01, err.Error())
	}
	if c.ente != e {
		a.limit.fail(c.ip)
		a.log.Warn("api: ufficio di un altro ente (office of another ente)", "ente", c.ente.ID(), "office", office, "remote", c.ip)
		return refuse(FA01, fmt.Sprintf("le credenziali non valgono per l'ufficio %s (credentials not valid for this office)", printable(office)))
	}
	v := a.submitInvoice(ctx, e, name, req.File, ViaSOAP)
	if v.code == FA99 {
		return soapAnswer{fault: &contractFault{code: FA99, reason: v.msg}}
	}
	return soapAnswer{body: &rispostaRiceviFileCA{DataOraRicezione: dataOra(v.at), Codice: v.code, Descrizione: descFA[v.code],
		RicevutaComunicazione: v.ricevuta}, dettaglio: &dettaglio{id: string(v.res.MessageID), msg: v.msg, problems: v.problems}}
}

// ---- riceviEsitoFattura ----

type esitoFatturaRequest struct {
	Msg struct {
		IdFiscaleCommittente string       `xml:"idFiscaleCommittente"`
		CodUfficio           string       `xml:"codUfficio"`
		NomeFile             string       `xml:"nomeFile"`
		File                 *soap.Binary `xml:"File"`
	} `xml:"esitoFatturaMessage"`
}

type esitoFatturaResponse struct {
	XMLName     xml.Name `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/esitocommittente/services/types esitoFatturaMessageResponse"`
	Code        string   `xml:"code"`
	Description string   `xml:"description"`
}

func (a *API) riceviEsitoFattura(ctx context.Context, r *http.Request, msg *soap.Message) soapAnswer {
	var req esitoFatturaRequest
	if err := msg.Decode(&req); err != nil {
		return soapAnswer{fault: &contractFault{client: true, reason: err.Error()}}
	}
	m := req.Msg
	office, name := strings.TrimSpace(m.CodUfficio), strings.TrimSpace(m.NomeFile)
	answer := func(code, why, id string, problems []Problem) soapAnswer {
		return soapAnswer{body: &esitoFatturaResponse{Code: code, Description: descEN[code]}, dettaglio: &dettaglio{id: id, msg: why, problems: problems}}
	}
	if strings.TrimSpace(m.IdFiscaleCommittente) == "" || office == "" || name == "" || m.File == nil {
		return answer(EN04, "idFiscaleCommittente, codUfficio, nomeFile e File sono obbligatori (required fields missing)", "", nil)
	}
	var data []byte
	if m.File != nil {
		data = *m.File
	}
	e, ok := a.routes.ByOffice(office)
	o, code, why := readECFile(name, data, a.maxOut)
	switch {
	case code == EN05 || code == EN07:
		return answer(code, why, "", nil)
	case !ok || !e.Ente.IsEnabled() || e.Passive.Enabled != nil && !*e.Passive.Enabled:
		return answer(EN06, fmt.Sprintf("l'ufficio %s non è servito da un ente con ciclo passivo abilitato su questo hub (office not served)", printable(office)), "", nil)
	}
	c, err := a.authenticate(r)
	var be *blockedError
	if errors.As(err, &be) {
		return soapAnswer{fault: &contractFault{client: true, status: http.StatusTooManyRequests, reason: err.Error()}}
	}
	if err != nil {
		return answer(EN01, err.Error(), "", nil)
	}
	if c.ente != e {
		a.limit.fail(c.ip)
		a.log.Warn("api: ufficio di un altro ente (office of another ente)", "ente", c.ente.ID(), "office", office, "remote", c.ip)
		return answer(EN01, fmt.Sprintf("le credenziali non valgono per l'ufficio %s (credentials not valid for this office)", printable(office)), "", nil)
	}
	if code != "" {
		return answer(code, why, "", []Problem{{Message: why}})
	}
	o.Via = ViaSOAP
	v := a.submitOutcome(ctx, e, o)
	switch {
	case v.closed:
		return soapAnswer{fault: &contractFault{client: true, code: EN99, reason: v.msg}}
	case v.code == EN99:
		return soapAnswer{fault: &contractFault{code: EN99, reason: v.msg}}
	}
	return answer(v.code, v.msg, string(v.res.MessageID), v.problems)
}

// ---- documents ----

// serveDocument answers GET ?wsdl (the WSDL, its address set to this endpoint and its
// imports pointing at ?xsd=) and GET ?xsd=<name>.
func (a *API) serveDocument(w http.ResponseWriter, r *http.Request, svc *soapService) {
	q := r.URL.Query()
	var data []byte
	switch {
	case q.Has("wsdl"):
		raw, err := fs.ReadFile(snodowsdl.FS, svc.wsdl)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		data = raw
		for _, s := range svc.schemas {
			data = bytes.ReplaceAll(data, []byte(`schemaLocation="`+s+`"`), []byte(`schemaLocation="?xsd=`+s+`"`))
		}
		data = setAddress(data, a.selfURL(r))
	case q.Get("xsd") != "":
		name := q.Get("xsd")
		for _, s := range svc.schemas {
			if s == name {
				data, _ = fs.ReadFile(snodowsdl.FS, s)
			}
		}
		if data == nil {
			http.Error(w, fmt.Sprintf("schema %q non importato da questo servizio (schema not imported by this service)", printable(name)), http.StatusNotFound)
			return
		}
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "servizio SOAP %s di snodo: POST con SOAPAction %q; contratto a ?wsdl (snodo SOAP service %s: POST; contract at ?wsdl)\n",
			svc.name, svc.action, svc.name)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(data)
}

// setAddress replaces the soap:address location of a WSDL.
func setAddress(wsdl []byte, addr string) []byte {
	i := bytes.Index(wsdl, []byte("<soap:address location=\""))
	if i < 0 {
		return wsdl
	}
	start := i + len("<soap:address location=\"")
	end := bytes.IndexByte(wsdl[start:], '"')
	if end < 0 {
		return wsdl
	}
	var esc bytes.Buffer
	xml.EscapeText(&esc, []byte(addr))
	out := append([]byte{}, wsdl[:start]...)
	out = append(out, esc.Bytes()...)
	return append(out, wsdl[start+end:]...)
}

// selfURL is the URL the client called, as far as the hub can tell.
func (a *API) selfURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if len(a.proxies) > 0 && isTrusted(hostOnly(r.RemoteAddr), a.proxies) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host + r.URL.Path
}

func hostOnly(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}
