// Package passive is the passive invoice cycle as a hub module: SdI → hub → the ente's
// protocol and accounting systems → Esito Committente → SdI.
//
// In: RicezioneFatture at /sdi/RicezioneFatture. RiceviFatture stores the invoice with
// its MT metadata as one message (flow passive, kind invoice, DedupKey
// sdi:<IdentificativoSdI>:invoice, lookup keys sdi:<id> and file:<NomeFile>) with its
// check job, in one transaction, before the SdI gets ER01. The ente is the one serving
// the CodiceDestinatario (route.Routes.ByOffice); an office no ente serves is stored as
// non-instradata with a dead-lettered check job, replayable once the route is fixed.
// NotificaDecorrenzaTermini stores the DT and a job correlates it to the invoice.
//
// Check (job passive.check): signature, XSD and SdI content checks (recorded on the
// timeline: the SdI already accepted the file), then the ente's pre-validation rules.
// The unwrapped XML of a signed file and, when a delivery carries it (or the channel is
// PEC), the HTML rendering made with the official stylesheet are stored as files of the
// message. Failed rules with on_failure reject make the hub write an EC02 per invoice
// of the file (Descrizione: the rules' messages), send it to the SdI and tell the ente;
// the invoice is still delivered, marked, unless deliver_rejected is false.
//
// Delivery (job passive.deliver): protocol then accounting, each on its own channel, or
// one delivery (single_delivery, or only one phase configured). The accounting delivery
// starts after the protocol one and carries NumeroProtocollo/DataProtocollo returned by
// the protocol system. File names are the SdI's, so redeliveries overwrite.
//
// Esito Committente: from the ente's passive.outcome channel (an <invoice>_EC_nnn.xml
// file), from the API (Module.SubmitDecision, Module.SubmitECFile), from the hub itself (pre-validation EC02,
// automatic EC01 after auto_accept_days). Checked against MessaggiTypes and against the
// invoice it names (known, this ente's, reference, not after the DT, not answered
// already); refusals go back to the ente on passive.notifications. Sent with
// NotificaEsito: ES01 accepted; ES00 the SE is stored and relayed; ES02 and network
// failures retried.
//
// States: one explicit state machine (states.go) for the invoice, every transition a
// SetState on the timeline; `snodo messages show` prints it. Examiner and Plan are
// shared with `snodo routes dry-run`.
package passive
