package paserver

import (
	"encoding/xml"
	"fmt"

	"snodo/pkg/pagopa/pafornode"
)

// Fault codes the server answers (pagoPA "Gestione degli errori", issuer PAA = the
// creditor side).
const (
	PaaPagamentoSconosciuto  = "PAA_PAGAMENTO_SCONOSCIUTO"   // no position with the notice
	PaaPagamentoScaduto      = "PAA_PAGAMENTO_SCADUTO"       // past its expiry date
	PaaPagamentoAnnullato    = "PAA_PAGAMENTO_ANNULLATO"     // cancelled by the ente
	PaaPagamentoDuplicato    = "PAA_PAGAMENTO_DUPLICATO"     // already paid
	PaaPagamentoInCorso      = "PAA_PAGAMENTO_IN_CORSO"      // a payment is in progress (not used: the Node holds the token)
	PaaReceiptDuplicata      = "PAA_RECEIPT_DUPLICATA"       // receiptId reused with different content
	PaaSemantica             = "PAA_SEMANTICA"               // request understood but not applicable
	PaaSintassiXSD           = "PAA_SINTASSI_XSD"            // request does not match paForNode.xsd
	PaaSystemError           = "PAA_SYSTEM_ERROR"            // the hub failed: the Node should retry
	PaaIDDominioErrato       = "PAA_ID_DOMINIO_ERRATO"       // idPA not served by the hub
	PaaIDIntermediarioErrato = "PAA_ID_INTERMEDIARIO_ERRATO" // idBrokerPA is not the hub's
	PaaStazioneIntErrata     = "PAA_STAZIONE_INT_ERRATA"     // idStation unknown or not the ente's
)

// faultStrings are the short texts of each code (faultString); the description says
// what in particular.
var faultStrings = map[string]string{
	PaaPagamentoSconosciuto:  "Pagamento in attesa risulta sconosciuto all'Ente Creditore (unknown payment)",
	PaaPagamentoScaduto:      "Pagamento in attesa risulta scaduto all'Ente Creditore (payment expired)",
	PaaPagamentoAnnullato:    "Pagamento in attesa risulta annullato all'Ente Creditore (payment cancelled)",
	PaaPagamentoDuplicato:    "Pagamento in attesa risulta concluso all'Ente Creditore (payment already made)",
	PaaPagamentoInCorso:      "Pagamento in attesa risulta in corso all'Ente Creditore (payment in progress)",
	PaaReceiptDuplicata:      "Ricevuta già registrata con dati diversi (receipt already recorded with different data)",
	PaaSemantica:             "Errore semantico (semantic error)",
	PaaSintassiXSD:           "Errore di sintassi XSD (XSD syntax error)",
	PaaSystemError:           "Errore generico dell'Ente Creditore, riprovare (creditor system error, retry)",
	PaaIDDominioErrato:       "Identificativo dominio sconosciuto (unknown creditor id)",
	PaaIDIntermediarioErrato: "Identificativo intermediario errato (wrong broker id)",
	PaaStazioneIntErrata:     "Stazione intermediario errata (wrong station)",
}

// Fault is a KO answer: outcome KO with a faultBean.
type Fault struct {
	Code        string
	Description string // detail for the Node's operator, Italian then English
	ID          string // who raised it: the ente (idPA) or the broker
}

func (f *Fault) Error() string { return f.Code + ": " + f.Description }

func fault(code, id, format string, args ...any) *Fault {
	return &Fault{Code: code, ID: id, Description: fmt.Sprintf(format, args...)}
}

func (f *Fault) bean() *pafornode.FaultBean {
	return &pafornode.FaultBean{FaultCode: f.Code, FaultString: faultStrings[f.Code], ID: f.ID, Description: f.Description}
}

// koResponse is the operation's response carrying the fault.
func koResponse(op string, f *Fault) any {
	r := pafornode.Response{Outcome: "KO", Fault: f.bean()}
	name := pafornode.Name(pafornode.ResponseElement[op])
	switch op {
	case pafornode.OpVerify:
		return &pafornode.VerifyResponse{XMLName: name, Response: r}
	case pafornode.OpGetPayment, pafornode.OpGetPaymentV2:
		return &pafornode.GetPaymentResponse{XMLName: name, Response: r}
	case pafornode.OpDemand:
		return &pafornode.DemandResponse{XMLName: name, Response: r}
	default:
		return &pafornode.SendRTResponse{XMLName: name, Response: r}
	}
}

func xmlName(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }
