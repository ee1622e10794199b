package batch

import (
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"snodo/pkg/xsd"
)

// The SdI's FtpTypes_v1.2.xsd (a byte-for-byte copy of testdata/ftp/FtpTypes_v1.2.xsd,
// whose README gives its origin) is the arbiter of what a quadratura or an outcome
// file may be: encoding/xml, which builds the tree, is more lenient than the XML
// grammar (attributes without a space between them, say), and a file the SdI's own
// ftpSchemaCompiled refuses must not be accepted here.
//
//go:embed FtpTypes_v1.2.xsd
var schemaFS embed.FS

var (
	ftpSchemaOnce     sync.Once
	ftpSchemaCompiled *xsd.Schema
	ftpSchemaErr      error
)

// checkSchema validates a quadratura or outcome file against FtpTypes_v1.2.xsd.
func checkSchema(name string, data []byte) error {
	ftpSchemaOnce.Do(func() { ftpSchemaCompiled, ftpSchemaErr = xsd.Compile(schemaFS, "FtpTypes_v1.2.xsd") })
	if ftpSchemaErr != nil {
		return fmt.Errorf("%s: schema FtpTypes_v1.2.xsd: %w", name, ftpSchemaErr)
	}
	err := ftpSchemaCompiled.Validate(name, data, 10)
	if err == nil {
		return nil
	}
	var ve *xsd.ValidationError
	if errors.As(err, &ve) {
		msgs := make([]string, 0, len(ve.Violations))
		for _, v := range ve.Violations {
			msgs = append(msgs, fmt.Sprintf("riga %d %s: %s", v.Line, v.Path, strings.TrimSpace(v.Message)))
		}
		return fmt.Errorf("%s: non valido per FtpTypes_v1.2.xsd (invalid against the SdI schema): %s", name, strings.Join(msgs, "; "))
	}
	var pe *xsd.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: XML non ben formato alla riga %d, colonna %d (malformed XML): %s", name, pe.Line, pe.Column, strings.TrimSpace(pe.Message))
	}
	return err
}
