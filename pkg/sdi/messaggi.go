package sdi

import "encoding/xml"

// Namespaces of the SdI message schemas.
const (
	// NSMessaggi is MessaggiTypes v1.1, the messages of the FatturaPA (PA) flows.
	NSMessaggi = "http://www.fatturapa.gov.it/sdi/messaggi/v1.0"
	// NSMessaggiSenzaGov is the same namespace without ".gov", which the SdI used at
	// some point; accepted on input for compatibility (GovWay does the same).
	NSMessaggiSenzaGov = "http://www.fatturapa.it/sdi/messaggi/v1.0"
	// NSMessaggiB2B is MessaggiFatturaTypes v1.0, the receipts of the B2B (FPR12) flows.
	NSMessaggiB2B = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fattura/messaggi/v1.0"
	// NSDSig is XML Signature's namespace.
	NSDSig = "http://www.w3.org/2000/09/xmldsig#"
)

// Tipo is a message type, as it appears in message file names (_RC_001.xml).
type Tipo string

// Message types.
const (
	RC Tipo = "RC" // Ricevuta di consegna (B2B: RicevutaConsegna)
	NS Tipo = "NS" // Notifica di scarto (B2B: RicevutaScarto)
	MC Tipo = "MC" // Notifica di mancata consegna (B2B: RicevutaImpossibilitaRecapito)
	NE Tipo = "NE" // Notifica esito (the buyer's EC forwarded to the transmitter)
	MT Tipo = "MT" // File dei metadati (B2B: FileMetadati)
	EC Tipo = "EC" // Notifica di esito committente (from the buyer PA)
	SE Tipo = "SE" // Scarto esito committente
	DT Tipo = "DT" // Notifica di decorrenza termini
	AT Tipo = "AT" // Attestazione di avvenuta trasmissione con impossibilità di recapito
)

// Tipi lists every message type.
var Tipi = []Tipo{RC, NS, MC, NE, MT, EC, SE, DT, AT}

// Descrizione names the type for people, Italian then English.
func (t Tipo) Descrizione() string {
	switch t {
	case RC:
		return "ricevuta di consegna (delivery receipt)"
	case NS:
		return "notifica di scarto (rejection notice)"
	case MC:
		return "notifica di mancata consegna (delivery failure notice)"
	case NE:
		return "notifica esito committente (buyer's outcome)"
	case MT:
		return "file dei metadati (metadata file)"
	case EC:
		return "esito committente (buyer's outcome)"
	case SE:
		return "scarto esito committente (outcome rejected)"
	case DT:
		return "decorrenza termini (deadline passed)"
	case AT:
		return "attestazione di trasmissione con impossibilità di recapito (transmission certificate)"
	}
	return string(t)
}

// rootElements maps each type to its root element in the PA and B2B schemas ("" when
// the type has no B2B form).
var rootElements = map[Tipo][2]string{
	RC: {"RicevutaConsegna", "RicevutaConsegna"},
	NS: {"NotificaScarto", "RicevutaScarto"},
	MC: {"NotificaMancataConsegna", "RicevutaImpossibilitaRecapito"},
	NE: {"NotificaEsito", ""},
	MT: {"MetadatiInvioFile", "FileMetadati"},
	EC: {"NotificaEsitoCommittente", ""},
	SE: {"ScartoEsitoCommittente", ""},
	DT: {"NotificaDecorrenzaTermini", ""},
	AT: {"AttestazioneTrasmissioneFattura", ""},
}

// Outcome codes.
const (
	EC01 = "EC01" // EsitoCommittente: accettazione
	EC02 = "EC02" // EsitoCommittente: rifiuto
	EN00 = "EN00" // ScartoEsitoCommittente: notifica non conforme al formato
	EN01 = "EN01" // ScartoEsitoCommittente: notifica non ammissibile
)

// Destinatario is the recipient office of an invoice.
type Destinatario struct {
	Codice      string `xml:"Codice"`
	Descrizione string `xml:"Descrizione,omitempty"`
}

// RiferimentoArchivio names the archive (zip) a file came in.
type RiferimentoArchivio struct {
	IdentificativoSdI IdentificativoSdI `xml:"IdentificativoSdI"`
	NomeFile          string            `xml:"NomeFile"`
}

// RiferimentoFattura picks one invoice of a file: number, year and, in a batch, its
// position.
type RiferimentoFattura struct {
	NumeroFattura    string `xml:"NumeroFattura"`
	AnnoFattura      int    `xml:"AnnoFattura"`
	PosizioneFattura int    `xml:"PosizioneFattura,omitempty"`
}

