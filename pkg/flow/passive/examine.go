package passive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"snodo/pkg/channel"
	"snodo/pkg/fatturapa"
	"snodo/pkg/fatturapa/invoice"
	"snodo/pkg/fatturapa/rules"
	"snodo/pkg/flow/flowkit"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/sdi"
	"snodo/pkg/xslt"
	sdixsl "snodo/xsl/sdi"
)

// Delivery steps of a passive invoice.
const (
	StepProtocol   = "protocollo"  // to the protocol system, accounting follows
	StepAccounting = "contabilita" // to the accounting system, after the protocol
	StepSingle     = "unica"       // one delivery for both (invio unico)
)

// Prevalidation outcomes, in header Prevalidazione.
const (
	PrevalidationPassed  = "superata"
	PrevalidationFailed  = "fallita"      // rules failed, on_failure reject: EC02 sent
	PrevalidationFlagged = "segnalata"    // rules failed, on_failure flag: recorded only
	PrevalidationSkipped = "non-eseguita" // the invoice could not be read far enough
	PrevalidationNone    = "nessuna-regola"
)

// Input is one invoice file as the SdI delivered it.
type Input struct {
	NomeFile          string
	Data              []byte
	IdentificativoSdI string
	// CodiceDestinatario and Formato come from the MT metadata; "" takes them from the
	// invoice itself.
	CodiceDestinatario string
	Formato            string
	ReceivedAt         time.Time
	// Ente, when set, is the route id the message is already bound to.
	Ente string
}

// Step is one planned delivery of an invoice to the ente.
type Step struct {
	Kind     string // StepProtocol, StepAccounting or StepSingle
	Phase    string // route phase: passive.protocol or passive.accounting
	Endpoint *channel.Endpoint
	// Roles are the file roles delivered: main (the file as received, signed),
	// unwrapped, metadata, rendering. The first is the primary file.
	Roles []string
}

// ECDraft is an Esito Committente EC02 the hub will write on the ente's behalf.
type ECDraft struct {
	Riferimento *sdi.RiferimentoFattura // nil: the whole file
	Descrizione string
	Rules       []string // ids of the failed rules
}

// Examination is the result of the checks on one invoice and the plan that follows.
type Examination struct {
	Ente *route.Ente // nil when unroutable
	// Unroutable says why no ente takes the invoice (Italian, then English).
	Unroutable         string
	CodiceDestinatario string
	Formato            string
	Cedente            string

	Report     *fatturapa.Report // SdI checks: recorded, never blocking
	Violations []rules.Violation // the ente's rules that failed
	// Prevalidation is one of the Prevalidation* values.
	Prevalidation string
	// Reject: the hub sends EC02 (EC02 holds them); Deliver: the invoice still goes to
	// the ente.
	Reject  bool
	Deliver bool
	EC02    []ECDraft

	Riferimenti []sdi.RiferimentoFattura // one per invoice of the file
	InvoiceKeys []string                 // lookup keys fattura:...
	Unwrapped   *message.File            // the XML inside a CAdES envelope, nil otherwise
	Rendering   *message.File            // the HTML rendering, when a step delivers it
	RenderErr   error

	Steps []Step
	// Notifications is the phase that carries DT, SE and EC notices to the ente ("" none).
	Notifications string
	// AutoAccept is when the hub sends an EC01 by itself (zero: never).
	AutoAccept time.Time
}

// Outcomes reports whether the invoice admits an Esito Committente (FPA12 only).
func (x *Examination) Outcomes() bool { return x.Formato != "FPR12" }

// Examiner runs the checks of the passive cycle and plans what follows. The hub's
// check job and `snodo routes dry-run` share it, so the dry run shows what the hub
// does. Safe for concurrent use.
type Examiner struct {
	validator *fatturapa.Validator
	routes    *route.Routes
	rules     flowkit.Rules

	renderOnce sync.Once
	renderPA   *xslt.Stylesheet
	renderOrd  *xslt.Stylesheet
	renderErr  error
}

