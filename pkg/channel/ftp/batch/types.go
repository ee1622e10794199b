package batch

import (
	"strings"

	"snodo/pkg/fatturapa/filename"
)

// FileType is a NumeroFile counter of the quadratura: the kind of an SdI file.
type FileType int

// The twelve counters, in the order of the XSD.
const (
	Fatture FileType = iota
	RicevutaConsegna
	NotificaMancataConsegna
	NotificaScarto
	NotificaEsito
	MetadatiInvioFile
	NotificaEsitoCommittente
	ScartoEsitoCommittente
	NotificaDecorrenzaTermini
	AttestazioneTrasmissioneFattura
	DatiFattura
	EsitoDatiFattura
	numTypes
)

var typeNames = [numTypes]string{
	"Fatture", "RicevutaConsegna", "NotificaMancataConsegna", "NotificaScarto",
	"NotificaEsito", "MetadatiInvioFile", "NotificaEsitoCommittente",
	"ScartoEsitoCommittente", "NotificaDecorrenzaTermini",
	"AttestazioneTrasmissioneFattura", "DatiFattura", "EsitoDatiFattura",
}

// String is the element name of the counter.
func (t FileType) String() string {
	if t < 0 || t >= numTypes {
		return "FileType(?)"
	}
	return typeNames[t]
}

// messageTypes maps the SdI message type of a file name to its counter.
var messageTypes = map[string]FileType{
	"RC": RicevutaConsegna,
	"MC": NotificaMancataConsegna,
	"NS": NotificaScarto,
	"NE": NotificaEsito,
	"MT": MetadatiInvioFile,
	"EC": NotificaEsitoCommittente,
	"SE": ScartoEsitoCommittente,
	"DT": NotificaDecorrenzaTermini,
	"AT": AttestazioneTrasmissioneFattura,
}

// Classify returns the counter a file belongs to, from its SdI name: a message file
// <invoice>_<TT>_<nnn>.xml by its type TT, anything else (an invoice, an archive of
// invoices, a file with a name outside the SdI rules) as Fatture.
func Classify(name string) FileType {
	if filename.IsMessage(name) {
		base := name[:strings.LastIndexByte(name, '.')]
		parts := strings.Split(base, "_")
		if t, ok := messageTypes[strings.ToUpper(parts[2])]; ok {
			return t
		}
	}
	return Fatture
}

// Counts holds one number per FileType.
type Counts [numTypes]int

// Add counts one file of type t.
func (c *Counts) Add(t FileType) { c[t]++ }

// Total is the number of files counted.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// CountNames classifies and counts file names.
func CountNames(names []string) Counts {
	var c Counts
	for _, n := range names {
		c.Add(Classify(n))
	}
	return c
}
