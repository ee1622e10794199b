package csvparse

import (
	"fmt"
	"strings"

	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/iban"
	"snodo/pkg/pagopa/position"
)

// MyPay's import layout (MyPay4 ImportFlussoTaskService, regional-peers.md §3.4):
// ';'-separated, a header line, columns by position; the version follows from the count
// (20: 1.0/1.1, 21: 1.2 with bilancio, 22: 1.3 with flgGeneraIuv, 35: 1.4 with a
// secondary beneficiary); the last column is azione (I, M, A).
const (
	myIUD = iota
	myCodIUV
	myTipoID
	myCodiceID
	myAnagrafica
	myIndirizzo
	myCivico
	myCAP
	myLocalita
	myProvincia
	myNazione
	myMail
	myDataEsecuzione
	myImporto
	myCommissione
	myTipoDovuto
	myTipoVersamento
	myCausale
	myDatiSpecifici
	myBilancio     // 1.2+
	myFlgGeneraIUV // 1.3+
	myFlagMulti    // 1.4
	mySecCF
	mySecDenominazione
	mySecIBAN
	mySecIndirizzo
	mySecCivico
	mySecCAP
	mySecLocalita
	mySecProvincia
	mySecNazione
	mySecDatiSpecifici
	mySecCausale
	mySecImporto
)

var myVersions = map[int]string{20: "1.1", 21: "1.2", 22: "1.3", 35: "1.4"}

type mypay struct {
	e       *pagopa.Ente
	width   int
	version string
}

func newMyPay(header []string, e *pagopa.Ente) (*mypay, error) {
	v, ok := myVersions[len(header)]
	if !ok {
		return nil, fmt.Errorf("intestazione MyPay di %d colonne: le versioni del tracciato ne hanno 20 (1.0/1.1), 21 (1.2), 22 (1.3) o 35 (1.4) (unknown MyPay layout version)", len(header))
	}
	if !strings.EqualFold(strings.TrimSpace(header[len(header)-1]), "azione") {
		return nil, fmt.Errorf("l'ultima colonna dell'intestazione MyPay deve essere azione, trovato %q (last column must be azione)", header[len(header)-1])
	}
	return &mypay{e: e, width: len(header), version: v}, nil
}

func (m *mypay) parse(rec []string, line int) *Row {
	get := func(i int) string {
		if i < len(rec) {
			return clean(rec[i])
		}
		return ""
	}
	rw := &Row{Line: line, ID: get(myIUD)}
	if len(rec) != m.width {
		rw.Err = fmt.Sprintf("%d colonne invece delle %d del tracciato MyPay %s (%d columns, version %s has %d)", len(rec), m.width, m.version, len(rec), m.version, m.width)
		return rw
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch a := strings.ToUpper(get(m.width - 1)); a {
	case "I":
		rw.Action = Insert
	case "M":
		rw.Action = Update
	case "A":
		rw.Action = Cancel
		return rw
	default:
		rw.Err = fmt.Sprintf("azione %q: usare I (inserimento), M (modifica) o A (annullamento) (action must be I, M or A)", a)
		return rw
	}
	total, err := amount.Parse(get(myImporto))
	if err != nil {
		bad("importoDovuto: %s", trimAmountErr(err))
	}
	typ := get(myTipoDovuto)
	p := &position.Position{
		IUPD:        rw.ID,
		Type:        typ,
		Description: get(myCausale),
		Debtor: position.Debtor{
			Type: strings.ToUpper(get(myTipoID)), ID: strings.ToUpper(get(myCodiceID)), Name: get(myAnagrafica),
			Street: get(myIndirizzo), Civic: get(myCivico), PostalCode: get(myCAP), City: get(myLocalita),
			Province: strings.ToUpper(get(myProvincia)), Country: strings.ToUpper(get(myNazione)), Email: get(myMail),
		},
	}
	opt := position.Option{Amount: total}
	if d, ok := parseDate(get(myDataEsecuzione), "dataEsecuzionePagamento", bad); ok {
		opt.DueDate = d
	} else if get(myDataEsecuzione) == "" {
		opt.DueDate = DefaultDueDate
	}
	if c := get(myCodIUV); c != "" {
		n, err := m.e.Scheme().NoticeFromIUV(c)
		switch {
		case err == nil:
			opt.NoticeNumber, opt.IUV = n.Number, n.IUV
		case m.e.AllowUncheckedNotices && n.Number != "":
			opt.NoticeNumber, opt.IUV = n.Number, n.IUV
		default:
			bad("codIuv: %v", err)
		}
	} else if m.width >= 22 && strings.EqualFold(get(myFlgGeneraIUV), "false") {
		bad("codIuv obbligatorio quando flgGeneraIuv è false (codIuv required when flgGeneraIuv is false)")
	}
	ibanMain := m.e.IBANFor(typ)
	if ibanMain == "" {
		bad("nessun IBAN configurato per l'ente %s e il tipo dovuto %q: configurarlo nell'hub (no IBAN configured for this debt type)", m.e.FiscalCode, typ)
	}
	main := position.Transfer{Amount: total, IBAN: ibanMain, Remittance: p.Description, Category: get(myDatiSpecifici)}
	if m.width == 35 && strings.EqualFold(get(myFlagMulti), "true") {
		sec, err := amount.Parse(get(mySecImporto))
		if err != nil {
			bad("importoVersamentoEnteSecondario: %s", trimAmountErr(err))
		}
		if err == nil && sec >= total {
			bad("importo dell'ente secondario %s non minore dell'importo dovuto %s (secondary amount must be less than the total)", amount.Format(sec), amount.Format(total))
		}
		main.Amount = total - sec
		remit := get(mySecCausale)
		if remit == "" {
			remit = p.Description
		}
		opt.Transfers = []position.Transfer{main, {
			Amount: sec, Beneficiary: get(mySecCF), CompanyName: get(mySecDenominazione), IBAN: iban.Normalize(get(mySecIBAN)),
			Remittance: remit, Category: get(mySecDatiSpecifici),
		}}
	} else {
		opt.Transfers = []position.Transfer{main}
	}
	p.Options = []position.Option{opt}
	rw.Position = p
	if len(errs) > 0 {
		rw.Err = strings.Join(errs, "; ")
	}
	return rw
}
