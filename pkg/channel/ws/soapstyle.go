package ws

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/sdi"
	"snodo/pkg/soap"
	snodowsdl "snodo/wsdl/snodo"
)

// File is an element holding a file in base64 (or MTOM) with its name in the NomeFile
// attribute: the XML element of the contracts.
type File struct {
	NomeFile string
	Data     []byte
}

// MarshalXML writes <XML NomeFile="...">base64</XML> (or an xop:Include in MTOM).
func (f File) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "NomeFile"}, Value: f.NomeFile})
	return soap.Binary(f.Data).MarshalXML(e, start)
}

// UnmarshalXML reads the element back, inline base64 or MTOM.
func (f *File) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		if a.Name.Local == "NomeFile" && a.Name.Space == "" {
			f.NomeFile = a.Value
		}
	}
	var b soap.Binary
	if err := b.UnmarshalXML(d, start); err != nil {
		return err
	}
	f.Data = b
	return nil
}

// FatturaRequest is the body of RiceviFattura (contract intermediamarche-registrazione).
type FatturaRequest struct {
	XMLName         xml.Name        `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura Request"`
	RegistraFattura RegistraFattura `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura RegistraFattura"`
}

// RegistraFattura is the invoice handed to the ente's system.
type RegistraFattura struct {
	IdentificativoSDI string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura IdentificativoSDI"`
	DataProtocollo    string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura DataProtocollo,omitempty"`
	NumeroProtocollo  string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura NumeroProtocollo,omitempty"`
	XML               File   `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura XML"`
}

// NotificaRequest is the body of the passive-cycle RiceviNotifica (DT, or NS for an SE).
type NotificaRequest struct {
	XMLName          xml.Name         `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica Request"`
	RegistraNotifica RegistraNotifica `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica RegistraNotifica"`
}

// RegistraNotifica is a passive-cycle notification.
type RegistraNotifica struct {
	IdentificativoSDI string       `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica IdentificativoSDI"`
	Esito             EsitoPassivo `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica Esito"`
	XML               File         `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica XML"`
}

// EsitoPassivo is the Esito of a passive-cycle notification.
type EsitoPassivo struct {
	Codice string `xml:"Codice,attr"`
	Note   string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica Note,omitempty"`
	Data   string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica Data"`
}

// NotificaAttivaRequest is the body of the active-cycle RiceviNotifica (contract
// intermediamarche-notifica-attiva).
type NotificaAttivaRequest struct {
	XMLName          xml.Name               `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica Request"`
	RegistraNotifica RegistraNotificaAttiva `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica RegistraNotifica"`
}

// RegistraNotificaAttiva is an active-cycle notification.
type RegistraNotificaAttiva struct {
	IdentificativoSDI     string      `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica IdentificativoSDI"`
	Esito                 EsitoAttivo `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica Esito"`
	RicevutaComunicazione string      `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica RicevutaComunicazione"`
	XML                   File        `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica XML"`
}

// EsitoAttivo is the Esito of an active-cycle notification.
type EsitoAttivo struct {
	Codice string `xml:"Codice,attr"`
	Note   string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica Note,omitempty"`
	Data   string `xml:"http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica Data"`
}

// Risposta is the answer of every outbound operation, read in any namespace.
type Risposta struct {
	Codice      string `xml:"Codice"`
	Descrizione string `xml:"Descrizione"`
}

// codes are the result codes of one operation.
type codes struct {
	op              string
	ok, credentials string
	refused         []string
	generic         string // the fault code, e.g. EF99
}

var (
	codesFattura        = codes{op: "RiceviFattura", ok: "EF00", credentials: "EF01", refused: []string{"EF02"}, generic: "EF99"}
	codesNotifica       = codes{op: "RiceviNotifica", ok: "EN00", credentials: "EN01", refused: []string{"EN02"}, generic: "EN99"}
	codesNotificaAttiva = codes{op: "RiceviNotifica", ok: "NA00", credentials: "NA01", refused: []string{"NA02", "NA03"}, generic: "NA99"}
)

// dataLayout is the Data of an Esito: "YYYY-MM-DD HH:MI:SS", Italian time.
const dataLayout = "2006-01-02 15:04:05"

// maxNote is the longest Note the contracts accept.
const maxNote = 200

