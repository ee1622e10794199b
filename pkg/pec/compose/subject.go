package compose

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// Phase is a step of a flow that sends mail to an ente or to the SdI.
type Phase string

// Phases with a subject convention.
const (
	PhaseFattura           Phase = "fattura"            // passive invoice delivered to the ente
	PhaseDecorrenzaTermini Phase = "decorrenza-termini" // DT notice to the ente
	PhaseNotificaEsito     Phase = "notifica-esito"     // outcome (EC) relayed
	PhaseNotificaScarto    Phase = "notifica-scarto"    // rejection (scarto) relayed
	PhaseRicevutaConsegna  Phase = "ricevuta-consegna"  // RC of an active invoice to the ente
	PhaseMancataConsegna   Phase = "mancata-consegna"   // MC of an active invoice to the ente
	PhaseInvioSdI          Phase = "invio-sdi"          // a file sent to the SdI's PEC box
)

// SubjectData fills a subject template.
type SubjectData struct {
	IdentificativoSdI string
	NomeFile          string
	Cedente           string    // the supplier's name (CedentePrestatore)
	Data              time.Time // reception date at the SdI or at the ente, per phase
}

// Subjects renders subjects per phase from text/template strings. Templates may call
// {{data .Data}} for dd/MM/yyyy.
type Subjects struct {
	t map[Phase]*template.Template
}

// AvanzatoTemplates are the subjects of IntermediaMarche's "PEC Canale Avanzato" (as
// reconstructed in notes/regional-peers.md §1.7): an ente's protocol system can sort
// them by the identifier, the file name and the phase word. Where the note elides the
// tail ("…") the invoice pattern is followed. invio-sdi uses the file name, as public
// SdI-over-PEC senders do.
var AvanzatoTemplates = map[Phase]string{
	PhaseFattura:           "{{.IdentificativoSdI}} - {{.NomeFile}} - Fattura {{.Cedente}} - Data Ricezione SDI {{data .Data}}",
	PhaseDecorrenzaTermini: "{{.IdentificativoSdI}} - {{.NomeFile}} - Decorrenza Termini {{.Cedente}} - Data Ricezione SDI {{data .Data}}",
	PhaseNotificaEsito:     "{{.IdentificativoSdI}} - {{.NomeFile}} - Notifica Esito {{.Cedente}} - Data Ricezione Ente {{data .Data}}",
	PhaseNotificaScarto:    "{{.IdentificativoSdI}} - {{.NomeFile}} - Notifica Scarto {{.Cedente}} - Data Ricezione SDI {{data .Data}}",
	PhaseRicevutaConsegna:  "{{.IdentificativoSdI}} - {{.NomeFile}} - Ricevuta Consegna - Data Ricezione SDI {{data .Data}}",
	PhaseMancataConsegna:   "{{.IdentificativoSdI}} - {{.NomeFile}} - Mancata Consegna - Data Ricezione SDI {{data .Data}}",
	PhaseInvioSdI:          "{{.NomeFile}}",
}

// BaseTemplates are the simpler subjects of the base (non-avanzato) PEC mode:
// "<phase word> - Identificativo SDI: <id>".
var BaseTemplates = map[Phase]string{
	PhaseFattura:           "Fattura - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseDecorrenzaTermini: "Decorrenza Termini - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseNotificaEsito:     "Notifica Esito - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseNotificaScarto:    "Notifica Scarto - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseRicevutaConsegna:  "Ricevuta Consegna - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseMancataConsegna:   "Mancata Consegna - Identificativo SDI: {{.IdentificativoSdI}}",
	PhaseInvioSdI:          "{{.NomeFile}}",
}

var funcs = template.FuncMap{"data": func(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("02/01/2006")
}}

// NewSubjects compiles templates; a phase missing from templates falls back to
// AvanzatoTemplates. Errors name the phase, so a bad route file fails at start.
func NewSubjects(templates map[Phase]string) (*Subjects, error) {
	s := &Subjects{t: map[Phase]*template.Template{}}
	for p, src := range AvanzatoTemplates {
		if _, ok := templates[p]; !ok {
			s.t[p] = template.Must(template.New(string(p)).Funcs(funcs).Option("missingkey=error").Parse(src))
		}
	}
	for p, src := range templates {
		t, err := template.New(string(p)).Funcs(funcs).Option("missingkey=error").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("compose: modello di oggetto per la fase %s non valido: %w (invalid subject template)", p, err)
		}
		if err := t.Execute(&bytes.Buffer{}, SubjectData{}); err != nil {
			return nil, fmt.Errorf("compose: modello di oggetto per la fase %s: %w (subject template fails)", p, err)
		}
		s.t[p] = t
	}
	return s, nil
}

// Render returns the subject for phase p: one line, spaces collapsed.
func (s *Subjects) Render(p Phase, d SubjectData) (string, error) {
	t, ok := s.t[p]
	if !ok {
		return "", fmt.Errorf("compose: nessun modello di oggetto per la fase %q (no subject template for phase)", p)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("compose: oggetto per la fase %s: %w", p, err)
	}
	return strings.Join(strings.Fields(b.String()), " "), nil
}
