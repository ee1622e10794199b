// Package pafornode holds the XML messages of pagoPA's paForNode service (the SOAP 1.1
// service a creditor's intermediary exposes to the pagoPA Node) and a small SOAP
// envelope codec for them, shared by the hub's server (package paserver) and the Node
// simulator (package nodesim).
//
// Element and type names follow paForNode.xsd (embedded in snodo/xsd/pagopa): V1 elements
// end in Req/Res, V2 and demand elements in Request/Response; child elements are
// unqualified. Decoding is lenient the way the Node needs it: unknown elements (newer
// optional ones) are ignored, and Check methods verify what the schema requires.
// Amounts are the schema's decimal strings ("10.00"); package amount converts them.
package pafornode

import "encoding/xml"

// Namespaces.
const (
	NS           = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
	NSNodeForPsp = "http://pagopa-api.pagopa.gov.it/node/nodeForPsp.xsd" // seen on some mock-ec samples
	NSSOAP11     = "http://schemas.xmlsoap.org/soap/envelope/"
	NSSOAP12     = "http://www.w3.org/2003/05/soap-envelope"
)

// Operations (SOAPAction values) and the body elements that carry them.
const (
	OpVerify       = "paVerifyPaymentNotice"
	OpGetPayment   = "paGetPayment"
	OpGetPaymentV2 = "paGetPaymentV2"
	OpSendRT       = "paSendRT"
	OpSendRTV2     = "paSendRTV2"
	OpDemand       = "paDemandPaymentNotice"
)

// Element names of requests and responses per operation.
var (
	RequestElement = map[string]string{
		OpVerify: "paVerifyPaymentNoticeReq", OpGetPayment: "paGetPaymentReq", OpGetPaymentV2: "paGetPaymentV2Request",
		OpSendRT: "paSendRTReq", OpSendRTV2: "paSendRTV2Request", OpDemand: "paDemandPaymentNoticeRequest",
	}
	ResponseElement = map[string]string{
		OpVerify: "paVerifyPaymentNoticeRes", OpGetPayment: "paGetPaymentRes", OpGetPaymentV2: "paGetPaymentV2Response",
		OpSendRT: "paSendRTRes", OpSendRTV2: "paSendRTV2Response", OpDemand: "paDemandPaymentNoticeResponse",
	}
)

// Name is the qualified name of a paForNode element, for the XMLName of a message.
func Name(element string) xml.Name { return xml.Name{Space: NS, Local: element} }

// OperationOf returns the operation whose request element is name, or "".
func OperationOf(element string) string {
	for op, el := range RequestElement {
		if el == element {
			return op
		}
	}
	return ""
}

// OperationOfResponse returns the operation whose response element is name, or "".
func OperationOfResponse(element string) string {
	for op, el := range ResponseElement {
		if el == element {
			return op
		}
	}
	return ""
}

// Header is what every request carries: who the Node is calling.
type Header struct {
	IDPA       string `xml:"idPA"`
	IDBrokerPA string `xml:"idBrokerPA"`
	IDStation  string `xml:"idStation"`
}

// QrCode identifies a notice: the creditor's fiscal code and the notice number.
type QrCode struct {
	FiscalCode   string `xml:"fiscalCode"`
	NoticeNumber string `xml:"noticeNumber"`
}

// VerifyRequest is paVerifyPaymentNoticeReq.
type VerifyRequest struct {
	XMLName xml.Name
	Header
	QrCode QrCode `xml:"qrCode"`
}

// GetPaymentRequest is paGetPaymentReq and paGetPaymentV2Request (same content).
type GetPaymentRequest struct {
	XMLName xml.Name
	Header
	QrCode       QrCode `xml:"qrCode"`
	Amount       string `xml:"amount,omitempty"`
	PaymentNote  string `xml:"paymentNote,omitempty"`
	TransferType string `xml:"transferType,omitempty"` // POSTAL or PAGOPA
	DueDate      string `xml:"dueDate,omitempty"`
}

// SendRTRequest is paSendRTReq and paSendRTV2Request.
type SendRTRequest struct {
	XMLName xml.Name
	Header
	Receipt Receipt `xml:"receipt"`
}

// DemandRequest is paDemandPaymentNoticeRequest: a spontaneous payment started at a PSP.
type DemandRequest struct {
	XMLName xml.Name
	Header
	IDServizio                   string `xml:"idServizio"`
	IDSoggettoServizio           string `xml:"idSoggettoServizio"`
	DatiSpecificiServizioRequest string `xml:"datiSpecificiServizioRequest"` // base64
}

