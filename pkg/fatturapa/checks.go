package fatturapa

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"snodo/pkg/fatturapa/internal/decimal"
	"snodo/pkg/fatturapa/invoice"
	"snodo/pkg/fatturapa/taxid"
	"snodo/pkg/fatturapa/xmltree"
)

// CheckOptions tunes the content checks.
type CheckOptions struct {
	// ReceivedAt is when the SdI receives the file (00403: the invoice date may not be
	// later; 00445 applies from 2021-01-01). Zero means now: before sending, the SdI
	// can only receive the file later, so the check never stops a file the SdI would
	// accept.
	ReceivedAt time.Time
	// SkipTaxIDs skips the structure and check-digit checks of Italian partite IVA and
	// codici fiscali (00300-00306). The SdI looks these up in the Anagrafe Tributaria,
	// which a wrong check digit never passes; skip them only for test documents built
	// on placeholder identifiers, like the official samples' 01234567890.
	SkipTaxIDs bool
}

// rome is the time zone of the SdI's dates.
var rome = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Rome"); err == nil {
		return l
	}
	return time.FixedZone("CET", 3600) // no tz database: close enough for a date
}()

// Errors of the content checks are the SdI's text, then what was found, Italian and
// English: "2.2.1.11 <PrezzoTotale> non calcolato ...: linea 2: atteso 25.00, indicato
// 24.00 (expected 25.00, found 24.00)".
type checker struct {
	inv  *invoice.Invoice
	opt  CheckOptions
	errs []Error
}

func (c *checker) add(code string, n *xmltree.Node, it, en string) {
	msg := descriptions[code]
	if it != "" {
		msg += ": " + it
	}
	if en != "" {
		msg += " (" + en + ")"
	}
	e := Error{Code: code, Message: msg}
	if n != nil {
		e.Path, e.Line = n.Path(), n.Line
	}
	c.errs = append(c.errs, e)
}

// CheckContent runs the SdI's content checks ("verifiche sul contenuto", the identifier
// checks that can be decided offline, and the uniqueness of the invoices within the
// file, 00409) on a parsed invoice, and returns every failure, ordered by line. The
// document is expected to have passed the XSD; values that do not parse are left to it.
//
// Checks the SdI makes against its registries cannot be made offline and are not
// here: existence of identifiers in the Anagrafe Tributaria (00300-00306 beyond the
// check digit), VAT groups (00320-00327), CodiceDestinatario in IPA or among the
// SdI's channels (00311, 00312, 00398, 00399), invalidated declarations of intent
// (00477). Duplicates against earlier files (00404) need the journal: see History.
func CheckContent(inv *invoice.Invoice, opt CheckOptions) []Error {
	if opt.ReceivedAt.IsZero() {
		opt.ReceivedAt = time.Now()
	}
	c := &checker{inv: inv, opt: opt}
	c.header()
	if !opt.SkipTaxIDs {
		c.taxIDs()
	}
	for i := range inv.Bodies {
		c.body(&inv.Bodies[i])
	}
	c.duplicatesInLot()
	sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Line < c.errs[j].Line })
	return c.errs
}

var sdiPEC = regexp.MustCompile(`(?i)^sdi[0-9]{2}@pec\.fatturapa\.it$`)

