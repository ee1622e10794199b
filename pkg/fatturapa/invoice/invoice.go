// Package invoice reads a FatturaPA document (FPA12 or FPR12, one invoice or a lot of
// several bodies) into Go values: the parties, the transmission data that route it
// (CodiceDestinatario, PECDestinatario) and, per body, what the hub and the ente's
// rules look at (type, number, date, amounts, lines, VAT summaries, payments, CIG and
// CUP references).
//
// The values keep their element (an *xmltree.Node: line and path) so that a check can
// point at what it rejects. Amounts stay strings as written: the checks compare them
// exactly (package decimal in snodo/pkg/fatturapa), and the hub stores them as the
// sender wrote them. Parse does not validate: a document that passed the XSD yields
// complete values; another yields what is there.
package invoice

import (
	"fmt"

	"snodo/pkg/fatturapa/xmltree"
)

// Namespaces of the FatturaPA root element.
const (
	// Namespace12 is the namespace of FatturaPA 1.2.x (FPA12, FPR12).
	Namespace12 = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"
)

// Invoice is a parsed FatturaPA file.
type Invoice struct {
	Doc       *xmltree.Document
	Root      *xmltree.Node
	Versione  string // root attribute versione: "FPA12", "FPR12"
	Namespace string // namespace of the root element
	Header    Header
	Bodies    []Body
}

// Header is FatturaElettronicaHeader.
type Header struct {
	Node *xmltree.Node

	// DatiTrasmissione (1.1)
	IdTrasmittente      IdFiscale
	ProgressivoInvio    string
	FormatoTrasmissione string
	CodiceDestinatario  string
	PECDestinatario     string
	DatiTrasmissione    *xmltree.Node

	Cedente                   Party  // CedentePrestatore (1.2)
	RappresentanteFiscale     *Party // 1.3
	Cessionario               Party  // CessionarioCommittente (1.4)
	RappresentanteCessionario *Party // 1.4.4
	TerzoIntermediario        *Party // TerzoIntermediarioOSoggettoEmittente (1.5)
	SoggettoEmittente         string // 1.6: CC (cessionario) or TZ (terzo)
}

// IdFiscale is an IdFiscaleIVA or IdTrasmittente: country and code.
type IdFiscale struct {
	IdPaese  string
	IdCodice string
	Node     *xmltree.Node // nil when absent
}

// Present reports whether the identifier is in the document.
func (id IdFiscale) Present() bool { return id.Node != nil }

// String is "IT01234567890", "" when absent.
func (id IdFiscale) String() string {
	if id.Node == nil {
		return ""
	}
	return id.IdPaese + id.IdCodice
}

// Party is a subject of the header: its DatiAnagrafici and Sede.
type Party struct {
	Node              *xmltree.Node // the party element (CedentePrestatore...)
	IdFiscaleIVA      IdFiscale
	CodiceFiscale     string
	CodiceFiscaleNode *xmltree.Node
	Denominazione     string
	Nome, Cognome     string
	RegimeFiscale     string
	Nazione           string // Sede/Nazione
}

// Name is the party's Denominazione, or Nome and Cognome.
func (p Party) Name() string {
	if p.Denominazione != "" {
		return p.Denominazione
	}
	if p.Nome == "" {
		return p.Cognome
	}
	if p.Cognome == "" {
		return p.Nome
	}
	return p.Nome + " " + p.Cognome
}

// Body is one FatturaElettronicaBody: one invoice of the file.
type Body struct {
	Node     *xmltree.Node
	Position int // 1-based position in the file (PosizioneFattura of an EC)

	TipoDocumento          string
	Divisa                 string
	Data                   string // xs:date as written, e.g. "2017-01-18"
	Numero                 string
	ImportoTotaleDocumento string
	Arrotondamento         string
	Art73                  string
	Causale                []string

	DatiRitenuta           []*xmltree.Node
	DatiCassaPrevidenziale []Cassa
	ScontoMaggiorazione    []Sconto

	DatiOrdineAcquisto   []DocumentoCorrelato
	DatiContratto        []DocumentoCorrelato
	DatiConvenzione      []DocumentoCorrelato
	DatiRicezione        []DocumentoCorrelato
	DatiFattureCollegate []DocumentoCorrelato

	Linee      []Linea
	Riepiloghi []Riepilogo
	Pagamenti  []Pagamento
}

