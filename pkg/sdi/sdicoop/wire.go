// Package sdicoop is the SDICoop wire: the message types of the four SOAP services of
// the SdI (SdIRiceviFile, SdIRiceviNotifica, RicezioneFatture, TrasmissioneFatture),
// the handlers of the two services the SdI calls on the hub, the client of the two
// services the hub calls on the SdI, and the mirror images of both for the SdI
// simulator and for integrators' tests.
//
// Hub side:
//   - [NewRicezioneFatture] (passive cycle: RiceviFatture → ER01; NotificaDecorrenzaTermini)
//     and [NewTrasmissioneFatture] (active cycle: RicevutaConsegna, NotificaMancataConsegna,
//     NotificaScarto, NotificaEsito, NotificaDecorrenzaTermini,
//     AttestazioneTrasmissioneFattura) hand every file to an [Inbound] and answer only after
//     it returned: an error becomes a soap:Server fault, so the SdI tries again.
//   - [Client] sends invoice files (RiceviFile) and Esiti Committente (NotificaEsito),
//     MTOM by default, with typed errors saying what is worth retrying.
//
// SdI side: [NewSdIRiceviFile], [NewSdIRiceviNotifica] and [SdIClient].
//
// Every request and response is checked against the types of the WSDLs (IdentificativoSdI
// of 1 to 12 digits, NomeFile [a-zA-Z0-9_.]{9,50}, files not empty and within 5 MB);
// inline base64 and MTOM are both accepted everywhere.
package sdicoop

import (
	"encoding/xml"
	"fmt"
	"regexp"

	"snodo/pkg/sdi"
	"snodo/pkg/soap"
)

// Namespaces of the SDICoop type schemas.
const (
	NSTrasmissione = "http://www.fatturapa.gov.it/sdi/ws/trasmissione/v1.0/types"
	NSRicezione    = "http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types"
)

// SOAPActions of the WSDL bindings.
const (
	ActionRiceviFile      = "http://www.fatturapa.it/SdIRiceviFile/RiceviFile"
	ActionNotificaEsito   = "http://www.fatturapa.it/SdIRicezioneNotifiche/NotificaEsito"
	ActionRiceviFatture   = "http://www.fatturapa.it/RicezioneFatture/RiceviFattureSdI"
	ActionRicezioneDT     = "http://www.fatturapa.it/RicezioneFatture/NotificaDecorrenzaTermini"
	actionTrasmissioneFmt = "http://www.fatturapa.it/TrasmissioneFatture/%s"
)

// Operations of TrasmissioneFatture, the service the transmitter exposes.
const (
	OpRicevutaConsegna                = "RicevutaConsegna"
	OpNotificaMancataConsegna         = "NotificaMancataConsegna"
	OpNotificaScarto                  = "NotificaScarto"
	OpNotificaEsito                   = "NotificaEsito"
	OpNotificaDecorrenzaTermini       = "NotificaDecorrenzaTermini"
	OpAttestazioneTrasmissioneFattura = "AttestazioneTrasmissioneFattura"
	OpRiceviFatture                   = "RiceviFatture"
	// OpNotificaFileNonRecapitabile is the v1.0 name of the AT operation.
	OpNotificaFileNonRecapitabile = "NotificaFileNonRecapitabile"
)

// Service names.
const (
	ServiceRicezioneFatture    = "RicezioneFatture"
	ServiceTrasmissioneFatture = "TrasmissioneFatture"
	ServiceSdIRiceviFile       = "SdIRiceviFile"
	ServiceSdIRiceviNotifica   = "SdIRiceviNotifica"
)

// trasmissioneOp describes one TrasmissioneFatture operation: its body element and the
// message type it carries.
type trasmissioneOp struct {
	name, element string
	tipo          sdi.Tipo
}

var trasmissioneOps = []trasmissioneOp{
	{OpRicevutaConsegna, "ricevutaConsegna", sdi.RC},
	{OpNotificaMancataConsegna, "notificaMancataConsegna", sdi.MC},
	{OpNotificaScarto, "notificaScarto", sdi.NS},
	{OpNotificaEsito, "notificaEsito", sdi.NE},
	{OpNotificaDecorrenzaTermini, "notificaDecorrenzaTermini", sdi.DT},
	{OpAttestazioneTrasmissioneFattura, "attestazioneTrasmissioneFattura", sdi.AT},
	// TrasmissioneTypes v1.0 named the AT element notificaFileNonRecapitabile; a
	// channel accredited with the v1.0 WSDL may still receive it.
	{OpNotificaFileNonRecapitabile, "notificaFileNonRecapitabile", sdi.AT},
}

