// Package active is the active invoice cycle as a hub module: an ente submits an
// invoice, the hub checks it as the SdI would, names it, signs it, sends it to the SdI
// with SdIRiceviFile exactly once, and relays the SdI's notifications (RC, NS, MC, NE,
// DT, AT) back to the ente.
//
// Submit: the ente's active.submit receive phase (fs, ftp, pec, ws: the ente is the
// route's; a PEC is matched by its sender against ente.pec) or the API
// (Module.SubmitInvoice, for REST and the SOAP RiceviFileCA). Each submission is one
// message (flow active, kind invoice) with a RicevutaComunicazione derived from its id
// (snodowsdl.RicevutaFromMessageID).
//
// Check (job active.check): the file that will be sent (signed by the hub when the
// route asks for it) goes through the FatturaPA validator: signature, XSD, every SdI
// content check. Duplicates are decided inside the committing transaction, under a
// lock on PostgreSQL, so two submissions checked at once cannot both pass: same
// invoice (cedente, number, year) of an earlier one not discarded → 00404; same file
// name → 00002. A file that fails is not sent: state rifiutata-validazione, and the ente
// gets an FA02 outcome with the SdI codes in Italian on active.notifications. A file
// that passes gets its SdI name (the ente's, when compliant; else
// IT<IdCodice>_<progressivo> from store.NextCounter, never repeated), state da-inviare,
// an FA00 outcome, and the send job.
//
// Send (job active.send): see send.go for the design that never sends a file twice
// once the SdI accepted it, including after a crash between the SdI's answer and the
// commit. EI02 and network failures are retried; EI01 and EI03 are dead-lettered with
// an alert.
//
// Notifications: TrasmissioneFatture at /sdi/TrasmissioneFatture (restricted to
// sdi.client_cns). Each notification is stored before the SdI gets its HTTP 202 (one
// message per IdentificativoSdI and file name: a redelivery is recognised), then the job
// active.notify correlates it to its invoice (by IdentificativoSdI, else by the invoice
// file name it names), moves the invoice along the state machine of states.go, renders
// an NS as HTML with the official stylesheet, and delivers it on the ente's
// active.notifications phase.
//
// Internal invoices (the CodiceDestinatario is an office of an ente this hub serves)
// still go through the SdI; the passive module receives them. Both messages carry
// CorrelationID sdi:<IdentificativoSdI>, so either side leads to the other.
package active