func (s *Sender) sendSOAP(ctx context.Context, d *channel.Delivery, name string) (channel.Result, error) {
	main := d.Files[0].Data
	tipo := sdi.Tipo(d.Headers[message.HeaderTipoMessaggio])
	if tipo == "" {
		tipo, _ = sdi.TipoFromName(name)
	}
	var req any
	var c codes
	switch s.set.Contract {
	case ContractRegistrazione:
		switch tipo {
		case "":
			id := strings.TrimSpace(d.Headers[message.HeaderIdentificativoSdI])
			if id == "" {
				return channel.Result{}, channel.Permanent(fmt.Errorf("fattura senza IdentificativoSdI: il contratto %s lo richiede "+
					"(the contract needs the IdentificativoSdI of the invoice)", ContractRegistrazione))
			}
			c = codesFattura
			req = &FatturaRequest{RegistraFattura: RegistraFattura{IdentificativoSDI: id,
				DataProtocollo:   dataProtocollo(d.Headers[message.HeaderDataProtocollo]),
				NumeroProtocollo: clip(d.Headers[message.HeaderNumeroProtocollo], 100),
				XML:              File{NomeFile: name, Data: main}}}
		case sdi.DT, sdi.SE:
			id, note := s.notificationInfo(d, name, main)
			if id == "" {
				return channel.Result{}, channel.Permanent(fmt.Errorf("notifica %s senza IdentificativoSdI (notification without IdentificativoSdI)", tipo))
			}
			codice := "DT"
			if tipo == sdi.SE {
				codice = "NS" // in this contract NS carries the SdI's refusal of the ente's outcome
			}
			c = codesNotifica
			req = &NotificaRequest{RegistraNotifica: RegistraNotifica{IdentificativoSDI: id,
				Esito: EsitoPassivo{Codice: codice, Note: note, Data: s.now().In(sdi.Rome).Format(dataLayout)},
				XML:   File{NomeFile: name, Data: main}}}
		default:
			return channel.Result{}, channel.Permanent(fmt.Errorf("il contratto %s porta fatture, DT e SE, non %s: "+
				"instradare questo messaggio su un'altra fase (the contract cannot carry a %s)", ContractRegistrazione, tipo.Descrizione(), tipo))
		}
	case ContractNotificaAttiva:
		var codice string
		switch tipo {
		case sdi.RC, sdi.NS, sdi.MC, sdi.DT, sdi.AT:
			codice = string(tipo)
		case sdi.NE:
			codice = "NE"
		default:
			what := "una fattura"
			if tipo != "" {
				what = tipo.Descrizione()
			}
			return channel.Result{}, channel.Permanent(fmt.Errorf("il contratto %s porta le notifiche RC, NS, MC, NE, DT e AT, non %s "+
				"(the contract cannot carry this message)", ContractNotificaAttiva, what))
		}
		id, note := s.notificationInfo(d, name, main)
		if id == "" {
			return channel.Result{}, channel.Permanent(fmt.Errorf("notifica %s senza IdentificativoSdI (notification without IdentificativoSdI)", tipo))
		}
		if tipo == sdi.NE && s.set.EsitoNegativoNZ && esitoNE(name, main) == sdi.EC02 {
			codice = "NZ"
		}
		ricevuta, err := snodowsdl.RicevutaFromMessageID(string(d.MessageID))
		if err != nil {
			return channel.Result{}, channel.Permanent(fmt.Errorf("ricevuta comunicazione: %w", err))
		}
		c = codesNotificaAttiva
		req = &NotificaAttivaRequest{RegistraNotifica: RegistraNotificaAttiva{IdentificativoSDI: id,
			Esito:                 EsitoAttivo{Codice: codice, Note: note, Data: s.now().In(sdi.Rome).Format(dataLayout)},
			RicevutaComunicazione: ricevuta,
			XML:                   File{NomeFile: name, Data: main}}}
	}
	var resp Risposta
	url := s.ep.URL.String()
	action := snodowsdl.ActionRiceviFattura
	if c.op == "RiceviNotifica" {
		action = snodowsdl.ActionRiceviNotifica
	}
	if err := s.soap.Call(ctx, url, action, req, &resp); err != nil {
		return channel.Result{}, s.soapError(c, err)
	}
	return s.judge(c, resp)
}

