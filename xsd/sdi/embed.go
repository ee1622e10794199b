// Package sdixsd embeds the official FatturaPA, SdI message and SDICoop type schemas,
// byte-for-byte copies of the spec pack (provenance and sha256 in README.md), so the
// hub validates offline from its own binary. Compile them with snodo/pkg/xsd, which maps
// the W3C xmldsig URL the schemas import to the embedded XMLDSig copy.
package sdixsd

import "embed"

// FS holds every schema of this folder at its root, under the names below.
//
//go:embed *.xsd
var FS embed.FS

// Main schema files in FS.
const (
	// FatturaPA123 is the FatturaPA schema v1.2.3 (FPA12 and FPR12), in force from
	// 2025-04-01; the one the SdI validates invoices against.
	FatturaPA123 = "Schema_VFPR12_v1.2.3.xsd"
	// FatturaPA122 is the previous FatturaPA schema v1.2.2.
	FatturaPA122 = "Schema_del_file_xml_FatturaPA_v1.2.2.xsd"
	// MessaggiTypes is the SdI message schema of the FatturaPA (PA) flows: RC, NS, MC,
	// NE, DT, AT, SE, EC and the metadata file MT.
	MessaggiTypes = "MessaggiTypes_v1.1.xsd"
	// MessaggiFatturaTypes is the SdI message schema of the B2B (FPR12) flows:
	// RicevutaConsegna, RicevutaScarto, RicevutaImpossibilitaRecapito, FileMetadati
	// (GovWay's copy, with ds:Signature and Destinatario optional).
	MessaggiFatturaTypes = "MessaggiFatturaTypes_v1.0.xsd"
	// XMLDSig is the W3C XML Signature core schema the others import.
	XMLDSig = "xmldsig-core-schema.xsd"
	// RicezioneTypes holds the types of the RicezioneFatture and SdIRiceviNotifica
	// services (fileSdIConMetadati, fileSdI, rispostaRiceviFatture, rispostaSdINotificaEsito).
	RicezioneTypes = "RicezioneTypes_v1.0.xsd"
	// TrasmissioneTypes10 holds the types of the SdIRiceviFile service
	// (fileSdIAccoglienza, rispostaSdIRiceviFile).
	TrasmissioneTypes10 = "TrasmissioneTypes_v1.0.xsd"
	// TrasmissioneTypes11 holds the types of the TrasmissioneFatture v1.1 service
	// (fileSdI, attestazioneTrasmissioneFattura).
	TrasmissioneTypes11 = "TrasmissioneTypes_v1.1.xsd"
)

// XMLDSigURL is the W3C location by which FatturaPA and MessaggiFatturaTypes import the
// XMLDSig schema; it must resolve to XMLDSig in FS, never to the network.
const XMLDSigURL = "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd"
