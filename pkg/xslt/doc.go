// Package xslt applies XSLT 1.0 stylesheets with libxslt (cgo): a stylesheet is compiled
// once, from bytes or from an fs.FS (usually embedded, see snodo/xsl/sdi), and is then
// safe for any number of concurrent transformations, with string parameters.
//
// # Safety
//
// A transformation never reads or writes anything outside its input: libxslt's security
// preferences forbid file reads and writes, directory creation and network access, both
// as the process default (which also covers xsl:import and xsl:include at compile time)
// and on every transformation context (document(), exsl:document). A refused access
// fails the transformation with a *TransformError naming what was refused. On top of
// that, libxslt's document loader is replaced by one that loads nothing except, during a
// CompileFS on the same OS thread, the stylesheet modules of that FS (so xsl:include and
// xsl:import resolve inside the FS, never on disk or the network).
//
// Input documents pass xmlsafe.Check first, then libxml2 parses them with
// XML_PARSE_NONET, no DTD loading and no entity substitution; a document still carrying
// a DTD is refused. Each transformation (parse, transform, serialise) runs inside one C
// call with its error collector in thread-local storage, so messages cannot leak between
// goroutines, and every C allocation is freed before the call returns.
//
// These settings are process-wide (libxslt keeps them in globals): this package is meant
// to be the process's only libxslt user.
package xslt
