// Package daticert reads and writes daticert.xml, the certification data a PEC provider
// attaches (and signs) with every envelope, receipt and notice: the message type, the
// original sender, recipients and subject, the provider's identifier, the original
// Message-ID, the time, and for delivery receipts the recipient delivered to.
//
// The shape follows the DTD of the PEC technical rules (DM 2 Nov 2005, §7.3.3; copy in
// the spec pack). Reading is tolerant, as real files need: stray text, several
// addresses joined by ", " in one <destinatari>, unknown values. Validate reports what
// does not follow the DTD, as warnings for the caller to record.
package daticert

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // for a daticert declared in another charset

	"snodo/pkg/xmlsafe"
)

// MaxSize is the largest daticert.xml accepted: real ones are about 1 KB.
const MaxSize = 256 << 10

// Tipo is the message type (attribute postacert/@tipo).
type Tipo string

// The values of postacert/@tipo.
const (
	Accettazione            Tipo = "accettazione"
	NonAccettazione         Tipo = "non-accettazione"
	PresaInCarico           Tipo = "presa-in-carico"
	AvvenutaConsegna        Tipo = "avvenuta-consegna"
	PostaCertificata        Tipo = "posta-certificata"
	ErroreConsegna          Tipo = "errore-consegna"
	PreavvisoErroreConsegna Tipo = "preavviso-errore-consegna"
	RilevazioneVirus        Tipo = "rilevazione-virus"
)

// Tipi lists every value of Tipo in the DTD's order.
var Tipi = []Tipo{Accettazione, NonAccettazione, PresaInCarico, AvvenutaConsegna, PostaCertificata,
	ErroreConsegna, PreavvisoErroreConsegna, RilevazioneVirus}

// Valid reports whether t is one of the DTD's values.
func (t Tipo) Valid() bool {
	for _, v := range Tipi {
		if t == v {
			return true
		}
	}
	return false
}

// Errore is the error class (attribute postacert/@errore).
type Errore string

// The values of postacert/@errore.
const (
	Nessuno   Errore = "nessuno"
	NoDest    Errore = "no-dest"
	NoDominio Errore = "no-dominio"
	Virus     Errore = "virus"
	Altro     Errore = "altro"
)

// Valid reports whether e is one of the DTD's values.
func (e Errore) Valid() bool {
	switch e {
	case Nessuno, NoDest, NoDominio, Virus, Altro:
		return true
	}
	return false
}

// Recipient kinds (attribute destinatari/@tipo).
const (
	Certificato = "certificato" // a PEC mailbox
	Esterno     = "esterno"     // an ordinary mail address
)

// Ricevuta kinds (attribute ricevuta/@tipo): what the sender asked for.
const (
	Completa  = "completa"
	Breve     = "breve"
	Sintetica = "sintetica"
)

// Destinatario is one recipient of the original message.
type Destinatario struct {
	Indirizzo string // the address
	Tipo      string // Certificato or Esterno
}

// Data is the processing time as the provider wrote it.
type Data struct {
	Zona   string // offset from UTC, "[+|-]hhmm"
	Giorno string // "dd/mm/yyyy"
	Ora    string // "hh:mm:ss", local time
}

// Time interprets the three fields; an error names the field that is malformed.
func (d Data) Time() (time.Time, error) {
	zone, err := time.Parse("-0700", strings.TrimSpace(d.Zona))
	if err != nil {
		return time.Time{}, fmt.Errorf("daticert: zona %q non nel formato [+|-]hhmm (zone not in [+|-]hhmm form)", d.Zona)
	}
	_, off := zone.Zone()
	t, err := time.ParseInLocation("02/01/2006 15:04:05", strings.TrimSpace(d.Giorno)+" "+strings.TrimSpace(d.Ora), time.FixedZone("", off))
	if err != nil {
		return time.Time{}, fmt.Errorf("daticert: giorno %q / ora %q non nel formato gg/mm/aaaa hh:mm:ss (day/time malformed)", d.Giorno, d.Ora)
	}
	return t, nil
}

// DataOf returns the Data for t in t's own zone.
func DataOf(t time.Time) Data {
	return Data{Zona: t.Format("-0700"), Giorno: t.Format("02/01/2006"), Ora: t.Format("15:04:05")}
}