// header: 00428, 00427, 00426, 00330, 00313, 00417, 00476.
func (c *checker) header() {
	h := c.inv.Header
	dt := h.DatiTrasmissione
	formato := h.FormatoTrasmissione
	if formato != c.inv.Versione {
		c.add("00428", dt.Child("FormatoTrasmissione"),
			fmt.Sprintf("FormatoTrasmissione %q, attributo versione %q", formato, c.inv.Versione),
			fmt.Sprintf("FormatoTrasmissione %q differs from the versione attribute %q", formato, c.inv.Versione))
	}
	cd := h.CodiceDestinatario
	if formato == "FPA12" && len(cd) == 7 || formato != "FPA12" && len(cd) == 6 {
		c.add("00427", dt.Child("CodiceDestinatario"),
			fmt.Sprintf("CodiceDestinatario %q di %d caratteri con FormatoTrasmissione %s", cd, len(cd), formato),
			fmt.Sprintf("a %d-character CodiceDestinatario with %s", len(cd), formato))
	}
	// 00426 (AdE tabular representation of the ordinary invoice, third-party
	// transcriptions of the SdI lists): PECDestinatario goes with CodiceDestinatario
	// 0000000 and only with it. The sources describe invoices to private parties; an
	// FPA12 carrying a PECDestinatario beside its office code is left alone, not
	// knowing that the SdI refuses it.
	pec := dt.Child("PECDestinatario")
	switch {
	case cd == "0000000" && h.PECDestinatario == "":
		c.add("00426", dt.Child("CodiceDestinatario"), "CodiceDestinatario 0000000 senza PECDestinatario",
			"CodiceDestinatario 0000000 needs a PECDestinatario")
	case cd != "0000000" && pec != nil && formato != "FPA12":
		c.add("00426", pec, fmt.Sprintf("PECDestinatario presente con CodiceDestinatario %q", cd),
			"PECDestinatario is allowed only with CodiceDestinatario 0000000")
	}
	if sdiPEC.MatchString(h.PECDestinatario) {
		c.add("00330", pec, fmt.Sprintf("%q", h.PECDestinatario), "PECDestinatario is one of the SdI's own mailboxes")
	}
	cess := h.Cessionario
	// 00313: XXXXXXX is for invoices to non-residents, who then have a foreign IdFiscaleIVA.
	if cd == "XXXXXXX" && (!cess.IdFiscaleIVA.Present() || cess.IdFiscaleIVA.IdPaese == "IT") {
		c.add("00313", dt.Child("CodiceDestinatario"), "il cessionario non ha un IdFiscaleIVA estero",
			"CodiceDestinatario XXXXXXX needs a cessionario with a foreign IdFiscaleIVA")
	}
	if cess.Node != nil && !cess.IdFiscaleIVA.Present() && cess.CodiceFiscaleNode == nil {
		c.add("00417", cess.Node, "", "the cessionario/committente has neither IdFiscaleIVA nor CodiceFiscale")
	}
	ced := h.Cedente
	if ced.IdFiscaleIVA.Present() && cess.IdFiscaleIVA.Present() && ced.IdFiscaleIVA.IdPaese != "IT" && cess.IdFiscaleIVA.IdPaese != "IT" {
		c.add("00476", cess.IdFiscaleIVA.Node.Child("IdPaese"),
			fmt.Sprintf("cedente %s, cessionario %s", ced.IdFiscaleIVA.IdPaese, cess.IdFiscaleIVA.IdPaese),
			"seller and buyer both foreign")
	}
}

// taxIDs: 00300-00306, the part of the SdI's identifier checks that needs no registry:
// an Italian partita IVA or codice fiscale must be well formed with a right check
// character, or the Anagrafe Tributaria cannot hold it.
func (c *checker) taxIDs() {
	h := c.inv.Header
	if id := h.IdTrasmittente; id.Present() && id.IdPaese == "IT" {
		if err := taxid.CodiceFiscale(id.IdCodice); err != nil {
			c.add("00300", id.Node.Child("IdCodice"), err.Error(), "")
		}
	}
	piva := func(code string, id invoice.IdFiscale) {
		if id.Present() && id.IdPaese == "IT" {
			if err := taxid.PartitaIVA(id.IdCodice); err != nil {
				c.add(code, id.Node.Child("IdCodice"), err.Error(), "")
			}
		}
	}
	cf := func(code string, p invoice.Party) {
		if p.CodiceFiscaleNode != nil {
			if err := taxid.CodiceFiscale(p.CodiceFiscale); err != nil {
				c.add(code, p.CodiceFiscaleNode, err.Error(), "")
			}
		}
	}
	piva("00301", h.Cedente.IdFiscaleIVA)
	cf("00302", h.Cedente)
	if r := h.RappresentanteFiscale; r != nil {
		piva("00303", r.IdFiscaleIVA)
		cf("00304", *r)
	}
	if r := h.RappresentanteCessionario; r != nil {
		piva("00303", r.IdFiscaleIVA)
	}
	piva("00305", h.Cessionario.IdFiscaleIVA)
	cf("00306", h.Cessionario)
}