// Receipt is ctReceipt / ctReceiptV2 (V2 adds paymentNote, primaryCiIncurredFee,
// idBundle, idCiBundle and per-transfer companyName / MBDAttachment).
type Receipt struct {
	ReceiptID            string            `xml:"receiptId"`
	NoticeNumber         string            `xml:"noticeNumber"`
	FiscalCode           string            `xml:"fiscalCode"`
	Outcome              string            `xml:"outcome"`
	CreditorReferenceID  string            `xml:"creditorReferenceId"`
	PaymentAmount        string            `xml:"paymentAmount"`
	Description          string            `xml:"description"`
	CompanyName          string            `xml:"companyName"`
	OfficeName           string            `xml:"officeName,omitempty"`
	Debtor               Subject           `xml:"debtor"`
	Transfers            []ReceiptTransfer `xml:"transferList>transfer"`
	IDPSP                string            `xml:"idPSP"`
	PSPFiscalCode        string            `xml:"pspFiscalCode,omitempty"`
	PSPPartitaIVA        string            `xml:"pspPartitaIVA,omitempty"`
	PSPCompanyName       string            `xml:"PSPCompanyName"`
	IDChannel            string            `xml:"idChannel"`
	ChannelDescription   string            `xml:"channelDescription"`
	Payer                *Subject          `xml:"payer,omitempty"`
	PaymentMethod        string            `xml:"paymentMethod,omitempty"`
	PaymentNote          string            `xml:"paymentNote,omitempty"` // V2
	Fee                  string            `xml:"fee,omitempty"`
	PrimaryCiIncurredFee string            `xml:"primaryCiIncurredFee,omitempty"` // V2
	IDBundle             string            `xml:"idBundle,omitempty"`             // V2
	IDCiBundle           string            `xml:"idCiBundle,omitempty"`           // V2
	PaymentDateTime      string            `xml:"paymentDateTime,omitempty"`
	ApplicationDate      string            `xml:"applicationDate,omitempty"`
	TransferDate         string            `xml:"transferDate,omitempty"`
	Metadata             *Metadata         `xml:"metadata,omitempty"`
	StandIn              string            `xml:"standIn,omitempty"`
}

// ReceiptTransfer is ctTransferPA / ctTransferPAReceiptV2.
type ReceiptTransfer struct {
	IDTransfer            string    `xml:"idTransfer"`
	TransferAmount        string    `xml:"transferAmount"`
	FiscalCodePA          string    `xml:"fiscalCodePA"`
	CompanyName           string    `xml:"companyName,omitempty"` // V2
	IBAN                  string    `xml:"IBAN,omitempty"`
	MBDAttachment         string    `xml:"MBDAttachment,omitempty"` // V2: the stamp, base64
	RemittanceInformation string    `xml:"remittanceInformation"`
	TransferCategory      string    `xml:"transferCategory"`
	Metadata              *Metadata `xml:"metadata,omitempty"`
}

// Subject is ctSubject: a debtor or a payer.
type Subject struct {
	UniqueIdentifier    UniqueIdentifier `xml:"uniqueIdentifier"`
	FullName            string           `xml:"fullName"`
	StreetName          string           `xml:"streetName,omitempty"`
	CivicNumber         string           `xml:"civicNumber,omitempty"`
	PostalCode          string           `xml:"postalCode,omitempty"`
	City                string           `xml:"city,omitempty"`
	StateProvinceRegion string           `xml:"stateProvinceRegion,omitempty"`
	Country             string           `xml:"country,omitempty"`
	Email               string           `xml:"e-mail,omitempty"`
}

// UniqueIdentifier is ctEntityUniqueIdentifier: F (natural) or G (legal person) and the code.
type UniqueIdentifier struct {
	Type  string `xml:"entityUniqueIdentifierType"`
	Value string `xml:"entityUniqueIdentifierValue"`
}

// Metadata is ctMetadata (1–15 entries).
type Metadata struct {
	Entries []MapEntry `xml:"mapEntry"`
}

// MapEntry is ctMapEntry.
type MapEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// Response is ctResponse: the outcome and, when KO, the fault.
type Response struct {
	Outcome string     `xml:"outcome"`
	Fault   *FaultBean `xml:"fault,omitempty"`
}

