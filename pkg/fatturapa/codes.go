package fatturapa

// SdI codes and the SdI's own description of each, as the SdI writes them in
// NotificaScarto/RicevutaScarto. Source, unless a comment says otherwise: "Elenco dei
// controlli effettuati sul file fattura del Sistema di Interscambio", version 2.0 of
// 31 January 2025 (AdE), which is also the source of the pseudocode each check follows.
const (
	CodeNomeFile          = "00001"
	CodeNomeFileDuplicato = "00002"
	CodeDimensioni        = "00003"
	CodeFirmaScaduta      = "00100"
	CodeFirmaRevocata     = "00101"
	CodeFirmaNonValida    = "00102"
	CodeRiferimentoTempo  = "00103"
	CodeCANonAffidabile   = "00104"
	CodeTempoSuccessivo   = "00105"
	CodeFileCorrotto      = "00106"
	CodeCertificato       = "00107"
	CodeFormato           = "00200"
	CodeTroppiErrori      = "00201"
	CodeFatturaDuplicata  = "00404"
	CodeDuplicataLotto    = "00409"
	// CodeEsitoCommittente marks the failures of an ente's own pre-validation rules:
	// they are no SdI code, they become the ente's rejection (EC02).
	CodeEsitoCommittente = "EC02"
)

// MaxFormatErrors is how many format (XSD) errors the SdI reports before giving up
// with 00201.
const MaxFormatErrors = 50

