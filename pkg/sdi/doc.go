// Package sdi holds the SdI's domain vocabulary shared by the SDICoop services, the
// simulator and the flows: the IdentificativoSdI (a string end to end, never a 32-bit
// number), the SdI date-times, and the SdI message files.
//
// Messages: [Parse] reads any message of the PA flows (MessaggiTypes v1.1: RC, NS, MC,
// NE, MT, EC, SE, DT, AT) or of the B2B flows (MessaggiFatturaTypes v1.0:
// RicevutaConsegna, RicevutaScarto, RicevutaImpossibilitaRecapito, FileMetadati, read
// into the same Go types with B2B set), detecting the type by the root element and
// checking it against the _TT_nnn of the file name; an AT zip yields the AT and the
// original file it carries. [Marshal] writes them back (the simulator's notifications,
// the hub's Esito Committente); signatures are added, and verified, elsewhere
// (snodo/pkg/signature) on the bytes in Message.Raw.
//
// Every input goes through xmlsafe first; sizes are bounded (MaxMessageBytes, and
// MaxFileBytes for the original file inside an AT zip).
package sdi