// Document types of the checks on the parties. 00471 follows the list of Allegato A
// 1.9.1 quoted in sdi-error-codes.md (the Elenco v2.0 pseudocode lists only TD16-TD20
// and TD29; the wider, newer list is followed). 00473 follows the Elenco v2.0
// pseudocode; the "OO only with TD17/TD19" rule of the 1.2.2 tabular representation is
// not in it and is not applied.
var (
	tdNotSelf       = setOf("TD01", "TD02", "TD03", "TD06", "TD16", "TD17", "TD18", "TD19", "TD20", "TD24", "TD25", "TD28", "TD29")
	tdSelf          = setOf("TD21", "TD27")
	tdForeignSeller = setOf("TD17", "TD18", "TD19", "TD28")
	tdBuyerVAT      = setOf("TD16", "TD17", "TD18", "TD19", "TD20", "TD22", "TD23", "TD28", "TD29")
	naturaGeneric   = setOf("N2", "N3", "N6")
)

func setOf(vals ...string) map[string]bool {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		m[v] = true
	}
	return m
}

var (
	zero      = decimal.MustParse("0")
	one       = decimal.MustParse("1.00")
	cent      = decimal.MustParse("0.01")
	euro      = decimal.MustParse("1.00")
	in2021    = time.Date(2021, 1, 1, 0, 0, 0, 0, rome)
	hasDigitR = regexp.MustCompile(`[0-9]`)
)

// num parses an amount; ok is false when absent or malformed (the XSD reports that).
func num(s string) (decimal.Dec, bool) { return decimal.Parse(s) }

func (c *checker) body(b *invoice.Body) {
	h := c.inv.Header
	dgd := b.Node.Find("DatiGenerali/DatiGeneraliDocumento")
	td := b.TipoDocumento
	tdNode := dgd.Child("TipoDocumento")

	// 00403: the invoice date may not follow the day the SdI receives the file.
	if d, ok := date(b.Data); ok && d > c.opt.ReceivedAt.In(rome).Format("2006-01-02") {
		c.add("00403", dgd.Child("Data"), fmt.Sprintf("data %s, ricezione %s", b.Data, c.opt.ReceivedAt.In(rome).Format("2006-01-02")),
			"the invoice date is after the day the SdI receives the file")
	}
	// 00418: a credit note is not dated before the invoice it corrects.
	if td == "TD04" {
		if d, ok := date(b.Data); ok {
			for _, fc := range b.DatiFattureCollegate {
				if dc, ok := date(fc.Data); ok && d < dc {
					c.add("00418", dgd.Child("Data"), fmt.Sprintf("nota di credito del %s, fattura collegata del %s", b.Data, fc.Data),
						"the credit note is dated before the invoice it refers to")
				}
			}
		}
	}
	// 00425
	if b.Numero != "" && !hasDigitR.MatchString(b.Numero) {
		c.add("00425", dgd.Child("Numero"), fmt.Sprintf("%q", b.Numero), "the invoice number has no digit")
	}
	// 00437
	for _, s := range b.ScontoMaggiorazione {
		if s.Tipo != "" && s.Percentuale == "" && s.Importo == "" {
			c.add("00437", s.Node, "", "ScontoMaggiorazione with Tipo needs Percentuale or Importo")
		}
	}
	c.parties(b, td, tdNode)
	c.ritenuta(b, dgd)
	c.cassa(b, td)
	c.lines(b, td)
	c.summaries(b, td)
	_ = h
}

// date returns the yyyy-mm-dd part of an xs:date (a time zone suffix is ignored).
func date(s string) (string, bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return "", false
	}
	return s[:10], true
}