// NewExaminer builds an examiner: the FatturaPA validator of the hub configuration
// (signature trust anchors from trust.signatures) without journal history (the SdI
// already did the duplicate checks, and the invoice is in the journal itself).
func NewExaminer(cfg *route.Config, routes *route.Routes, log *slog.Logger) (*Examiner, error) {
	v, err := flowkit.NewValidator(cfg, nil, nil, log)
	if err != nil {
		return nil, fmt.Errorf("passivo: validatore (validator): %w", err)
	}
	return &Examiner{validator: v, routes: routes}, nil
}

// Route finds the ente that takes invoices for a CodiceDestinatario; the reason is set
// when none does.
func Route(routes *route.Routes, codice string) (*route.Ente, string) {
	if strings.TrimSpace(codice) == "" {
		return nil, "CodiceDestinatario assente nei metadati e nella fattura (no CodiceDestinatario)"
	}
	e, ok := routes.ByOffice(codice)
	switch {
	case !ok:
		return nil, fmt.Sprintf("nessun ente serve l'ufficio %s: aggiungerlo a ente.offices nel file di rotta dell'ente, riavviare e "+
			"rimettere in coda il messaggio con `snodo replay` (no ente serves office %s)", codice, codice)
	case !e.Ente.IsEnabled():
		return nil, fmt.Sprintf("l'ente %s (ufficio %s) è disabilitato (ente disabled)", e.ID(), codice)
	case e.Passive.Enabled != nil && !*e.Passive.Enabled:
		return nil, fmt.Sprintf("l'ente %s (ufficio %s) non ha il ciclo passivo abilitato (passive cycle disabled)", e.ID(), codice)
	}
	return e, ""
}

// Examine checks one invoice: signature, XSD and SdI content checks (recorded), then
// the ente's pre-validation rules, and plans deliveries and EC02. An error means the
// examination could not be completed (retry); everything about the file itself is in
// the Examination.
func (x *Examiner) Examine(ctx context.Context, in Input) (*Examination, error) {
	ex := &Examination{CodiceDestinatario: in.CodiceDestinatario, Formato: in.Formato, Prevalidation: PrevalidationNone}
	received := in.ReceivedAt
	if received.IsZero() {
		received = time.Now()
	}
	rep := x.validator.Validate(ctx, in.NomeFile, in.Data, fatturapa.Options{ReceivedAt: received})
	if rep.Err != nil {
		return nil, fmt.Errorf("passivo: controlli su %s non completati (checks not completed): %w", in.NomeFile, rep.Err)
	}
	ex.Report = rep
	inv := rep.Invoice
	if inv != nil {
		if ex.CodiceDestinatario == "" {
			ex.CodiceDestinatario = inv.Header.CodiceDestinatario
		}
		if ex.Formato == "" {
			ex.Formato = inv.Header.FormatoTrasmissione
		}
		ex.Cedente = inv.Header.Cedente.Name()
		ex.Riferimenti = riferimenti(inv)
		ex.InvoiceKeys = flowkit.InvoiceKeys(fatturapa.Keys(inv))
	}
	if rep.Envelope == "cades" && len(rep.Content) > 0 {
		ex.Unwrapped = &message.File{Name: unwrappedName(in.NomeFile), Role: message.RoleUnwrapped, ContentType: "application/xml", Data: rep.Content}
	}
	ex.Ente, ex.Unroutable = Route(x.routes, ex.CodiceDestinatario)
	if ex.Ente == nil {
		return ex, nil
	}
	e := ex.Ente
	// The ente's rules, on the parsed invoice.
	rs, err := x.rules.For(e)
	if err != nil {
		return nil, err
	}
	switch {
	case rs.Len() == 0:
	case inv == nil:
		ex.Prevalidation = PrevalidationSkipped
	default:
		ex.Violations = rs.Evaluate(inv)
		ex.Prevalidation = PrevalidationPassed
		if len(ex.Violations) > 0 {
			ex.Prevalidation = PrevalidationFailed
			if e.Passive.Prevalidation.OnFailure == "flag" || !ex.Outcomes() {
				ex.Prevalidation = PrevalidationFlagged
			}
		}
	}
	ex.Reject = ex.Prevalidation == PrevalidationFailed
	if ex.Reject {
		ex.EC02 = drafts(inv, ex.Violations)
	}
	ex.Deliver = !ex.Reject || e.Passive.Prevalidation.DeliverRejected == nil || *e.Passive.Prevalidation.DeliverRejected
	ex.Steps = Plan(x.routes, e)
	ex.Notifications = NotificationsPhase(x.routes, e.ID())
	if d := e.Passive.AutoAcceptDays; d > 0 && ex.Outcomes() && !ex.Reject {
		ex.AutoAccept = received.Add(time.Duration(d) * 24 * time.Hour)
	}
	if ex.Deliver && needsRendering(ex.Steps) {
		content := rep.Content
		if len(content) == 0 {
			ex.RenderErr = errors.New("contenuto della fattura non leggibile: rappresentazione HTML non prodotta (unreadable invoice: no HTML rendering)")
		} else {
			html, err := x.render(ex.Formato, in.NomeFile, content)
			if err != nil {
				ex.RenderErr = err
			} else {
				ex.Rendering = &message.File{Name: renderingName(in.NomeFile), Role: message.RoleRendering, ContentType: "text/html", Data: html}
			}
		}
	}
	return ex, nil
}

