package csvparse

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/position"
)

// GovPay's default layout (formatoCSV.rst; samples in
// spec/pagopa/samples/govpay/tracciati/): 27 columns of the pendenza, 11 per voce for
// voci 1..5, then dataAvvisatura, idDocumento, descrizioneDocumento, numeroRata,
// linguaSecondaria (optional). Columns are found by header name.
var govpayColumns = []string{"idA2A", "idPendenza", "idDominio", "numeroAvviso", "tipoPendenza", "idUnitaOperativa", "causale",
	"annoRiferimento", "cartellaPagamento", "datiAllegati", "direzione", "divisione", "importo", "dataValidita", "dataScadenza",
	"tassonomiaAvviso", "tipoSoggettoPagatore", "identificativoPagatore", "anagraficaPagatore", "indirizzoPagatore", "civicoPagatore",
	"capPagatore", "localitaPagatore", "provinciaPagatore", "nazionePagatore", "emailPagatore", "cellularePagatore",
	"dataAvvisatura", "idDocumento", "descrizioneDocumento", "numeroRata", "linguaSecondaria"}

var govpayVoce = []string{"idVoce", "importoVoce", "descrizioneVoce", "ibanAccreditoVoce", "ibanAppoggioVoce", "tipoContabilitaVoce",
	"codiceContabilitaVoce", "tipoEntrataVoce", "tipoBolloVoce", "hashBolloVoce", "provinciaBolloVoce"}

var govpayRequired = []string{"idPendenza", "idDominio", "causale", "importo", "tipoSoggettoPagatore", "identificativoPagatore", "anagraficaPagatore",
	"idVoce1", "importoVoce1", "descrizioneVoce1"}

// voceColumn matches voce columns; voci up to 9 are read so that a row using more than
// the 5 pagoPA allows is refused with a clear reason instead of the whole file.
var voceColumn = regexp.MustCompile(`^(` + strings.Join(govpayVoce, "|") + `)([1-9])$`)

const maxVoci = 9

// DefaultDueDate is the due date of a GovPay row without dataValidita and dataScadenza
// (pagoPA requires one in paGetPayment).
var DefaultDueDate = position.NewDate(2099, 12, 31)

type govpay struct {
	e             *pagopa.Ente
	stampCategory string
	col           map[string]int
	width         int
}

func newGovPay(header []string, e *pagopa.Ente, stampCategory string) (*govpay, error) {
	g := &govpay{e: e, col: map[string]int{}, width: len(header), stampCategory: stampCategory}
	known := map[string]bool{}
	for _, c := range govpayColumns {
		known[c] = true
	}
	var unknown []string
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := g.col[h]; dup {
			return nil, fmt.Errorf("colonna %q ripetuta nell'intestazione (column repeated in the header)", h)
		}
		if !known[h] && !voceColumn.MatchString(h) {
			unknown = append(unknown, h)
			continue
		}
		g.col[h] = i
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("colonne sconosciute nel tracciato GovPay: %s; usare i nomi del tracciato standard (unknown columns)", strings.Join(quoteAll(unknown), ", "))
	}
	var missing []string
	for _, c := range govpayRequired {
		if _, ok := g.col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("colonne obbligatorie mancanti nell'intestazione: %s (required columns missing)", strings.Join(missing, ", "))
	}
	return g, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		out[i] = strconv.Quote(v)
	}
	return out
}

func (g *govpay) get(rec []string, name string) string {
	if i, ok := g.col[name]; ok && i < len(rec) {
		return clean(rec[i])
	}
	return ""
}

// breaks are the line breaks and tabs a spreadsheet leaves inside cells.
var breaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ")

// clean trims a field and turns line breaks inside it into spaces: a causale typed on two
// lines in a spreadsheet is one line for pagoPA. Other control characters stay, and are
// refused by validation.
func clean(s string) string {
	if strings.ContainsAny(s, "\r\n\t") {
		s = breaks.Replace(s)
	}
	return strings.TrimSpace(s)
}