// judge turns the ente's result code into a delivery result.
func (s *Sender) judge(c codes, r Risposta) (channel.Result, error) {
	code := strings.TrimSpace(r.Codice)
	desc := strings.Join(strings.Fields(r.Descrizione), " ")
	switch {
	case code == c.ok:
		return channel.Result{Detail: fmt.Sprintf("%s a %s: %s %s", c.op, s.ep.URL.Redacted(), code, desc)}, nil
	case code == c.credentials:
		return channel.Result{}, channel.Permanent(fmt.Errorf("%s: l'ente risponde %s %q: credenziali non valide; correggere username/password "+
			"(o token) dell'endpoint e rimettere in coda (the ente refused the credentials)", c.op, code, desc))
	case contains(c.refused, code):
		return channel.Result{}, channel.Permanent(fmt.Errorf("%s: l'ente ha rifiutato il messaggio con %s %q; verificare con l'ente e "+
			"rimettere in coda (refused by the ente)", c.op, code, desc))
	case code == "":
		return channel.Result{}, fmt.Errorf("%s: risposta senza Codice (answer without a result code; retried)", c.op)
	}
	return channel.Result{}, fmt.Errorf("%s: codice %q sconosciuto per questa operazione (atteso %s): %q (unknown result code; retried)", c.op, clip(code, 20), c.ok, clip(desc, 200))
}

var genericCode = regexp.MustCompile(`\b[A-Z]{2}99\b`)

// soapError classifies a failed call: faults with the generic code (EF99, EN99, NA99) or
// soap:Server, transport failures and 5xx/408/429 are retried; the rest is permanent.
func (s *Sender) soapError(c codes, err error) error {
	var f *soap.Fault
	var he *soap.HTTPError
	var te *soap.TransportError
	switch {
	case errors.As(err, &f):
		if genericCode.MatchString(f.Detail) || genericCode.MatchString(f.String) || f.Code == soap.CodeServer {
			return fmt.Errorf("%s: errore dell'ente (%s): %s (ente-side error; retried)", c.op, c.generic, clip(f.Error(), 300))
		}
		return channel.Permanent(fmt.Errorf("%s: l'ente rifiuta la richiesta con un fault %s: %s; verificare il contratto configurato (%s) "+
			"e rimettere in coda (the ente refused the request)", c.op, f.Code, clip(f.String, 300), s.set.Contract))
	case errors.As(err, &he):
		switch {
		case s.set.retryStatus(he.Status):
			return fmt.Errorf("%s: %w (retried)", c.op, he)
		case he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden:
			return channel.Permanent(fmt.Errorf("%s: credenziali rifiutate (HTTP %d); correggere l'autenticazione dell'endpoint e rimettere in coda "+
				"(credentials refused)", c.op, he.Status))
		}
		return channel.Permanent(fmt.Errorf("%s: %w; verificare l'URL dell'endpoint (check the endpoint URL)", c.op, he))
	case errors.As(err, &te):
		return transportError(s.ep.URL.Redacted(), err)
	}
	// A malformed or oversize answer: the ente may have taken the message; the retry is
	// safe with the idempotency key.
	return fmt.Errorf("%s: risposta non leggibile (unreadable answer; retried): %w", c.op, err)
}

// notificationInfo returns the IdentificativoSdI and the Note of a notification, from
// the headers and the file.
func (s *Sender) notificationInfo(d *channel.Delivery, name string, data []byte) (id, note string) {
	id = strings.TrimSpace(d.Headers[message.HeaderIdentificativoSdI])
	m, err := sdi.Parse(name, data)
	if err != nil {
		s.log.Warn("ws: notifica non leggibile: inoltrata senza Note (unreadable notification: sent without Note)", "file", name, "err", err)
		return id, ""
	}
	if id == "" {
		id = string(m.Body.Identificativo())
	}
	return id, clip(noteOf(m.Body), maxNote)
}

func noteOf(m sdi.Messaggio) string {
	switch v := m.(type) {
	case *sdi.RicevutaConsegna:
		return v.Note
	case *sdi.NotificaScarto:
		if v.Note != "" {
			return v.Note
		}
		return v.Errori()
	case *sdi.NotificaMancataConsegna:
		return v.Note
	case *sdi.NotificaEsito:
		if v.Note != "" {
			return v.Note
		}
		return v.EsitoCommittente.Descrizione
	case *sdi.ScartoEsitoCommittente:
		return v.Note
	case *sdi.NotificaDecorrenzaTermini:
		return v.Note
	case *sdi.AttestazioneTrasmissioneFattura:
		return v.Note
	}
	return ""
}

func esitoNE(name string, data []byte) string {
	m, err := sdi.Parse(name, data)
	if err != nil {
		return ""
	}
	if ne, ok := m.Body.(*sdi.NotificaEsito); ok {
		return ne.EsitoCommittente.Esito
	}
	return ""
}

// dataProtocollo keeps a protocol date in the contract's YYYY-MM-DD form, or drops it.
func dataProtocollo(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 10 && isDate(s[:10]) {
		return s[:10]
	}
	return ""
}

func isDate(s string) bool {
	for i := 0; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) == 10
}

// clip shortens s to at most n runes, whitespace collapsed.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