// Plan lists the deliveries of a passive invoice for an ente: protocol then accounting,
// each on its own channel; or one delivery (single_delivery, or only one of the two
// configured).
func Plan(routes *route.Routes, e *route.Ente) []Step {
	proto, hasProto := routes.Endpoint(e.ID(), route.PassiveProtocol)
	acc, hasAcc := routes.Endpoint(e.ID(), route.PassiveAccounting)
	roles := func(ep *channel.Endpoint) []string { return deliverRoles(e.Passive.Deliver, ep.Kind == "pec") }
	switch {
	case hasProto && hasAcc && !e.Passive.SingleDelivery:
		return []Step{{Kind: StepProtocol, Phase: route.PassiveProtocol, Endpoint: proto, Roles: roles(proto)},
			{Kind: StepAccounting, Phase: route.PassiveAccounting, Endpoint: acc, Roles: roles(acc)}}
	case hasProto:
		return []Step{{Kind: StepSingle, Phase: route.PassiveProtocol, Endpoint: proto, Roles: roles(proto)}}
	case hasAcc:
		return []Step{{Kind: StepSingle, Phase: route.PassiveAccounting, Endpoint: acc, Roles: roles(acc)}}
	}
	return nil
}

// NotificationsPhase is where DT, SE and EC notices go: passive.notifications, else
// the protocol phase, else the accounting phase; "" when the ente has none.
func NotificationsPhase(routes *route.Routes, ente string) string {
	for _, p := range []string{route.PassiveNotifications, route.PassiveProtocol, route.PassiveAccounting} {
		if _, ok := routes.Endpoint(ente, p); ok {
			return p
		}
	}
	return ""
}

// deliverRoles maps the route's deliver list to file roles; PEC channels always carry
// the HTML rendering.
func deliverRoles(deliver []string, pec bool) []string {
	if len(deliver) == 0 {
		deliver = []string{"signed", "metadata"}
	}
	var out []string
	add := func(r string) {
		for _, x := range out {
			if x == r {
				return
			}
		}
		out = append(out, r)
	}
	for _, d := range deliver {
		switch d {
		case "signed":
			add(message.RoleMain)
		case "unwrapped":
			add(message.RoleUnwrapped)
		case "metadata":
			add(message.RoleMetadata)
		case "rendering":
			add(message.RoleRendering)
		}
	}
	if pec {
		add(message.RoleRendering)
	}
	// The primary file first: the signed file, else the unwrapped XML.
	sort.SliceStable(out, func(i, j int) bool { return rolePriority(out[i]) < rolePriority(out[j]) })
	return out
}

func rolePriority(r string) int {
	switch r {
	case message.RoleMain:
		return 0
	case message.RoleUnwrapped:
		return 1
	}
	return 2
}

func needsRendering(steps []Step) bool {
	for _, s := range steps {
		for _, r := range s.Roles {
			if r == message.RoleRendering {
				return true
			}
		}
	}
	return false
}