// Daticert is the content of a daticert.xml.
type Daticert struct {
	Tipo   Tipo
	Errore Errore // Nessuno when the attribute is absent (the DTD default)

	// intestazione: the original message's header
	Mittente    string
	Destinatari []Destinatario
	Risposte    string
	Oggetto     string

	// dati
	GestoreEmittente string
	Data             Data
	Identificativo   string
	MsgID            string   // the original Message-ID, with its angle brackets
	Ricevuta         string   // Completa, Breve, Sintetica or ""
	Consegna         string   // recipient delivered to (or attempted)
	Ricezione        []string // recipients a presa-in-carico refers to
	ErroreEsteso     string
}

// wire mirrors the XML.
type wire struct {
	XMLName      xml.Name `xml:"postacert"`
	Tipo         string   `xml:"tipo,attr"`
	Errore       string   `xml:"errore,attr,omitempty"`
	Intestazione struct {
		Mittente    string `xml:"mittente"`
		Destinatari []struct {
			Tipo  string `xml:"tipo,attr,omitempty"`
			Value string `xml:",chardata"`
		} `xml:"destinatari"`
		Risposte string  `xml:"risposte"`
		Oggetto  *string `xml:"oggetto"`
	} `xml:"intestazione"`
	Dati struct {
		GestoreEmittente string `xml:"gestore-emittente"`
		Data             struct {
			Zona   string `xml:"zona,attr"`
			Giorno string `xml:"giorno"`
			Ora    string `xml:"ora"`
		} `xml:"data"`
		Identificativo string  `xml:"identificativo"`
		MsgID          *string `xml:"msgid"`
		Ricevuta       *struct {
			Tipo string `xml:"tipo,attr"`
		} `xml:"ricevuta"`
		Consegna     *string  `xml:"consegna"`
		Ricezione    []string `xml:"ricezione"`
		ErroreEsteso *string  `xml:"errore-esteso"`
	} `xml:"dati"`
}