// parties: 00471, 00472, 00473, 00475.
func (c *checker) parties(b *invoice.Body, td string, tdNode *xmltree.Node) {
	ced, cess := c.inv.Header.Cedente.IdFiscaleIVA, c.inv.Header.Cessionario.IdFiscaleIVA
	// When the cessionario has only a CodiceFiscale, the SdI finds its partita IVA in the
	// Anagrafe Tributaria; offline the two cannot be compared and the check is skipped.
	if ced.Present() && cess.Present() {
		same := ced.IdPaese == cess.IdPaese && ced.IdCodice == cess.IdCodice
		if same && tdNotSelf[td] {
			c.add("00471", tdNode, fmt.Sprintf("%s con cedente e cessionario %s", td, ced), "seller and buyer must differ for this document type")
		}
		if !same && tdSelf[td] {
			c.add("00472", tdNode, fmt.Sprintf("%s con cedente %s e cessionario %s", td, ced, cess), "seller and buyer must be the same for this document type")
		}
	}
	if ced.Present() {
		if tdForeignSeller[td] && ced.IdPaese == "IT" || td == "TD29" && ced.IdPaese != "IT" {
			c.add("00473", ced.Node.Child("IdPaese"), fmt.Sprintf("IdPaese %s con %s", ced.IdPaese, td), "seller country not allowed for this document type")
		}
	}
	if tdBuyerVAT[td] && !cess.Present() {
		c.add("00475", tdNode, td, "this document type needs the buyer's IdFiscaleIVA")
	}
}

// ritenuta: 00411, 00415.
func (c *checker) ritenuta(b *invoice.Body, dgd *xmltree.Node) {
	if len(b.DatiRitenuta) > 0 {
		return
	}
	for _, l := range b.Linee {
		if l.Ritenuta == "SI" {
			c.add("00411", l.Node.Child("Ritenuta"), "linea "+l.NumeroLinea, "a line subject to withholding needs DatiRitenuta")
			break
		}
	}
	for _, k := range b.DatiCassaPrevidenziale {
		if k.Ritenuta == "SI" {
			c.add("00415", k.Node.Child("Ritenuta"), "", "a cassa previdenziale subject to withholding needs DatiRitenuta")
			break
		}
	}
}

// cassa: 00413, 00414, 00424 and 00445 on DatiCassaPrevidenziale.
func (c *checker) cassa(b *invoice.Body, td string) {
	for _, k := range b.DatiCassaPrevidenziale {
		rate, ok := num(k.AliquotaIVA)
		if !ok {
			continue
		}
		switch {
		case rate.IsZero() && k.Natura == "":
			c.add("00413", k.Node.Child("AliquotaIVA"), "", "a zero VAT rate needs Natura")
		case !rate.IsZero() && k.Natura != "":
			c.add("00414", k.Node.Child("Natura"), fmt.Sprintf("aliquota %s, natura %s", k.AliquotaIVA, k.Natura), "Natura is only for a zero VAT rate")
		}
		c.percentRate(k.Node, rate, k.AliquotaIVA)
		c.genericNatura(k.Node, k.Natura)
	}
}

// percentRate: 00424, a rate written as a fraction (0.22 for 22%), in the AliquotaIVA
// child of parent.
func (c *checker) percentRate(parent *xmltree.Node, rate decimal.Dec, text string) {
	if !rate.IsZero() && decimal.Cmp(rate, one) < 0 {
		c.add("00424", parent.Child("AliquotaIVA"), fmt.Sprintf("%s: scrivere ad esempio 22.00, non 0.22", text), "the VAT rate must be a percentage, e.g. 22.00")
	}
}

// genericNatura: 00445, in force for files received from 1 January 2021, on the
// Natura child of parent.
func (c *checker) genericNatura(parent *xmltree.Node, natura string) {
	if naturaGeneric[natura] && !c.opt.ReceivedAt.Before(in2021) {
		c.add("00445", parent.Child("Natura"), fmt.Sprintf("%s: usare un sottocodice, es. %s.1", natura, natura), "use a sub-code such as "+natura+".1")
	}
}

// lines: 00400, 00401, 00423, 00438, 00474, 00424 and 00445 on DettaglioLinee.
func (c *checker) lines(b *invoice.Body, td string) {
	for i := range b.Linee {
		l := &b.Linee[i]
		if rate, ok := num(l.AliquotaIVA); ok {
			switch {
			case rate.IsZero() && l.Natura == "":
				c.add("00400", l.Node.Child("AliquotaIVA"), "linea "+l.NumeroLinea, "a zero VAT rate needs Natura")
			// TD16 (reverse-charge integration) may carry both (sdi-error-codes.md, 00401/00430).
			case !rate.IsZero() && l.Natura != "" && td != "TD16":
				c.add("00401", l.Node.Child("Natura"), fmt.Sprintf("linea %s: aliquota %s, natura %s", l.NumeroLinea, l.AliquotaIVA, l.Natura),
					"Natura is only for a zero VAT rate")
			}
			if td == "TD21" && rate.IsZero() {
				c.add("00474", l.Node.Child("AliquotaIVA"), "linea "+l.NumeroLinea, "TD21 allows no line with a zero VAT rate")
			}
			c.percentRate(l.Node, rate, l.AliquotaIVA)
		}
		c.genericNatura(l.Node, l.Natura)
		for _, s := range l.Sconti {
			if s.Tipo != "" && s.Percentuale == "" && s.Importo == "" {
				c.add("00438", s.Node, "linea "+l.NumeroLinea, "ScontoMaggiorazione with Tipo needs Percentuale or Importo")
			}
		}
		c.prezzoTotale(l)
	}
}