// Errore is one failed check of a rejected file (SdI code and description; the B2B
// receipt adds a suggestion).
type Errore struct {
	Codice       string `xml:"Codice"`
	Descrizione  string `xml:"Descrizione"`
	Suggerimento string `xml:"Suggerimento,omitempty"`
}

// ListaErrori wraps the errors of a NotificaScarto.
type ListaErrori struct {
	Errore []Errore `xml:"Errore"`
}

// Signature marks an enveloped ds:Signature. Parsing records its presence (and skips
// it; verify signatures on the bytes as received, see Message.Raw); marshalling writes
// nothing, a signer adds the signature to the marshalled bytes.
type Signature bool

// UnmarshalXML records the signature and skips it.
func (s *Signature) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	*s = true
	return d.Skip()
}

// MarshalXML writes nothing.
func (Signature) MarshalXML(*xml.Encoder, xml.StartElement) error { return nil }

// Header holds what every message root has: its name (set by parsing, ignored by
// Marshal), the versione attribute ("1.0", filled in by Marshal) and B2B, which selects
// the B2B schema's root element and namespace when marshalling and is set by parsing.
type Header struct {
	XMLName  xml.Name `xml:""`
	Versione string   `xml:"versione,attr"`
	B2B      bool     `xml:"-"`
}

