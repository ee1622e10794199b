// Package xsd validates XML documents against W3C XML Schemas with libxml2 (cgo): a
// schema is compiled once from an fs.FS (usually embedded, see snodo/xsd/sdi) and is
// then safe for any number of concurrent validations.
//
// # Results
//
// Validate returns nil for a valid document, a *ValidationError listing the schema
// violations (line, element, element path, message; at most the caller's maximum, with
// Truncated set when there were more, which the SdI reports as code 00201), a
// *ParseError for a document that is not well-formed XML (line, column, message), or an
// *xmlsafe.Error when the document was refused before parsing (DOCTYPE, empty, not XML).
// Any other error means the validation could not run.
//
// # Offline schema resolution
//
// Every xs:import and xs:include resolves inside the schema's fs.FS, never on the network
// and never in the process working directory. Compile gives the main schema the base URL
// snodo-fs:///<path>, so relative schemaLocations resolve to other snodo-fs:/// URLs;
// absolute URLs resolve only when mapped to a file of the FS (WithLocation; the W3C
// XMLDSig URL of the FatturaPA schemas is mapped by default). Everything else fails the
// compilation with the unresolved location named.
//
// The mapping is done by a libxml2 external entity loader, installed once for the
// process (libxml2 has no per-context loader before 2.14). It serves files only to a
// compilation running on the same OS thread (a thread-local marker set for the duration
// of the one C call that compiles), refuses every load while a document is being
// validated, and otherwise defers to the loader it replaced, so other libxml2 users in
// the process see no change. This was preferred to writing the schemas to a temporary
// directory plus an XML catalog: nothing touches the disk, nothing is left behind, no
// environment variable (XML_CATALOG_FILES) or file permission can redirect the
// resolution, and an unresolved import is an error instead of a silently skipped one.
//
// # Safety
//
// Documents pass xmlsafe.Check first, then libxml2 parses them with XML_PARSE_NONET, no
// DTD loading and no entity substitution; a document that still carries a DTD is
// refused. Each parse plus validation runs inside one C call with its error handlers in
// libxml2's per-thread state, so errors cannot leak between goroutines, and every C
// allocation is freed before the call returns.
package xsd
