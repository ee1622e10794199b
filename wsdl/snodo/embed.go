// Package snodowsdl embeds snodo's own web-service contracts for enti, written for snodo
// (not copies): the services each ente's system exposes and snodo calls (outbound, the
// "ws" channel kind with style soap) and the services snodo exposes to enti (inbound,
// package snodo/pkg/api). Every contract is wire-compatible with the IntermediaMarche
// "canale avanzato" service of the same name: same namespaces, element names, SOAPActions
// and result codes, so an ente integrated with IntermediaMarche switches unchanged.
//
// The constants below are the wire names both sides use; tests check them against the
// documents. The REST side is described by snodo/pkg/api's OpenAPI document.
package snodowsdl

import "embed"

// FS holds the WSDLs and their type schemas at its root; each WSDL imports its schemas
// by relative name, so they resolve inside FS.
//
//go:embed *.wsdl *.xsd
var FS embed.FS

// Documents in FS.
const (
	// Outbound: exposed by the ente, called by snodo.
	EnteRegistrazioneWSDL     = "EnteRegistrazione.wsdl" // RiceviFattura, RiceviNotifica (passive cycle)
	EnteRegistrazioneFattura  = "EnteRegistrazioneFattura.xsd"
	EnteRegistrazioneNotifica = "EnteRegistrazioneNotifica.xsd"
	EnteNotificheAttivaWSDL   = "EnteNotificheAttiva.wsdl" // RiceviNotifica (active cycle)
	EnteNotificaAttiva        = "EnteNotificaAttiva.xsd"

	// Inbound: exposed by snodo, called by the ente.
	HubFatturaAttivaWSDL    = "HubFatturaAttiva.wsdl" // RiceviFileCA
	HubFatturaAttiva        = "HubFatturaAttiva.xsd"
	HubEsitoCommittenteWSDL = "HubEsitoCommittente.wsdl" // riceviEsitoFattura
	HubEsitoCommittente     = "HubEsitoCommittente.xsd"

	// SnodoDettaglio is the optional SOAP header snodo adds to inbound responses.
	SnodoDettaglio = "SnodoDettaglio.xsd"
)

// Schemas lists every type schema in FS.
var Schemas = []string{EnteRegistrazioneFattura, EnteRegistrazioneNotifica, EnteNotificaAttiva,
	HubFatturaAttiva, HubEsitoCommittente, SnodoDettaglio}

// WSDLs lists every service description in FS.
var WSDLs = []string{EnteRegistrazioneWSDL, EnteNotificheAttivaWSDL, HubFatturaAttivaWSDL, HubEsitoCommittenteWSDL}

// Type namespaces.
const (
	NSRegistrazioneFattura  = "http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/fattura"
	NSRegistrazioneNotifica = "http://www.regione.marche.it/intermediamarche/fatturazione/registrazione/services/notifica"
	NSNotificaAttiva        = "http://www.regione.marche.it/intermediamarche/fatturazione/attiva/registrazione/services/notifica"
	NSFatturaAttiva         = "http://www.regione.marche.it/intermediamarche/fatturazione/attiva/services/types"
	NSEsitoCommittente      = "http://www.regione.marche.it/intermediamarche/fatturazione/esitocommittente/services/types"
	NSDettaglio             = "urn:snodo:ws:dettaglio:v1"
)

// SOAPActions of the bindings.
const (
	ActionRiceviFattura      = "RiceviFattura"
	ActionRiceviNotifica     = "RiceviNotifica" // both the passive and the active RiceviNotifica
	ActionRiceviFileCA       = "inoltroFatturaAttiva"
	ActionRiceviEsitoFattura = "riceviEsitoFattura"
)