// RicevutaConsegna (RC): the file was delivered to the recipient.
type RicevutaConsegna struct {
	Header
	IntermediarioConDupliceRuolo string               `xml:"IntermediarioConDupliceRuolo,attr,omitempty"`
	FlussoSemplificato           string               `xml:"FlussoSemplificato,attr,omitempty"` // B2B only
	IdentificativoSdI            IdentificativoSdI    `xml:"IdentificativoSdI"`
	NomeFile                     string               `xml:"NomeFile"`
	Hash                         string               `xml:"Hash,omitempty"` // B2B only: sha256 of the file
	DataOraRicezione             DataOra              `xml:"DataOraRicezione"`
	DataOraConsegna              DataOra              `xml:"DataOraConsegna"`
	Destinatario                 *Destinatario        `xml:"Destinatario,omitempty"`
	RiferimentoArchivio          *RiferimentoArchivio `xml:"RiferimentoArchivio,omitempty"`
	MessageId                    string               `xml:"MessageId"`
	PecMessageId                 string               `xml:"PecMessageId,omitempty"`
	Note                         string               `xml:"Note,omitempty"`
	Signature                    Signature            `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// NotificaScarto (NS; B2B RicevutaScarto): the file was rejected, with the errors.
type NotificaScarto struct {
	Header
	IdentificativoSdI   IdentificativoSdI    `xml:"IdentificativoSdI"`
	NomeFile            string               `xml:"NomeFile"`
	Hash                string               `xml:"Hash,omitempty"` // B2B only
	DataOraRicezione    DataOra              `xml:"DataOraRicezione"`
	RiferimentoArchivio *RiferimentoArchivio `xml:"RiferimentoArchivio,omitempty"`
	ListaErrori         ListaErrori          `xml:"ListaErrori"`
	MessageId           string               `xml:"MessageId"`
	PecMessageId        string               `xml:"PecMessageId,omitempty"`
	Note                string               `xml:"Note,omitempty"`
	Signature           Signature            `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// NotificaMancataConsegna (MC; B2B RicevutaImpossibilitaRecapito): the file could not
// be delivered yet (PA), or was put in the buyer's reserved area (B2B).
type NotificaMancataConsegna struct {
	Header
	IdentificativoSdI      IdentificativoSdI    `xml:"IdentificativoSdI"`
	NomeFile               string               `xml:"NomeFile"`
	Hash                   string               `xml:"Hash,omitempty"` // B2B only
	DataOraRicezione       DataOra              `xml:"DataOraRicezione"`
	DataMessaADisposizione *Data                `xml:"DataMessaADisposizione,omitempty"` // B2B only
	RiferimentoArchivio    *RiferimentoArchivio `xml:"RiferimentoArchivio,omitempty"`
	Descrizione            string               `xml:"Descrizione,omitempty"`
	MessageId              string               `xml:"MessageId"`
	PecMessageId           string               `xml:"PecMessageId,omitempty"`
	Note                   string               `xml:"Note,omitempty"`
	Signature              Signature            `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// EsitoCommittente is the content of an EC, also embedded in an NE.
type EsitoCommittente struct {
	IdentificativoSdI    IdentificativoSdI   `xml:"IdentificativoSdI"`
	RiferimentoFattura   *RiferimentoFattura `xml:"RiferimentoFattura,omitempty"`
	Esito                string              `xml:"Esito"` // EC01 or EC02
	Descrizione          string              `xml:"Descrizione,omitempty"`
	MessageIdCommittente string              `xml:"MessageIdCommittente,omitempty"`
}

// NotificaEsitoCommittente (EC): the buyer PA accepts (EC01) or refuses (EC02) an
// invoice; sent to the SdI by the recipient.
type NotificaEsitoCommittente struct {
	Header
	EsitoCommittente
	Signature Signature `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// EsitoCommittenteNE is the EsitoCommittente element inside an NE.
type EsitoCommittenteNE struct {
	Versione string `xml:"versione,attr"`
	EsitoCommittente
}

// NotificaEsito (NE): the buyer's EC, forwarded by the SdI to the transmitter.
type NotificaEsito struct {
	Header
	IntermediarioConDupliceRuolo string             `xml:"IntermediarioConDupliceRuolo,attr,omitempty"`
	IdentificativoSdI            IdentificativoSdI  `xml:"IdentificativoSdI"`
	NomeFile                     string             `xml:"NomeFile"`
	EsitoCommittente             EsitoCommittenteNE `xml:"EsitoCommittente"`
	MessageId                    string             `xml:"MessageId"`
	PecMessageId                 string             `xml:"PecMessageId,omitempty"`
	Note                         string             `xml:"Note,omitempty"`
	Signature                    Signature          `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// MetadatiInvioFile (MT; B2B FileMetadati): delivered with an invoice to the recipient.
type MetadatiInvioFile struct {
	Header
	IdentificativoSdI  IdentificativoSdI `xml:"IdentificativoSdI"`
	NomeFile           string            `xml:"NomeFile"`
	Hash               string            `xml:"Hash,omitempty"` // B2B only
	CodiceDestinatario string            `xml:"CodiceDestinatario"`
	Formato            string            `xml:"Formato"` // FPA12, FPR12, SDI11, ...
	TentativiInvio     int               `xml:"TentativiInvio"`
	MessageId          string            `xml:"MessageId"`
	Note               string            `xml:"Note,omitempty"`
}

// ScartoEsitoCommittente (SE): the SdI refused the recipient's EC (EN00 format, EN01
// not admissible).
type ScartoEsitoCommittente struct {
	Header
	IdentificativoSdI    IdentificativoSdI   `xml:"IdentificativoSdI"`
	RiferimentoFattura   *RiferimentoFattura `xml:"RiferimentoFattura,omitempty"`
	Scarto               string              `xml:"Scarto"`
	MessageId            string              `xml:"MessageId"`
	MessageIdCommittente string              `xml:"MessageIdCommittente,omitempty"`
	PecMessageId         string              `xml:"PecMessageId,omitempty"`
	Note                 string              `xml:"Note,omitempty"`
	Signature            Signature           `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// NotificaDecorrenzaTermini (DT): 15 days passed without an accepted EC.
type NotificaDecorrenzaTermini struct {
	Header
	IntermediarioConDupliceRuolo string              `xml:"IntermediarioConDupliceRuolo,attr,omitempty"`
	IdentificativoSdI            IdentificativoSdI   `xml:"IdentificativoSdI"`
	RiferimentoFattura           *RiferimentoFattura `xml:"RiferimentoFattura,omitempty"`
	NomeFile                     string              `xml:"NomeFile"`
	Descrizione                  string              `xml:"Descrizione,omitempty"`
	MessageId                    string              `xml:"MessageId"`
	PecMessageId                 string              `xml:"PecMessageId,omitempty"`
	Note                         string              `xml:"Note,omitempty"`
	Signature                    Signature           `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

// AttestazioneTrasmissioneFattura (AT): the SdI certifies it received the file and
// could not deliver it; it travels in a zip with the original file.
type AttestazioneTrasmissioneFattura struct {
	Header
	IdentificativoSdI   IdentificativoSdI    `xml:"IdentificativoSdI"`
	NomeFile            string               `xml:"NomeFile"`
	DataOraRicezione    DataOra              `xml:"DataOraRicezione"`
	RiferimentoArchivio *RiferimentoArchivio `xml:"RiferimentoArchivio,omitempty"`
	Destinatario        Destinatario         `xml:"Destinatario"`
	MessageId           string               `xml:"MessageId"`
	PecMessageId        string               `xml:"PecMessageId,omitempty"`
	Note                string               `xml:"Note,omitempty"`
	HashFileOriginale   string               `xml:"HashFileOriginale"`
	Signature           Signature            `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}