// riferimenti lists the RiferimentoFattura of each invoice of the file.
func riferimenti(inv *invoice.Invoice) []sdi.RiferimentoFattura {
	out := make([]sdi.RiferimentoFattura, 0, len(inv.Bodies))
	for _, b := range inv.Bodies {
		year, _ := strconv.Atoi(b.Year())
		r := sdi.RiferimentoFattura{NumeroFattura: b.Numero, AnnoFattura: year}
		if len(inv.Bodies) > 1 {
			r.PosizioneFattura = b.Position
		}
		out = append(out, r)
	}
	return out
}

// drafts groups the violations by invoice of the file: one EC02 each, whose
// Descrizione lists the failed rules' messages.
func drafts(inv *invoice.Invoice, vs []rules.Violation) []ECDraft {
	refs := riferimenti(inv)
	byBody := map[int][]rules.Violation{}
	var bodies []int
	for _, v := range vs {
		if _, ok := byBody[v.Body]; !ok {
			bodies = append(bodies, v.Body)
		}
		byBody[v.Body] = append(byBody[v.Body], v)
	}
	sort.Ints(bodies)
	var out []ECDraft
	for _, b := range bodies {
		d := ECDraft{}
		if b >= 1 && b <= len(refs) {
			r := refs[b-1]
			if validNumero(r.NumeroFattura) {
				d.Riferimento = &r
			}
		}
		var msgs []string
		seen := map[string]bool{}
		for _, v := range byBody[b] {
			d.Rules = append(d.Rules, v.Rule)
			if !seen[v.Message] {
				seen[v.Message] = true
				msgs = append(msgs, v.Message)
			}
		}
		d.Descrizione = Descrizione(msgs)
		out = append(out, d)
	}
	return out
}

// Descrizione joins the failed rules' messages into the Descrizione of an EC02, cut to
// the schema's 255 characters.
func Descrizione(msgs []string) string {
	return clipRunes(strings.Join(msgs, "; "), 255)
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// validNumero: NumeroFattura of an EC is 1 to 20 basic Latin characters.
func validNumero(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return false
		}
	}
	return true
}

// unwrappedName is the name of the XML inside a signed file: X.xml.p7m → X.xml.
func unwrappedName(name string) string {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, ".p7m") {
		return name[:len(name)-4]
	}
	return name + ".xml"
}

// renderingName is the name of the HTML rendering: X.xml.p7m → X.html.
func renderingName(name string) string {
	base := name
	for _, ext := range []string{".xml.p7m", ".xml", ".p7m"} {
		if len(base) > len(ext) && strings.EqualFold(base[len(base)-len(ext):], ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	return base + ".html"
}

// render makes the HTML rendering with the official stylesheet of the format.
func (x *Examiner) render(formato, name string, content []byte) ([]byte, error) {
	x.renderOnce.Do(func() {
		x.renderPA, x.renderErr = xslt.CompileFS(sdixsl.FS, sdixsl.FatturaPA)
		if x.renderErr == nil {
			x.renderOrd, x.renderErr = xslt.CompileFS(sdixsl.FS, sdixsl.FatturaOrdinaria)
		}
	})
	if x.renderErr != nil {
		return nil, fmt.Errorf("passivo: foglio di stile (stylesheet): %w", x.renderErr)
	}
	sheet := x.renderPA
	if formato == "FPR12" {
		sheet = x.renderOrd
	}
	html, err := sheet.Transform(name, content, nil)
	if err != nil {
		return nil, fmt.Errorf("passivo: rappresentazione HTML di %s (HTML rendering): %w", name, err)
	}
	return html, nil
}

// DraftXML writes the EC02 of a draft for IdentificativoSdI id, as the hub sends it.
func DraftXML(id sdi.IdentificativoSdI, d ECDraft) ([]byte, error) {
	return sdi.Marshal(&sdi.NotificaEsitoCommittente{EsitoCommittente: sdi.EsitoCommittente{IdentificativoSdI: id,
		RiferimentoFattura: d.Riferimento, Esito: sdi.EC02, Descrizione: d.Descrizione}})
}