// TrasmissioneOperation returns the TrasmissioneFatture operation that carries messages
// of type t (RC → RicevutaConsegna, ...), and false for types the SdI does not send to a
// transmitter.
func TrasmissioneOperation(t sdi.Tipo) (string, bool) {
	for _, op := range trasmissioneOps {
		if op.tipo == t {
			return op.name, true
		}
	}
	return "", false
}

// Outcome codes of the services.
const (
	EI01 = "EI01" // RiceviFile: file vuoto
	EI02 = "EI02" // RiceviFile: servizio non disponibile
	EI03 = "EI03" // RiceviFile: utente non abilitato
	ER01 = "ER01" // RiceviFatture: presa in carico
	ES00 = "ES00" // NotificaEsito: notifica non accettata (ScartoEsito carries the SE)
	ES01 = "ES01" // NotificaEsito: notifica accettata
	ES02 = "ES02" // NotificaEsito: servizio non disponibile
)

// FileSdIAccoglienza is the RiceviFile request: a file the transmitter sends.
type FileSdIAccoglienza struct {
	XMLName  xml.Name    `xml:"http://www.fatturapa.gov.it/sdi/ws/trasmissione/v1.0/types fileSdIAccoglienza"`
	NomeFile string      `xml:"NomeFile"`
	File     soap.Binary `xml:"File"`
}

// RispostaSdIRiceviFile is the RiceviFile response.
type RispostaSdIRiceviFile struct {
	XMLName           xml.Name              `xml:"http://www.fatturapa.gov.it/sdi/ws/trasmissione/v1.0/types rispostaSdIRiceviFile"`
	IdentificativoSdI sdi.IdentificativoSdI `xml:"IdentificativoSdI"`
	DataOraRicezione  sdi.DataOra           `xml:"DataOraRicezione"`
	Errore            string                `xml:"Errore,omitempty"`
}

// FileSdI is a file with its IdentificativoSdI: the request of every one-way operation
// and of NotificaEsito. Its element name depends on the operation (fileSdI,
// ricevutaConsegna, notificaScarto, ...), so XMLName is set by whoever builds it.
type FileSdI struct {
	XMLName           xml.Name
	IdentificativoSdI sdi.IdentificativoSdI `xml:"IdentificativoSdI"`
	NomeFile          string                `xml:"NomeFile"`
	File              soap.Binary           `xml:"File"`
}

// FileSdIConMetadati is the RiceviFatture request: an invoice file and its metadata.
type FileSdIConMetadati struct {
	XMLName           xml.Name              `xml:"http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types fileSdIConMetadati"`
	IdentificativoSdI sdi.IdentificativoSdI `xml:"IdentificativoSdI"`
	NomeFile          string                `xml:"NomeFile"`
	File              soap.Binary           `xml:"File"`
	NomeFileMetadati  string                `xml:"NomeFileMetadati"`
	Metadati          soap.Binary           `xml:"Metadati"`
}

// RispostaRiceviFatture is the RiceviFatture response (always ER01).
type RispostaRiceviFatture struct {
	XMLName xml.Name `xml:"http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types rispostaRiceviFatture"`
	Esito   string   `xml:"Esito"`
}

// FileSdIBase is a named file without identifier (the SE inside ScartoEsito).
type FileSdIBase struct {
	NomeFile string      `xml:"NomeFile"`
	File     soap.Binary `xml:"File"`
}

// RispostaSdINotificaEsito is the NotificaEsito response.
type RispostaSdINotificaEsito struct {
	XMLName     xml.Name     `xml:"http://www.fatturapa.gov.it/sdi/ws/ricezione/v1.0/types rispostaSdINotificaEsito"`
	Esito       string       `xml:"Esito"`
	ScartoEsito *FileSdIBase `xml:"ScartoEsito,omitempty"`
}

var nomeFileRE = regexp.MustCompile(`^[a-zA-Z0-9_.]{9,50}$`)

// CheckNomeFile checks a name against the SDICoop type nomeFile_Type.
func CheckNomeFile(field, name string) error {
	if !nomeFileRE.MatchString(name) {
		return fmt.Errorf("%s %q non valido: da 9 a 50 caratteri tra lettere, cifre, _ e . (invalid: 9 to 50 letters, digits, _ or .)", field, clipName(name))
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// checkFile checks a file is not empty and within max bytes.
func checkFile(field, name string, data []byte, max int64) error {
	if len(data) == 0 {
		return fmt.Errorf("%s %s: file vuoto (empty file)", field, name)
	}
	if int64(len(data)) > max {
		return fmt.Errorf("%s %s: file di %d byte oltre il limite SdI di %d (file exceeds the SdI limit)", field, name, len(data), max)
	}
	return nil
}
