// Package batch implements the zip "supporti" of the SdI's SDIFTP channel as
// IntermediaMarche's "FTP Canale Avanzato" reuses them between a hub and an ente: the
// supporto names (FO./FI./EO.<CF>.<AAAADDD>.<HHMM>.<NNN>), the QuadraturaFTP file that
// counts the files of a zip by type, the EsitoFTP outcome file (ET01 accepted, ET02
// refused), a zip writer and a hardened zip reader that checks a zip against its
// quadratura.
//
// Schema: FtpTypes_v1.2.xsd, namespace http://www.fatturapa.it/sdi/ftp/v1.0, children
// unqualified. Notes: shared/notes/intermediamarche-contracts.md §6 and
// regional-peers.md §1.8.
//
// # What we write (strict)
//
//   - Zip names FO.<CF>.<AAAADDD>.<HHMM>.<NNN>.zip, zero-padded, UTC. <CF> is the
//     fiscal id without its leading "IT" country prefix (IntermediaMarche removes every
//     "IT" substring; for the numeric fiscal ids of enti the two agree).
//   - The quadratura file of a zip is named like the zip with .xml instead of .zip and
//     is the last entry; it carries versione="1.2" and all twelve NumeroFile counters
//     (zero for unused types), so it is valid against the XSD (IntermediaMarche's own
//     is not: it omits unused counters and versione).
//   - The outcome file is FileEsitoFTP with versione="1.0"; NomeSupporto is the name of
//     the zip it answers (what SDIFTP intends; IntermediaMarche writes the outcome file's
//     own name). A refusal (ET02) carries its reasons in an XML comment, which keeps the
//     file valid against the XSD while an operator reading it sees why.
//
// # What we accept (lenient where the peer's software varies, strict where it matters)
//
//   - Supporto names are opaque except for the prefix; unpadded dates and times
//     (IntermediaMarche writes "20255.97" for 5 January 09:07) are accepted.
//   - Exactly one entry named FI.*.xml, FO.*.xml or EO.*.xml is the quadratura (the
//     rule of IntermediaMarche). It must be valid against the XSD: root
//     FileQuadraturaFTP in the namespace, versione="1.2", IdentificativoNodo of 11
//     digits, a dateTime, NomeSupporto of at most 44 characters, twelve non-negative
//     counters in order.
//   - NomeSupporto must name the zip (with or without the .done suffix).
//   - Every other entry is classified by its SdI file name: message files
//     (<invoice>_<TT>_<nnn>.xml) by their type, everything else as Fatture. For every
//     type the count in the zip must equal the quadratura's counter. This is stricter
//     than IntermediaMarche, which only compares the total of Fatture plus
//     NotificaEsitoCommittente with the number of entries; for the uploads it knew
//     (invoices and ECs) the two rules agree.
//
// # Zip hardening
//
// Entry names must be plain file names (no folders, "..", separators, control
// characters, invalid UTF-8, duplicates); encrypted entries and compression methods
// other than store and deflate are refused; the number of entries, the size of each
// entry, the total uncompressed size and the compression ratio of large entries are
// capped, counting the bytes actually inflated rather than trusting the headers. Every
// problem found is listed in the Refusal, so the ente fixes them all at once.
package batch