// prezzoTotale: 00423. PrezzoTotale = (PrezzoUnitario ± sconti/maggiorazioni) ×
// Quantita (1 when absent). Discounts apply in document order, "a cascata": an Importo
// is subtracted (SC) or added (MG); a Percentuale applies to the price reached so far;
// when both are given the Importo counts (the Elenco's worked example 3 does so).
// Tolerance: the Elenco says a difference "inferiore a ±0,01" passes; a difference of
// exactly one cent is let through too, so the hub never stops a file the SdI accepts.
func (c *checker) prezzoTotale(l *invoice.Linea) {
	price, ok1 := num(l.PrezzoUnitario)
	total, ok2 := num(l.PrezzoTotale)
	if !ok1 || !ok2 {
		return
	}
	qty := decimal.MustParse("1")
	if l.Quantita != "" {
		q, ok := num(l.Quantita)
		if !ok {
			return
		}
		qty = q
	}
	for _, s := range l.Sconti {
		var delta decimal.Dec
		if imp, ok := num(s.Importo); ok {
			delta = imp
		} else if pct, ok := num(s.Percentuale); ok {
			delta = decimal.Percent(decimal.Mul(price, pct))
		} else {
			continue // 00438 covers it
		}
		switch s.Tipo {
		case "SC":
			price = decimal.Sub(price, delta)
		case "MG":
			price = decimal.Add(price, delta)
		}
	}
	want := decimal.Mul(price, qty)
	if decimal.Cmp(decimal.Sub(total, want).Abs(), cent) > 0 {
		c.add("00423", l.Node.Child("PrezzoTotale"),
			fmt.Sprintf("linea %s: atteso %s, indicato %s", l.NumeroLinea, want.RoundHalfUp(2), l.PrezzoTotale),
			fmt.Sprintf("expected %s, found %s", want.RoundHalfUp(2), l.PrezzoTotale))
	}
}

