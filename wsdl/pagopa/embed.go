// Package pagopawsdl embeds the official pagoPA paForNode WSDL, a byte-for-byte copy of
// the spec pack (provenance and sha256 in README.md); its messages are in
// snodo/xsd/pagopa.
package pagopawsdl

import _ "embed"

// PaForNode is paForNode.wsdl as published by PagoPA.
//
//go:embed paForNode.wsdl
var PaForNode []byte
