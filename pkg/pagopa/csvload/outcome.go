package csvload

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// outcomeWriter writes the outcome CSV: one line per input row.
type outcomeWriter struct {
	w *csv.Writer
}

// OutcomeHeader are the columns of the outcome file.
var OutcomeHeader = []string{"riga", "identificativo", "numeroAvviso", "iuv", "esito", "operazione", "motivo"}

func newOutcomeWriter(w io.Writer, comma rune) *outcomeWriter {
	cw := csv.NewWriter(w)
	cw.Comma = comma
	return &outcomeWriter{w: cw}
}

func (o *outcomeWriter) header() error { return o.w.Write(OutcomeHeader) }

func (o *outcomeWriter) row(r *row) error {
	esito := "OK"
	if r.result.op == OpRejected {
		esito = "KO"
	}
	return o.w.Write([]string{strconv.Itoa(r.Line), cell(r.ID), r.result.notice, r.result.iuv, esito, r.result.op, cell(r.result.reason)})
}

func (o *outcomeWriter) flush() error {
	o.w.Flush()
	return o.w.Error()
}

// cell makes text from a hostile file safe in a spreadsheet: a leading =, +, -, @, tab
// or carriage return would start a formula (CSV injection), so it gets a leading
// apostrophe; control characters and invalid UTF-8 are replaced; long text is cut.
func cell(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > 1000 {
		s = s[:1000]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	return s
}