// Parse reads a daticert.xml. name names the input in errors. The document first passes
// xmlsafe.Check (no DTD, at most MaxSize bytes). Only a document that is not a postacert
// at all, or is not well-formed, is an error; missing or odd fields are for Validate.
func Parse(name string, data []byte) (*Daticert, error) {
	if err := xmlsafe.Check(name, data, MaxSize); err != nil {
		return nil, fmt.Errorf("daticert: %w", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = func(cs string, r io.Reader) (io.Reader, error) {
		if message.CharsetReader == nil {
			return nil, fmt.Errorf("charset %q non gestito (unhandled charset)", cs)
		}
		return message.CharsetReader(strings.ToLower(cs), r)
	}
	var w wire
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("daticert: %s: XML non valido: %v (malformed XML)", name, err)
	}
	d := &Daticert{
		Tipo:             Tipo(strings.TrimSpace(w.Tipo)),
		Errore:           Errore(strings.TrimSpace(w.Errore)),
		Mittente:         strings.TrimSpace(w.Intestazione.Mittente),
		Risposte:         strings.TrimSpace(w.Intestazione.Risposte),
		GestoreEmittente: strings.TrimSpace(w.Dati.GestoreEmittente),
		Data: Data{Zona: strings.TrimSpace(w.Dati.Data.Zona), Giorno: strings.TrimSpace(w.Dati.Data.Giorno),
			Ora: strings.TrimSpace(w.Dati.Data.Ora)},
		Identificativo: strings.TrimSpace(w.Dati.Identificativo),
	}
	if d.Errore == "" {
		d.Errore = Nessuno
	}
	if w.Intestazione.Oggetto != nil {
		d.Oggetto = strings.TrimSpace(*w.Intestazione.Oggetto)
	}
	for _, de := range w.Intestazione.Destinatari {
		tipo := strings.TrimSpace(de.Tipo)
		if tipo == "" {
			tipo = Certificato
		}
		// Some providers join several addresses into one element with ", ".
		for _, a := range strings.Split(de.Value, ",") {
			if a = strings.TrimSpace(a); a != "" {
				d.Destinatari = append(d.Destinatari, Destinatario{Indirizzo: a, Tipo: tipo})
			}
		}
	}
	if w.Dati.MsgID != nil {
		d.MsgID = strings.TrimSpace(*w.Dati.MsgID)
	}
	if w.Dati.Ricevuta != nil {
		d.Ricevuta = strings.TrimSpace(w.Dati.Ricevuta.Tipo)
	}
	if w.Dati.Consegna != nil {
		d.Consegna = strings.TrimSpace(*w.Dati.Consegna)
	}
	for _, r := range w.Dati.Ricezione {
		if r = strings.TrimSpace(r); r != "" {
			d.Ricezione = append(d.Ricezione, r)
		}
	}
	if w.Dati.ErroreEsteso != nil {
		d.ErroreEsteso = strings.TrimSpace(*w.Dati.ErroreEsteso)
	}
	return d, nil
}

// Validate lists what does not follow the DTD (unknown tipo or errore, missing required
// elements, a malformed date), in Italian then English. An empty list means valid.
func (d *Daticert) Validate() []string {
	var out []string
	if !d.Tipo.Valid() {
		out = append(out, fmt.Sprintf("tipo %q non previsto (unknown tipo)", d.Tipo))
	}
	if !d.Errore.Valid() {
		out = append(out, fmt.Sprintf("errore %q non previsto (unknown errore)", d.Errore))
	}
	if d.Mittente == "" {
		out = append(out, "manca mittente (mittente missing)")
	}
	if len(d.Destinatari) == 0 {
		out = append(out, "manca destinatari (destinatari missing)")
	}
	for _, de := range d.Destinatari {
		if de.Tipo != Certificato && de.Tipo != Esterno {
			out = append(out, fmt.Sprintf("destinatari %s: tipo %q non previsto (unknown recipient tipo)", de.Indirizzo, de.Tipo))
		}
	}
	if d.GestoreEmittente == "" {
		out = append(out, "manca gestore-emittente (gestore-emittente missing)")
	}
	if d.Identificativo == "" {
		out = append(out, "manca identificativo (identificativo missing)")
	}
	if _, err := d.Data.Time(); err != nil {
		out = append(out, strings.TrimPrefix(err.Error(), "daticert: "))
	}
	switch d.Ricevuta {
	case "", Completa, Breve, Sintetica:
	default:
		out = append(out, fmt.Sprintf("ricevuta tipo %q non previsto (unknown ricevuta tipo)", d.Ricevuta))
	}
	switch d.Tipo {
	case AvvenutaConsegna, ErroreConsegna:
		if d.Consegna == "" {
			out = append(out, fmt.Sprintf("manca consegna per tipo %s (consegna missing)", d.Tipo))
		}
	}
	return out
}

// Time returns the processing time (see Data.Time).
func (d *Daticert) Time() (time.Time, error) { return d.Data.Time() }

// Marshal writes d as daticert.xml (UTF-8, indented, elements in the DTD's order,
// optional elements only when set).
func (d *Daticert) Marshal() ([]byte, error) {
	var w wire
	w.Tipo = string(d.Tipo)
	w.Errore = string(d.Errore)
	if w.Errore == "" {
		w.Errore = string(Nessuno)
	}
	w.Intestazione.Mittente = d.Mittente
	for _, de := range d.Destinatari {
		tipo := de.Tipo
		if tipo == "" {
			tipo = Certificato
		}
		w.Intestazione.Destinatari = append(w.Intestazione.Destinatari, struct {
			Tipo  string `xml:"tipo,attr,omitempty"`
			Value string `xml:",chardata"`
		}{Tipo: tipo, Value: de.Indirizzo})
	}
	w.Intestazione.Risposte = d.Risposte
	if d.Oggetto != "" {
		w.Intestazione.Oggetto = &d.Oggetto
	}
	w.Dati.GestoreEmittente = d.GestoreEmittente
	w.Dati.Data.Zona, w.Dati.Data.Giorno, w.Dati.Data.Ora = d.Data.Zona, d.Data.Giorno, d.Data.Ora
	w.Dati.Identificativo = d.Identificativo
	if d.MsgID != "" {
		w.Dati.MsgID = &d.MsgID
	}
	if d.Ricevuta != "" {
		w.Dati.Ricevuta = &struct {
			Tipo string `xml:"tipo,attr"`
		}{Tipo: d.Ricevuta}
	}
	if d.Consegna != "" {
		w.Dati.Consegna = &d.Consegna
	}
	w.Dati.Ricezione = d.Ricezione
	if d.ErroreEsteso != "" {
		w.Dati.ErroreEsteso = &d.ErroreEsteso
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(&w); err != nil {
		return nil, fmt.Errorf("daticert: marshal: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
