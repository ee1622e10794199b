package rules

import "strings"

// elements are the element names of the FatturaPA 1.2.3 schema (Schema_VFPR12_v1.2.3.xsd,
// every xs:element name) plus ds:Signature. Compile refuses a path naming anything else:
// a misspelt element would never match, and a rule requiring it would refuse every
// invoice.
var elements = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range []string{
		"ABI AlCassa AlboProfessionale AlgoritmoCompressione AliquotaIVA AliquotaRitenuta Allegati",
		"AltriDatiGestionali Anagrafica Arrotondamento Art73 Attachment BIC Beneficiario BolloVirtuale CAB",
		"CAP CFQuietanzante CapitaleSociale Causale CausalePagamento CausaleTrasporto CedentePrestatore",
		"CessionarioCommittente CodEORI CodUfficioPostale CodiceArticolo CodiceCIG CodiceCUP",
		"CodiceCommessaConvenzione CodiceDestinatario CodiceFiscale CodicePagamento CodiceTipo CodiceValore",
		"Cognome CognomeQuietanzante Comune CondizioniPagamento Contatti ContattiTrasmittente Data DataDDT",
		"DataDecorrenzaPenale DataFatturaPrincipale DataFinePeriodo DataInizioPeriodo DataInizioTrasporto",
		"DataIscrizioneAlbo DataLimitePagamentoAnticipato DataOraConsegna DataOraRitiro",
		"DataRiferimentoTerminiPagamento DataScadenzaPagamento DatiAnagrafici DatiAnagraficiVettore",
		"DatiBeniServizi DatiBollo DatiCassaPrevidenziale DatiContratto DatiConvenzione DatiDDT",
		"DatiFattureCollegate DatiGenerali DatiGeneraliDocumento DatiOrdineAcquisto DatiPagamento",
		"DatiRicezione DatiRiepilogo DatiRitenuta DatiSAL DatiTrasmissione DatiTrasporto DatiVeicoli",
		"Denominazione Descrizione DescrizioneAttachment DettaglioLinee DettaglioPagamento Divisa Email",
		"EsigibilitaIVA FatturaElettronica FatturaElettronicaBody FatturaElettronicaHeader FatturaPrincipale",
		"Fax FormatoAttachment FormatoTrasmissione GiorniTerminiPagamento IBAN IdCodice IdDocumento",
		"IdFiscaleIVA IdPaese IdTrasmittente ImponibileCassa ImponibileImporto Importo ImportoBollo",
		"ImportoContributoCassa ImportoPagamento ImportoRitenuta ImportoTotaleDocumento Imposta Indirizzo",
		"IndirizzoResa IscrizioneREA IstitutoFinanziario MezzoTrasporto ModalitaPagamento Natura Nazione",
		"Nome NomeAttachment NomeQuietanzante NumItem Numero NumeroCivico NumeroColli NumeroDDT",
		"NumeroFatturaPrincipale NumeroIscrizioneAlbo NumeroLicenzaGuida NumeroLinea NumeroREA",
		"PECDestinatario PenalitaPagamentiRitardati Percentuale PesoLordo PesoNetto PrezzoTotale",
		"PrezzoUnitario ProgressivoInvio Provincia ProvinciaAlbo Quantita RappresentanteFiscale",
		"RegimeFiscale RiferimentoAmministrazione RiferimentoData RiferimentoFase RiferimentoNormativo",
		"RiferimentoNumero RiferimentoNumeroLinea RiferimentoTesto Ritenuta ScontoMaggiorazione",
		"ScontoPagamentoAnticipato Sede Signature SocioUnico SoggettoEmittente SpeseAccessorie",
		"StabileOrganizzazione StatoLiquidazione Telefono TerzoIntermediarioOSoggettoEmittente Tipo",
		"TipoCassa TipoCessionePrestazione TipoDato TipoDocumento TipoResa TipoRitenuta Titolo",
		"TitoloQuietanzante TotalePercorso Ufficio UnitaMisura UnitaMisuraPeso",
	} {
		for _, n := range strings.Fields(line) {
			m[n] = true
		}
	}
	return m
}()