// rateKey normalises a rate for grouping: "22.00", "022.00" and "22.0" are one rate.
func rateKey(s string) string {
	// the XSD's RateType, [0-9]{1,3}\.[0-9]{2}: strip leading zeros, no allocation
	if n := len(s); n >= 4 && n <= 6 && s[n-3] == '.' && digits(s[:n-3]) && digits(s[n-2:]) {
		for len(s) > 4 && s[0] == '0' {
			s = s[1:]
		}
		return s
	}
	d, ok := num(s)
	if !ok {
		return s
	}
	return d.RoundHalfUp(2).String()
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// summaries: 00419, 00420, 00421, 00422, 00429, 00430, 00443, 00444, 00424 and 00445
// on DatiRiepilogo.
func (c *checker) summaries(b *invoice.Body, td string) {
	dbs := b.Node.Child("DatiBeniServizi")
	summaryRates := map[string]bool{}
	summaryNature := map[string]bool{}
	for _, r := range b.Riepiloghi {
		summaryRates[rateKey(r.AliquotaIVA)] = true
		if r.Natura != "" {
			summaryNature[r.Natura] = true
		}
	}
	// 00419 counts, as the Elenco's pseudocode does: fewer DatiRiepilogo blocks than
	// distinct rates in lines and cassa. A rate without its own block among enough
	// blocks is 00443.
	distinct := map[string]bool{}
	for _, k := range b.DatiCassaPrevidenziale {
		distinct[rateKey(k.AliquotaIVA)] = true
	}
	for _, l := range b.Linee {
		distinct[rateKey(l.AliquotaIVA)] = true
	}
	if len(b.Riepiloghi) < len(distinct) {
		c.add("00419", dbs, fmt.Sprintf("%d aliquote distinte, %d blocchi DatiRiepilogo", len(distinct), len(b.Riepiloghi)),
			"one DatiRiepilogo block is needed for each VAT rate")
	}
	for _, k := range b.DatiCassaPrevidenziale {
		if !summaryRates[rateKey(k.AliquotaIVA)] {
			c.add("00443", k.Node.Child("AliquotaIVA"), "aliquota cassa "+k.AliquotaIVA+" senza riepilogo", "the cassa VAT rate has no summary")
		}
		if k.Natura != "" && !summaryNature[k.Natura] {
			c.add("00444", k.Node.Child("Natura"), "natura cassa "+k.Natura+" senza riepilogo", "the cassa Natura has no summary")
		}
	}
	for _, l := range b.Linee {
		if !summaryRates[rateKey(l.AliquotaIVA)] {
			c.add("00443", l.Node.Child("AliquotaIVA"), fmt.Sprintf("linea %s: aliquota %s senza riepilogo", l.NumeroLinea, l.AliquotaIVA), "the line VAT rate has no summary")
		}
		if l.Natura != "" && !summaryNature[l.Natura] {
			c.add("00444", l.Node.Child("Natura"), fmt.Sprintf("linea %s: natura %s senza riepilogo", l.NumeroLinea, l.Natura), "the line Natura has no summary")
		}
	}
	for _, r := range b.Riepiloghi {
		rate, ok := num(r.AliquotaIVA)
		if ok {
			switch {
			case rate.IsZero() && r.Natura == "":
				c.add("00429", r.Node.Child("AliquotaIVA"), "", "a zero VAT rate needs Natura")
			case !rate.IsZero() && r.Natura != "" && td != "TD16":
				c.add("00430", r.Node.Child("Natura"), fmt.Sprintf("aliquota %s, natura %s", r.AliquotaIVA, r.Natura), "Natura is only for a zero VAT rate")
			}
			c.percentRate(r.Node, rate, r.AliquotaIVA)
		}
		if r.EsigibilitaIVA == "S" && strings.HasPrefix(r.Natura, "N6") {
			c.add("00420", r.Node.Child("EsigibilitaIVA"), "natura "+r.Natura, "reverse charge (N6) cannot go with split payment (S)")
		}
		c.genericNatura(r.Node, r.Natura)
		// 00421: Imposta = ImponibileImporto × AliquotaIVA / 100, rounded half up to
		// cents; a difference "inferiore a ±0,01" passes (exactly one cent too, see 00423).
		imponibile, ok1 := num(r.ImponibileImporto)
		imposta, ok2 := num(r.Imposta)
		if ok && ok1 && ok2 {
			want := decimal.Percent(decimal.Mul(imponibile, rate)).RoundHalfUp(2)
			if decimal.Cmp(decimal.Sub(imposta, want).Abs(), cent) > 0 {
				c.add("00421", r.Node.Child("Imposta"), fmt.Sprintf("aliquota %s: atteso %s, indicato %s", r.AliquotaIVA, want, r.Imposta),
					fmt.Sprintf("expected %s, found %s", want, r.Imposta))
			}
		}
	}
	c.imponibile(b)
}

// imponibile: 00422. Per distinct rate: the sum of ImponibileImporto equals the sum of
// the lines' PrezzoTotale, the cassa's ImportoContributoCassa and the summaries'
// Arrotondamento at that rate, within one euro (exactly one euro let through, as for
// 00421).
func (c *checker) imponibile(b *invoice.Body) {
	type group struct {
		imponibile, computed decimal.Dec
		first                *xmltree.Node
		bad                  bool
	}
	groups := map[string]*group{}
	var order []string
	get := func(rate string) *group {
		k := rateKey(rate)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		return g
	}
	addTo := func(dst *decimal.Dec, s string, g *group, optional bool) {
		if s == "" && optional {
			return
		}
		v, ok := num(s)
		if !ok {
			g.bad = true
			return
		}
		*dst = decimal.Add(*dst, v)
	}
	for _, r := range b.Riepiloghi {
		g := get(r.AliquotaIVA)
		if g.first == nil {
			g.first = r.Node.Child("ImponibileImporto")
		}
		addTo(&g.imponibile, r.ImponibileImporto, g, false)
		addTo(&g.computed, r.Arrotondamento, g, true)
	}
	for _, l := range b.Linee {
		g := get(l.AliquotaIVA)
		addTo(&g.computed, l.PrezzoTotale, g, false)
	}
	for _, k := range b.DatiCassaPrevidenziale {
		g := get(k.AliquotaIVA)
		addTo(&g.computed, k.ImportoContributoCassa, g, false)
	}
	for _, k := range order {
		g := groups[k]
		if g.bad || g.first == nil { // no summary for the rate: 00419/00443
			continue
		}
		if decimal.Cmp(decimal.Sub(g.imponibile, g.computed).Abs(), euro) > 0 {
			c.add("00422", g.first, fmt.Sprintf("aliquota %s: somma degli imponibili %s, atteso %s", k, g.imponibile, g.computed),
				fmt.Sprintf("taxable amount at %s%%: %s, lines and cassa give %s", k, g.imponibile, g.computed))
		}
	}
}

// InvoiceKey identifies an invoice for the SdI's uniqueness check (00404, 00409).
type InvoiceKey struct {
	// Cedente is the IdFiscaleIVA (IdPaese+IdCodice) of the cedente/prestatore, or of
	// the cessionario/committente when SoggettoEmittente is CC (self-billing).
	Cedente       string
	TipoDocumento string
	Numero        string
	Data          string // xs:date as written (yyyy-mm-dd)
	Art73         bool   // Art73 = SI: several invoices of one year may share a number
}

// Keys returns the uniqueness key of each body of the invoice.
func Keys(inv *invoice.Invoice) []InvoiceKey {
	id := inv.Header.Cedente.IdFiscaleIVA
	if inv.Header.SoggettoEmittente == "CC" {
		id = inv.Header.Cessionario.IdFiscaleIVA
	}
	keys := make([]InvoiceKey, len(inv.Bodies))
	for i, b := range inv.Bodies {
		keys[i] = InvoiceKey{Cedente: id.String(), TipoDocumento: b.TipoDocumento, Numero: b.Numero, Data: b.Data, Art73: b.Art73 == "SI"}
	}
	return keys
}

// Duplicates reports whether k and earlier denote the same invoice, following the
// Elenco dei controlli v2.0 (00404): same cedente, same number and same year (the same
// date when the new invoice has Art73 = SI); when either is a credit note (TD04) the
// document types must match as well, so a TD04 may share its number with an invoice.
// A store implementing History can select candidates by cedente and number and
// filter them with this method.
func (k InvoiceKey) Duplicates(earlier InvoiceKey) bool {
	if k.Cedente != earlier.Cedente || k.Numero != earlier.Numero || k.Cedente == "" {
		return false
	}
	if k.Art73 {
		if k.Data != earlier.Data {
			return false
		}
	} else if len(k.Data) < 4 || len(earlier.Data) < 4 || k.Data[:4] != earlier.Data[:4] {
		return false
	}
	if k.TipoDocumento == "TD04" || earlier.TipoDocumento == "TD04" {
		return k.TipoDocumento == earlier.TipoDocumento
	}
	return true
}

// duplicatesInLot: 00409, two bodies of the file that are the same invoice (the
// Elenco's pseudocode compares number, year (date under Art73) and the TD04 rule;
// the cedente is the file's).
func (c *checker) duplicatesInLot() {
	keys := Keys(c.inv)
	for i := range keys {
		keys[i].Cedente = "lotto" // one file, one cedente: compare the rest
	}
	for j := 1; j < len(keys); j++ {
		for i := 0; i < j; i++ {
			if keys[j].Duplicates(keys[i]) {
				b := c.inv.Bodies[j]
				c.add("00409", b.Node.Find("DatiGenerali/DatiGeneraliDocumento/Numero"),
					fmt.Sprintf("fattura %d (numero %s del %s) uguale alla fattura %d", j+1, b.Numero, b.Data, i+1),
					fmt.Sprintf("body %d repeats body %d", j+1, i+1))
				break
			}
		}
	}
}
