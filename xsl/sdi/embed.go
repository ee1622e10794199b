// Package sdixsl embeds the official SdI display stylesheets (invoices and each message
// type), byte-for-byte copies of the spec pack (provenance and sha256 in README.md).
// Apply them with snodo/pkg/xslt.
package sdixsl

import "embed"

// FS holds every stylesheet of this folder at its root, under the names below.
//
//go:embed *.xsl
var FS embed.FS

// Stylesheet files in FS.
const (
	// FatturaPA renders an FPA12 invoice (to a public administration) as HTML.
	FatturaPA = "Foglio_di_stile_fattura_PA_ver1.2.2.xsl"
	// FatturaOrdinaria renders an FPR12 invoice (between private parties) as HTML.
	FatturaOrdinaria = "Foglio_di_stile_fattura_ordinaria_ver1.2.2.xsl"
	AT               = "AT_v1.1.xsl" // Attestazione di avvenuta trasmissione con impossibilità di recapito
	DT               = "DT_v1.0.xsl" // Notifica di decorrenza termini
	EC               = "EC_v1.0.xsl" // Notifica di esito committente
	MC               = "MC_v1.0.xsl" // Notifica di mancata consegna
	MT               = "MT_v1.0.xsl" // File dei metadati
	NE               = "NE_v1.0.xsl" // Notifica di esito
	NS               = "NS_v1.0.xsl" // Notifica di scarto
	RC               = "RC_v1.0.xsl" // Ricevuta di consegna
	SE               = "SE_v1.0.xsl" // Scarto esito committente
)
