// Package sdiwsdl embeds the official SDICoop WSDLs and the type schemas they import,
// byte-for-byte copies of the spec pack (provenance and sha256 in README.md). The hub
// serves them to integrators and tests check the wire types against them; validation
// itself compiles the same type schemas from snodo/xsd/sdi.
package sdiwsdl

import "embed"

// FS holds every file of this folder at its root, under the names below; a WSDL's
// relative xsd:import resolves to its neighbour in FS.
//
//go:embed *.wsdl *.xsd
var FS embed.FS

// WSDL files in FS, one per service.
const (
	RicezioneFatture    = "RicezioneFatture_v1.0.wsdl"
	TrasmissioneFatture = "TrasmissioneFatture_v1.1.wsdl"
	SdIRiceviFile       = "SdIRiceviFile_v1.0.wsdl"
	SdIRiceviNotifica   = "SdIRiceviNotifica_v1.0.wsdl"
)

// Type schemas in FS.
const (
	RicezioneTypes      = "RicezioneTypes_v1.0.xsd"
	TrasmissioneTypes10 = "TrasmissioneTypes_v1.0.xsd"
	TrasmissioneTypes11 = "TrasmissioneTypes_v1.1.xsd"
)
