package active

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"snodo/pkg/hub"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/store"
	"snodo/pkg/xmlsafe"
)

// The outcome file is the receipt of a submission that came on a file channel (fs,
// ftp, pec), delivered on the ente's active.notifications phase. Its shape is the
// Response that IntermediaMarche attaches to its PEC replies (IM_FE_CA_001.xml:
// DataRicezione, Codice, Descrizione, NomeFile, RicevutaComunicazione), so an ente
// that reads those reads this; snodo adds NomeFileSdI (the name at the SdI) and the
// Dettaglio of its SOAP header (urn:snodo:ws:dettaglio:v1) with the message id, an
// explanation and, for FA02, every error with its SdI code:
//
//	<Response>
//	  <DataRicezione>2026-01-31T10:20:30.123+01:00</DataRicezione>
//	  <Codice>FA02</Codice>
//	  <Descrizione>FILE FATTURA RIFIUTATO: ERRORE VALIDAZIONE FATTURA</Descrizione>
//	  <NomeFile>fattura-123.xml</NomeFile>
//	  <RicevutaComunicazione>IntermediaMarche_…_2026-01-31T10:20:30</RicevutaComunicazione>
//	  <Dettaglio xmlns="urn:snodo:ws:dettaglio:v1">
//	    <IdMessaggio>…</IdMessaggio>
//	    <Messaggio>…</Messaggio>
//	    <Errore><Codice>00404</Codice><Descrizione>…</Descrizione><Percorso>…</Percorso><Riga>41</Riga></Errore>
//	  </Dettaglio>
//	</Response>

type outcomeDoc struct {
	XMLName               xml.Name      `xml:"Response"`
	DataRicezione         string        `xml:"DataRicezione"`
	Codice                string        `xml:"Codice"`
	Descrizione           string        `xml:"Descrizione"`
	NomeFile              string        `xml:"NomeFile"`
	RicevutaComunicazione string        `xml:"RicevutaComunicazione"`
	NomeFileSdI           string        `xml:"NomeFileSdI,omitempty"`
	Dettaglio             *dettaglioXML `xml:"urn:snodo:ws:dettaglio:v1 Dettaglio"`
}

// The children of Dettaglio carry no namespace in their tags: written inside
// <Dettaglio xmlns="urn:snodo:ws:dettaglio:v1"> they are in its namespace, and read
// back they match with any prefix.
type dettaglioXML struct {
	IdMessaggio string      `xml:"IdMessaggio,omitempty"`
	Messaggio   string      `xml:"Messaggio"`
	Errore      []erroreXML `xml:"Errore"`
}

type erroreXML struct {
	Codice      string `xml:"Codice"`
	Descrizione string `xml:"Descrizione"`
	Percorso    string `xml:"Percorso,omitempty"`
	Riga        int    `xml:"Riga,omitempty"`
}

// dataRicezioneLayout is xs:dateTime with milliseconds and offset, Italian time, as
// IntermediaMarche writes it.
const dataRicezioneLayout = "2006-01-02T15:04:05.000-07:00"

// maxOutcomeErrors bounds the errors an outcome lists (the SdI lists at most 200).
const maxOutcomeErrors = 200