// FaultBean is ctFaultBean.
type FaultBean struct {
	FaultCode           string `xml:"faultCode"`
	FaultString         string `xml:"faultString"`
	ID                  string `xml:"id"`
	Description         string `xml:"description,omitempty"`
	Serial              *int   `xml:"serial,omitempty"`
	OriginalFaultCode   string `xml:"originalFaultCode,omitempty"`
	OriginalFaultString string `xml:"originalFaultString,omitempty"`
	OriginalDescription string `xml:"originalDescription,omitempty"`
}

// VerifyResponse is paVerifyPaymentNoticeRes.
type VerifyResponse struct {
	XMLName xml.Name
	Response
	PaymentList        *PaymentList `xml:"paymentList,omitempty"`
	PaymentDescription string       `xml:"paymentDescription,omitempty"`
	FiscalCodePA       string       `xml:"fiscalCodePA,omitempty"`
	CompanyName        string       `xml:"companyName,omitempty"`
	OfficeName         string       `xml:"officeName,omitempty"`
}

// PaymentList is ctPaymentOptionsDescriptionListPA: exactly one option.
type PaymentList struct {
	Options []PaymentOptionDescription `xml:"paymentOptionDescription"`
}

// PaymentOptionDescription is ctPaymentOptionDescriptionPA.
type PaymentOptionDescription struct {
	Amount            string `xml:"amount"`
	Options           string `xml:"options"` // EQ
	DueDate           string `xml:"dueDate,omitempty"`
	DetailDescription string `xml:"detailDescription,omitempty"`
	AllCCP            bool   `xml:"allCCP"`
}

// GetPaymentResponse is paGetPaymentRes and paGetPaymentV2Response.
type GetPaymentResponse struct {
	XMLName xml.Name
	Response
	Data *PaymentData `xml:"data,omitempty"`
}

// PaymentData is ctPaymentPA / ctPaymentPAV2.
type PaymentData struct {
	CreditorReferenceID string     `xml:"creditorReferenceId"`
	PaymentAmount       string     `xml:"paymentAmount"`
	DueDate             string     `xml:"dueDate"`
	RetentionDate       string     `xml:"retentionDate,omitempty"`
	LastPayment         *bool      `xml:"lastPayment,omitempty"`
	Description         string     `xml:"description"`
	CompanyName         string     `xml:"companyName,omitempty"` // required in V2
	OfficeName          string     `xml:"officeName,omitempty"`
	Debtor              Subject    `xml:"debtor"`
	Transfers           []Transfer `xml:"transferList>transfer"`
	Metadata            *Metadata  `xml:"metadata,omitempty"`
}

// Transfer is ctTransferPA / ctTransferPAV2 (V2: companyName, and a stamp request in
// place of the IBAN).
type Transfer struct {
	IDTransfer            int           `xml:"idTransfer"`
	TransferAmount        string        `xml:"transferAmount"`
	FiscalCodePA          string        `xml:"fiscalCodePA"`
	CompanyName           string        `xml:"companyName,omitempty"`
	IBAN                  string        `xml:"IBAN,omitempty"`
	RichiestaMarcaDaBollo *MarcaDaBollo `xml:"richiestaMarcaDaBollo,omitempty"`
	RemittanceInformation string        `xml:"remittanceInformation"`
	TransferCategory      string        `xml:"transferCategory"`
	Metadata              *Metadata     `xml:"metadata,omitempty"`
}

// MarcaDaBollo is ctRichiestaMarcaDaBollo.
type MarcaDaBollo struct {
	HashDocumento      string `xml:"hashDocumento"`
	TipoBollo          string `xml:"tipoBollo"`
	ProvinciaResidenza string `xml:"provinciaResidenza"`
}

// SendRTResponse is paSendRTRes and paSendRTV2Response.
type SendRTResponse struct {
	XMLName xml.Name
	Response
}

// DemandResponse is paDemandPaymentNoticeResponse.
type DemandResponse struct {
	XMLName xml.Name
	Response
	QrCode             *QrCode      `xml:"qrCode,omitempty"`
	PaymentList        *PaymentList `xml:"paymentList,omitempty"`
	PaymentDescription string       `xml:"paymentDescription,omitempty"`
	FiscalCodePA       string       `xml:"fiscalCodePA,omitempty"`
	CompanyName        string       `xml:"companyName,omitempty"`
	OfficeName         string       `xml:"officeName,omitempty"`
}