// descriptions holds the SdI's text for each code.
var descriptions = map[string]string{
	"00001": "Nome file non valido",
	"00002": "Nome file duplicato",
	"00003": "Le dimensioni del file superano quelle ammesse",
	"00100": "Certificato di firma scaduto",
	"00101": "Certificato di firma revocato",
	"00102": "La firma elettronica apposta al file non risulta valida",
	"00103": "Alla firma elettronica apposta al file manca il riferimento temporale",
	"00104": "La CA (Certification Authority) che ha emesso il certificato di firma non risulta nell'elenco delle CA affidabili",
	"00105": "Il riferimento temporale associato alla firma elettronica apposta al file è successivo alla data di ricezione del file",
	"00106": "File / archivio vuoto o corrotto",
	"00107": "Il certificato di firma non è valido",
	"00200": "File non conforme al formato",
	"00201": "Non è possibile procedere con ulteriori controlli, perché gli errori di formato presenti nel file superano il massimo previsto (50)",
	"00300": "1.1.1.2 <IdCodice> non valido",
	"00301": "1.2.1.1.2 <IdCodice> non valido",
	"00302": "1.2.1.2 <CodiceFiscale> non valido",
	"00303": "1.3.1.1.2 <IdCodice> o 1.4.4.1.2 <IdCodice> non valido",
	"00304": "1.3.1.2 <CodiceFiscale> non valido",
	"00305": "1.4.1.1.2 <IdCodice> non valido",
	"00306": "1.4.1.2 <CodiceFiscale> non valido",
	// 00313: not in the Elenco v2.0; wording of Allegato A 1.9.1 (fatture ordinarie) as
	// quoted by third parties, check from the AdE tabular representation v1.2.2.
	"00313": "1.1.4 <CodiceDestinatario> può essere valorizzato con \"XXXXXXX\" solo per fatture emesse verso soggetti non residenti " +
		"(1.4.1.1 <IdFiscaleIVA> deve essere valorizzato e 1.4.1.1.1 <IdPaese> deve essere diverso da \"IT\")",
	// 00330: the AdE tabular representation v1.2.2 (printed "0330") gives the check but
	// not the SdI's wording; this text is ours.
	"00330": "1.1.6 <PECDestinatario> non ammesso: è una casella PEC del Sistema di Interscambio",
	"00400": "2.2.1.14 <Natura> non presente a fronte di 2.2.1.12 <AliquotaIVA> pari a zero",
	"00401": "2.2.1.14 <Natura> presente a fronte di 2.2.1.12 <AliquotaIVA> diversa da zero",
	"00403": "2.1.1.3 <Data> successiva alla data di ricezione",
	"00404": "Fattura duplicata",
	"00409": "Fattura duplicata nel lotto",
	"00411": "2.1.1.5 <DatiRitenuta> non presente a fronte di almeno un blocco 2.2.1 <DettaglioLinee> con 2.2.1.13 <Ritenuta> uguale a SI",
	"00413": "2.1.1.7.7 <Natura> non presente a fronte di 2.1.1.7.5 <AliquotaIVA> pari a zero",
	"00414": "2.1.1.7.7 <Natura> presente a fronte di 2.1.1.7.5 <AliquotaIVA> diversa da zero",
	"00415": "2.1.1.5 <DatiRitenuta> non presente a fronte di 2.1.1.7.6 <Ritenuta> uguale a SI",
	"00417": "1.4.1.1 <IdFiscaleIVA> e 1.4.1.2 <CodiceFiscale> non valorizzati (almeno uno dei due deve essere valorizzato)",
	"00418": "2.1.1.3 <Data> antecedente a 2.1.6.3 <Data>",
	"00419": "2.2.2 <DatiRiepilogo> non presente in corrispondenza di almeno un valore di 2.1.1.7.5 <AliquotaIVA> o 2.2.1.12 <AliquotaIVA>",
	"00420": "2.2.2.2 <Natura> con valore di tipo N6 a fronte di 2.2.2.7 <EsigibilitaIVA> uguale a S (scissione pagamenti)",
	"00421": "2.2.2.6 <Imposta> non calcolato secondo le regole definite nelle specifiche tecniche",
	"00422": "2.2.2.5 <ImponibileImporto> non calcolato secondo le regole definite nelle specifiche tecniche",
	"00423": "2.2.1.11 <PrezzoTotale> non calcolato secondo le regole definite nelle specifiche tecniche",
	"00424": "2.2.1.12 <AliquotaIVA> o 2.2.2.1 <AliquotaIVA> o 2.1.1.7.5 <AliquotaIVA> non indicata in termini percentuali",
	"00425": "2.1.1.4 <Numero> non contenente caratteri numerici",
	// 00426: not in the Elenco v2.0; wording of the SdI lists transcribed by third parties.
	"00426": "1.1.6 <PECDestinatario> non valorizzato a fronte di 1.1.4 <CodiceDestinatario> con valore 0000000, " +
		"o 1.1.6 <PECDestinatario> valorizzato a fronte di 1.1.4 <CodiceDestinatario> con valore diverso da 0000000",
	"00427": "1.1.4 <CodiceDestinatario> di 7 caratteri a fronte di 1.1.3 <FormatoTrasmissione> con valore \"FPA12\" " +
		"o 1.1.4 <CodiceDestinatario> di 6 caratteri a fronte di 1.1.3 <FormatoTrasmissione> con valore \"FPR12\" o \"FSM10\"",
	"00428": "1.1.3 <FormatoTrasmissione> non coerente con il valore dell'attributo VERSIONE",
	"00429": "2.2.2.2 <Natura> non presente a fronte di 2.2.2.1 <AliquotaIVA> pari a zero",
	"00430": "2.2.2.2 <Natura> presente a fronte di 2.2.2.1 <AliquotaIVA> diversa da zero",
	"00437": "2.1.1.8.2 <Percentuale> e 2.1.1.8.3 <Importo> non presenti a fronte di 2.1.1.8.1 <Tipo> valorizzato",
	"00438": "2.2.1.10.2 <Percentuale> e 2.2.1.10.3 <Importo> non presenti a fronte di 2.2.1.10.1 <Tipo> valorizzato",
	"00443": "Non c'è corrispondenza tra i valori indicati nell'elemento 2.2.1.12 <AliquotaIVA> o 2.1.1.7.5 <AliquotaIVA> e quelli dell'elemento 2.2.2.1 <AliquotaIVA>",
	"00444": "Non c'è corrispondenza tra i valori indicati nell'elemento 2.2.1.14 <Natura> o 2.1.1.7.7 <Natura> e quelli dell'elemento 2.2.2.2 <Natura>",
	"00445": "Non è più ammesso il valore generico N2, N3 o N6 come codice natura dell'operazione",
	"00471": "Per il valore indicato nell'elemento 2.1.1.1 <TipoDocumento> il cedente/prestatore non può essere uguale al cessionario/committente",
	"00472": "Per il valore indicato nell'elemento 2.1.1.1 <TipoDocumento> il cedente/prestatore deve essere uguale al cessionario/committente",
	"00473": "Per il valore indicato nell'elemento 2.1.1.1 <TipoDocumento> il valore nell'elemento 1.2.1.1.1 <IdPaese> non è ammesso",
	"00474": "Per il valore indicato nell'elemento 2.1.1.1 <TipoDocumento> non sono ammesse linee di dettaglio con l'elemento 2.2.1.12 <AliquotaIVA> contenente valore zero",
	"00475": "Per il valore indicato nell'elemento 2.1.1.1 <TipoDocumento> deve essere presente l'elemento 1.4.1.1 <IdFiscaleIVA> del cessionario/committente",
	"00476": "Gli elementi 1.2.1.1.1 <IdPaese> e 1.4.1.1.1 <IdPaese> non possono essere entrambi valorizzati con codice diverso da IT",
}

// Description returns the SdI's text for code, "" for a code this package does not
// produce.
func Description(code string) string { return descriptions[code] }