// MarshalOutcome writes the outcome file of a receipt.
func MarshalOutcome(r *Receipt) ([]byte, error) {
	d := outcomeDoc{DataRicezione: r.DataOraRicezione.In(sdi.Rome).Format(dataRicezioneLayout), Codice: r.Codice,
		Descrizione: r.Descrizione, NomeFile: r.NomeFileOriginale, RicevutaComunicazione: r.RicevutaComunicazione, NomeFileSdI: r.NomeFile,
		Dettaglio: &dettaglioXML{IdMessaggio: string(r.MessageID), Messaggio: r.Messaggio}}
	if d.Descrizione == "" {
		d.Descrizione = descrizioni[r.Codice]
	}
	for i, e := range r.Errori {
		if i == maxOutcomeErrors {
			break
		}
		d.Dettaglio.Errore = append(d.Dettaglio.Errore, erroreXML{Codice: e.Codice, Descrizione: e.Descrizione, Percorso: e.Percorso, Riga: e.Riga})
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("attivo: esito di %s (writing the outcome): %w", r.NomeFileOriginale, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// maxOutcomeBytes bounds an outcome file read back (200 errors of 255 characters fit).
const maxOutcomeBytes = 1 << 20

// ParseOutcome reads an outcome file (the hub's or IntermediaMarche's Response). It
// never panics; the error names the file and what is wrong.
func ParseOutcome(name string, data []byte) (*Receipt, error) {
	if err := xmlsafe.Check(name, data, maxOutcomeBytes); err != nil {
		return nil, err
	}
	var d outcomeDoc
	if err := xml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("attivo: esito %s illeggibile (unreadable outcome): %w", name, err)
	}
	if d.XMLName.Local != "Response" {
		return nil, fmt.Errorf("attivo: %s: atteso l'elemento Response, trovato %q (not an outcome)", name, d.XMLName.Local)
	}
	code := strings.TrimSpace(d.Codice)
	if len(code) != 4 || !strings.HasPrefix(code, "FA") {
		return nil, fmt.Errorf("attivo: %s: Codice %q non valido, atteso FA00-FA99 (bad result code)", name, clipRunes(code, 20))
	}
	r := &Receipt{Codice: code, Descrizione: strings.TrimSpace(d.Descrizione), NomeFileOriginale: strings.TrimSpace(d.NomeFile),
		RicevutaComunicazione: strings.TrimSpace(d.RicevutaComunicazione), NomeFile: strings.TrimSpace(d.NomeFileSdI)}
	if s := strings.TrimSpace(d.DataRicezione); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("attivo: %s: DataRicezione %q non è una data-ora xs:dateTime (bad date-time)", name, clipRunes(s, 40))
		}
		r.DataOraRicezione = t
	}
	if dt := d.Dettaglio; dt != nil {
		r.MessageID = message.ID(strings.TrimSpace(dt.IdMessaggio))
		r.Messaggio = dt.Messaggio
		for _, e := range dt.Errore {
			r.Errori = append(r.Errori, Errore{Codice: strings.TrimSpace(e.Codice), Descrizione: e.Descrizione, Percorso: e.Percorso, Riga: e.Riga})
		}
	}
	return r, nil
}

// outcomeName is the name of a submission's outcome file: the name the ente gave,
// without extension, with ".esito-<message id>.xml". It is unique per submission and
// the same on every delivery attempt (a redelivery overwrites).
func outcomeName(msg *message.Message) string {
	base := msg.Header(message.HeaderNomeFileOriginale)
	if base == "" {
		base = msg.FileName
	}
	for _, ext := range []string{".xml.p7m", ".p7m", ".xml", ".zip"} {
		if n := len(base) - len(ext); n >= 0 && strings.EqualFold(base[n:], ext) {
			base = base[:n]
			break
		}
	}
	base = clipBytes(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, base), 150)
	if base == "" || base == "." || base == ".." {
		base = "fattura"
	}
	return base + ".esito-" + string(msg.ID) + ".xml"
}

// outcomeJob is the delivery of a submission's outcome file to the ente, when the ente
// has an active.notifications phase that carries files (not the ws kind, whose
// contracts carry the SdI's notifications only).
func (m *Module) outcomeJob(e *route.Ente, msg *message.Message, r *Receipt) (store.JobSpec, bool) {
	ep, ok := m.h.Routes.Endpoint(e.ID(), route.ActiveNotifications)
	if !ok || ep.Kind == "ws" || msg.Header(headerOutcomeInCall) != "" {
		return store.JobSpec{}, false
	}
	subject := "Presa in carico - " + msg.FileName
	if r.Codice != FA00 {
		subject = "Errore - " + msg.FileName
	}
	j := hub.DeliverJob(e.ID(), route.ActiveNotifications, map[string]string{hub.ParamRoles: message.RoleOutcome,
		hub.ParamName: outcomeName(msg), hub.ParamSubject: subject})
	j.MessageID = msg.ID
	j.Key = "active:esito:" + string(msg.ID)
	return j, true
}

func clipRunes(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