func (g *govpay) parse(rec []string, line int) *Row {
	rw := &Row{Line: line, ID: g.get(rec, "idPendenza")}
	if len(rec) != g.width {
		rw.Err = fmt.Sprintf("%d colonne invece delle %d dell'intestazione (%d columns, the header has %d)", len(rec), g.width, len(rec), g.width)
		return rw
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d := g.get(rec, "idDominio"); d != g.e.FiscalCode {
		bad("idDominio %q diverso dall'ente %s che carica il file (idDominio is not the loading ente)", d, g.e.FiscalCode)
	}
	total, err := amount.Parse(g.get(rec, "importo"))
	if err != nil {
		bad("importo: %s", trimAmountErr(err))
	}
	if err == nil && total == 0 {
		if len(errs) == 0 {
			rw.Action = Cancel
		} else {
			rw.Err = strings.Join(errs, "; ")
		}
		return rw
	}
	p := &position.Position{
		IUPD:        rw.ID,
		Type:        g.get(rec, "tipoPendenza"),
		Description: g.get(rec, "causale"),
		Document:    g.get(rec, "idDocumento"),
		Debtor: position.Debtor{
			Type: g.get(rec, "tipoSoggettoPagatore"), ID: strings.ToUpper(g.get(rec, "identificativoPagatore")), Name: g.get(rec, "anagraficaPagatore"),
			Street: g.get(rec, "indirizzoPagatore"), Civic: g.get(rec, "civicoPagatore"), PostalCode: g.get(rec, "capPagatore"),
			City: g.get(rec, "localitaPagatore"), Province: g.get(rec, "provinciaPagatore"), Country: g.get(rec, "nazionePagatore"),
			Email: g.get(rec, "emailPagatore"),
		},
	}
	opt := position.Option{Amount: total, NoticeNumber: g.get(rec, "numeroAvviso")}
	due, exp := g.get(rec, "dataValidita"), g.get(rec, "dataScadenza")
	if d, ok := parseDate(due, "dataValidita", bad); ok {
		opt.DueDate = d
	}
	if d, ok := parseDate(exp, "dataScadenza", bad); ok {
		p.ExpiryDate = &d
		if opt.DueDate.IsZero() {
			opt.DueDate = d
		}
	}
	if due == "" && exp == "" {
		opt.DueDate = DefaultDueDate
	}
	if r := g.get(rec, "numeroRata"); r != "" {
		if n, err := strconv.Atoi(r); err == nil && n > 0 && n < 1000 {
			opt.Instalment = n
		} // SCONTATO, RIDOTTO, ENTROxxx, OLTRExxx: time-threshold options, one per row
	}
	for i := 1; i <= maxVoci; i++ {
		v := func(name string) string { return g.get(rec, name+strconv.Itoa(i)) }
		if v("idVoce") == "" && v("importoVoce") == "" && v("descrizioneVoce") == "" && v("ibanAccreditoVoce") == "" && v("tipoBolloVoce") == "" {
			continue
		}
		if i > position.MaxTransfers {
			bad("voce %d: al massimo %d voci per pendenza (at most %d transfers)", i, position.MaxTransfers, position.MaxTransfers)
			break
		}
		t := position.Transfer{Ref: v("idVoce"), Remittance: v("descrizioneVoce")}
		if a, err := amount.Parse(v("importoVoce")); err != nil {
			bad("importoVoce%d: %s", i, trimAmountErr(err))
		} else {
			t.Amount = a
		}
		switch {
		case v("tipoBolloVoce") != "":
			t.Stamp = &position.Stamp{Type: v("tipoBolloVoce"), HashDocument: v("hashBolloVoce"), Province: strings.ToUpper(v("provinciaBolloVoce"))}
			t.Category = category(v("tipoContabilitaVoce"), v("codiceContabilitaVoce"))
			if t.Category == "" {
				t.Category = g.stampCategory
			}
			if t.Category == "" {
				bad("voce %d: marca da bollo senza tassonomia: indicare codiceContabilitaVoce%d con il codice tassonomico del bollo (stamp without taxonomy code)", i, i)
			}
		case v("ibanAccreditoVoce") != "":
			t.IBAN = iban.Normalize(v("ibanAccreditoVoce"))
			t.Category = category(v("tipoContabilitaVoce"), v("codiceContabilitaVoce"))
			if t.Category == "" {
				bad("voce %d: indicare tipoContabilitaVoce%d e codiceContabilitaVoce%d, la tassonomia pagoPA del versamento (taxonomy required)", i, i, i)
			}
		case v("tipoEntrataVoce") != "":
			bad("voce %d: tipoEntrataVoce%d (entrata preconfigurata) non gestito: indicare ibanAccreditoVoce%d e la contabilità (configured revenues are not supported: give the IBAN)", i, i, i)
		default:
			bad("voce %d: manca ibanAccreditoVoce%d o la marca da bollo (IBAN or stamp required)", i, i)
		}
		opt.Transfers = append(opt.Transfers, t)
	}
	if len(opt.Transfers) == 0 && len(errs) == 0 {
		bad("nessuna voce: serve almeno idVoce1/importoVoce1 (no transfer)")
	}
	p.Options = []position.Option{opt}
	rw.Position = p
	if len(errs) > 0 {
		rw.Err = strings.Join(errs, "; ")
	}
	return rw
}

// category builds the transferCategory from GovPay's accounting columns, the way GovPay
// does ("9/<code>" for ALTRO).
func category(tipo, codice string) string {
	if codice == "" {
		return ""
	}
	switch strings.ToUpper(tipo) {
	case "CAPITOLO":
		return "0/" + codice
	case "SPECIALE":
		return "1/" + codice
	case "SIOPE":
		return "2/" + codice
	case "ALTRO":
		return "9/" + codice
	}
	return codice
}

func parseDate(s, field string, bad func(string, ...any)) (position.Date, bool) {
	if s == "" {
		return position.Date{}, false
	}
	if len(s) > 10 && (s[10] == 'T' || s[10] == ' ') { // 2019-12-30T00:00
		s = s[:10]
	}
	d, err := position.ParseDate(s)
	if err != nil {
		bad("%s: %v", field, err)
		return position.Date{}, false
	}
	return d, true
}

func trimAmountErr(err error) string { return strings.TrimPrefix(err.Error(), "amount: malformed: ") }