// Year is the year of Data ("" when Data is shorter than a date).
func (b Body) Year() string {
	if len(b.Data) < 4 {
		return ""
	}
	return b.Data[:4]
}

// CIGs lists the CodiceCIG values of the body's related documents, in document order.
func (b Body) CIGs() []string {
	return b.related(func(d DocumentoCorrelato) string { return d.CodiceCIG })
}

// CUPs lists the CodiceCUP values of the body's related documents, in document order.
func (b Body) CUPs() []string {
	return b.related(func(d DocumentoCorrelato) string { return d.CodiceCUP })
}

func (b Body) related(pick func(DocumentoCorrelato) string) []string {
	var out []string
	for _, list := range [][]DocumentoCorrelato{b.DatiOrdineAcquisto, b.DatiContratto, b.DatiConvenzione, b.DatiRicezione, b.DatiFattureCollegate} {
		for _, d := range list {
			if v := pick(d); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// DocumentoCorrelato is a DatiOrdineAcquisto, DatiContratto, DatiConvenzione,
// DatiRicezione or DatiFattureCollegate block.
type DocumentoCorrelato struct {
	Node        *xmltree.Node
	IdDocumento string
	Data        string
	NumItem     string
	CodiceCUP   string
	CodiceCIG   string
}

// Cassa is a DatiCassaPrevidenziale block (2.1.1.7).
type Cassa struct {
	Node                   *xmltree.Node
	TipoCassa              string
	AlCassa                string
	ImportoContributoCassa string
	AliquotaIVA            string
	Ritenuta               string
	Natura                 string
}

// Sconto is a ScontoMaggiorazione block (2.1.1.8 or 2.2.1.10).
type Sconto struct {
	Node        *xmltree.Node
	Tipo        string // SC sconto, MG maggiorazione
	Percentuale string
	Importo     string
}

// Linea is a DettaglioLinee block (2.2.1).
type Linea struct {
	Node           *xmltree.Node
	NumeroLinea    string
	Descrizione    string
	Quantita       string
	PrezzoUnitario string
	Sconti         []Sconto
	PrezzoTotale   string
	AliquotaIVA    string
	Ritenuta       string
	Natura         string
}

// Riepilogo is a DatiRiepilogo block (2.2.2).
type Riepilogo struct {
	Node              *xmltree.Node
	AliquotaIVA       string
	Natura            string
	Arrotondamento    string
	ImponibileImporto string
	Imposta           string
	EsigibilitaIVA    string
}

// Pagamento is a DatiPagamento block (2.4).
type Pagamento struct {
	Node                *xmltree.Node
	CondizioniPagamento string
	Dettagli            []DettaglioPagamento
}

// DettaglioPagamento is a DettaglioPagamento block (2.4.2).
type DettaglioPagamento struct {
	Node                  *xmltree.Node
	ModalitaPagamento     string
	DataScadenzaPagamento string
	ImportoPagamento      string
	IBAN                  string
	CodicePagamento       string
}

// Error says why a document is not a FatturaPA invoice at all.
type Error struct {
	Name   string
	Line   int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: riga %d: %s", e.Name, e.Line, e.Reason) }

// Parse reads data (named name in errors) as a FatturaPA document. A document that
// is not well-formed yields the *xmltree.SyntaxError; one whose root is not
// FatturaElettronica yields an *Error.
func Parse(name string, data []byte) (*Invoice, error) {
	doc, err := xmltree.Parse(name, data)
	if err != nil {
		return nil, err
	}
	return FromTree(doc)
}

// FromTree reads an already parsed document.
func FromTree(doc *xmltree.Document) (*Invoice, error) {
	root := doc.Root
	if root.Name != "FatturaElettronica" {
		return nil, &Error{Name: doc.Name, Line: root.Line, Reason: fmt.Sprintf(
			"l'elemento radice è <%s>, non <FatturaElettronica>: non è una fattura (the root element is not FatturaElettronica)", root.Name)}
	}
	inv := &Invoice{Doc: doc, Root: root, Namespace: root.Namespace()}
	inv.Versione, _ = root.Attr("versione")
	inv.Header = header(root.Child("FatturaElettronicaHeader"))
	pos := 0
	for b := range root.Children("FatturaElettronicaBody") {
		pos++
		inv.Bodies = append(inv.Bodies, body(b, pos))
	}
	return inv, nil
}

func header(h *xmltree.Node) Header {
	dt := h.Child("DatiTrasmissione")
	out := Header{
		Node:                h,
		DatiTrasmissione:    dt,
		IdTrasmittente:      idFiscale(dt.Child("IdTrasmittente")),
		ProgressivoInvio:    dt.Value("ProgressivoInvio"),
		FormatoTrasmissione: dt.Value("FormatoTrasmissione"),
		CodiceDestinatario:  dt.Value("CodiceDestinatario"),
		PECDestinatario:     dt.Value("PECDestinatario"),
		Cedente:             party(h.Child("CedentePrestatore")),
		Cessionario:         party(h.Child("CessionarioCommittente")),
		SoggettoEmittente:   h.Value("SoggettoEmittente"),
	}
	if n := h.Child("RappresentanteFiscale"); n != nil {
		p := party(n)
		out.RappresentanteFiscale = &p
	}
	if n := h.Find("CessionarioCommittente/RappresentanteFiscale"); n != nil {
		p := party(n)
		out.RappresentanteCessionario = &p
	}
	if n := h.Child("TerzoIntermediarioOSoggettoEmittente"); n != nil {
		p := party(n)
		out.TerzoIntermediario = &p
	}
	return out
}

func idFiscale(n *xmltree.Node) IdFiscale {
	if n == nil {
		return IdFiscale{}
	}
	return IdFiscale{IdPaese: n.Value("IdPaese"), IdCodice: n.Value("IdCodice"), Node: n}
}

// party reads a party element. The cessionario's RappresentanteFiscale (1.4.4) has its
// IdFiscaleIVA and names directly under it, without DatiAnagrafici.
func party(n *xmltree.Node) Party {
	if n == nil {
		return Party{}
	}
	da := n.Child("DatiAnagrafici")
	if da == nil {
		da = n
	}
	an := da.Child("Anagrafica")
	if an == nil {
		an = da
	}
	return Party{
		Node:              n,
		IdFiscaleIVA:      idFiscale(da.Child("IdFiscaleIVA")),
		CodiceFiscale:     da.Value("CodiceFiscale"),
		CodiceFiscaleNode: da.Child("CodiceFiscale"),
		Denominazione:     an.Value("Denominazione"),
		Nome:              an.Value("Nome"),
		Cognome:           an.Value("Cognome"),
		RegimeFiscale:     da.Value("RegimeFiscale"),
		Nazione:           n.Value("Sede/Nazione"),
	}
}

func body(b *xmltree.Node, pos int) Body {
	dg := b.Child("DatiGenerali")
	dgd := dg.Child("DatiGeneraliDocumento")
	out := Body{
		Node:                   b,
		Position:               pos,
		TipoDocumento:          dgd.Value("TipoDocumento"),
		Divisa:                 dgd.Value("Divisa"),
		Data:                   dgd.Value("Data"),
		Numero:                 dgd.Value("Numero"),
		ImportoTotaleDocumento: dgd.Value("ImportoTotaleDocumento"),
		Arrotondamento:         dgd.Value("Arrotondamento"),
		Art73:                  dgd.Value("Art73"),
		DatiRitenuta:           dgd.FindAll("DatiRitenuta"),
		DatiOrdineAcquisto:     correlati(dg, "DatiOrdineAcquisto"),
		DatiContratto:          correlati(dg, "DatiContratto"),
		DatiConvenzione:        correlati(dg, "DatiConvenzione"),
		DatiRicezione:          correlati(dg, "DatiRicezione"),
		DatiFattureCollegate:   correlati(dg, "DatiFattureCollegate"),
	}
	for c := range dgd.Children("Causale") {
		out.Causale = append(out.Causale, c.Text())
	}
	for c := range dgd.Children("DatiCassaPrevidenziale") {
		out.DatiCassaPrevidenziale = append(out.DatiCassaPrevidenziale, Cassa{
			Node: c, TipoCassa: c.Value("TipoCassa"), AlCassa: c.Value("AlCassa"),
			ImportoContributoCassa: c.Value("ImportoContributoCassa"), AliquotaIVA: c.Value("AliquotaIVA"),
			Ritenuta: c.Value("Ritenuta"), Natura: c.Value("Natura"),
		})
	}
	out.ScontoMaggiorazione = sconti(dgd)
	dbs := b.Child("DatiBeniServizi")
	// one pass over each block's children: invoices of thousands of lines are common
	for c := range dbs.Children("*") {
		switch c.Name {
		case "DettaglioLinee":
			out.Linee = append(out.Linee, linea(c))
		case "DatiRiepilogo":
			out.Riepiloghi = append(out.Riepiloghi, riepilogo(c))
		}
	}
	for p := range b.Children("DatiPagamento") {
		pg := Pagamento{Node: p, CondizioniPagamento: p.Value("CondizioniPagamento")}
		for d := range p.Children("DettaglioPagamento") {
			pg.Dettagli = append(pg.Dettagli, DettaglioPagamento{
				Node: d, ModalitaPagamento: d.Value("ModalitaPagamento"), DataScadenzaPagamento: d.Value("DataScadenzaPagamento"),
				ImportoPagamento: d.Value("ImportoPagamento"), IBAN: d.Value("IBAN"), CodicePagamento: d.Value("CodicePagamento"),
			})
		}
		out.Pagamenti = append(out.Pagamenti, pg)
	}
	return out
}

func linea(l *xmltree.Node) Linea {
	out := Linea{Node: l}
	for c := l.FirstChild; c != nil; c = c.NextSibling {
		switch c.Name {
		case "NumeroLinea":
			out.NumeroLinea = c.Text()
		case "Descrizione":
			out.Descrizione = c.Text()
		case "Quantita":
			out.Quantita = c.Text()
		case "PrezzoUnitario":
			out.PrezzoUnitario = c.Text()
		case "ScontoMaggiorazione":
			out.Sconti = append(out.Sconti, sconto(c))
		case "PrezzoTotale":
			out.PrezzoTotale = c.Text()
		case "AliquotaIVA":
			out.AliquotaIVA = c.Text()
		case "Ritenuta":
			out.Ritenuta = c.Text()
		case "Natura":
			out.Natura = c.Text()
		}
	}
	return out
}

func riepilogo(r *xmltree.Node) Riepilogo {
	out := Riepilogo{Node: r}
	for c := r.FirstChild; c != nil; c = c.NextSibling {
		switch c.Name {
		case "AliquotaIVA":
			out.AliquotaIVA = c.Text()
		case "Natura":
			out.Natura = c.Text()
		case "Arrotondamento":
			out.Arrotondamento = c.Text()
		case "ImponibileImporto":
			out.ImponibileImporto = c.Text()
		case "Imposta":
			out.Imposta = c.Text()
		case "EsigibilitaIVA":
			out.EsigibilitaIVA = c.Text()
		}
	}
	return out
}

func sconto(s *xmltree.Node) Sconto {
	return Sconto{Node: s, Tipo: s.Value("Tipo"), Percentuale: s.Value("Percentuale"), Importo: s.Value("Importo")}
}

func correlati(dg *xmltree.Node, name string) []DocumentoCorrelato {
	var out []DocumentoCorrelato
	for d := range dg.Children(name) {
		out = append(out, DocumentoCorrelato{
			Node: d, IdDocumento: d.Value("IdDocumento"), Data: d.Value("Data"), NumItem: d.Value("NumItem"),
			CodiceCUP: d.Value("CodiceCUP"), CodiceCIG: d.Value("CodiceCIG"),
		})
	}
	return out
}

func sconti(n *xmltree.Node) []Sconto {
	var out []Sconto
	for s := range n.Children("ScontoMaggiorazione") {
		out = append(out, sconto(s))
	}
	return out
}
