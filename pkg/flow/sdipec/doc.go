// Package sdipec is the SdI over PEC as a hub module: with `sdi.channel: pec` in
// snodo.yaml it is the hub's transport to and from the Sistema di Interscambio for both
// invoice cycles, through the hub's own PEC mailbox (sdi.pec).
//
// Sending. The module implements active.SdIPECSender (SendInvoice) and
// passive.SdIPECSender (SendEC): one file per PEC, the file name as subject, sent to
// the SdI's first address (sdi.address, sdi01@pec.fatturapa.it) until the SdI's first
// answer to the hub as a transmitter tells which sdiNN@pec.fatturapa.it box to use
// from then on (remembered in the store, table sdipec_indirizzi, and updated from every
// later answer); an EC goes to the box its invoice came from (the invoice's
// IndirizzoPECSdI header). A message beyond the 30 MB the SdI admits per PEC
// (settings.max_message_size) is refused before anything is sent. Each PEC sent is
// followed by a job (sdipec.consegna, target sdi.pec, retried under sdi.retry) that
// completes when the provider's avvenuta-consegna arrives; an errore-consegna or a
// non-accettazione makes it send the file again (the SdI never got it), a receipt that
// never comes dead-letters it for an operator, since the SdI may hold the file.
//
// Receiving. A receiver reads the mailbox (the pec channel kind: envelope parsed and
// its signature checked, the mailbox acknowledged only after the store committed) and
// dispatches what the SdI sends: an invoice with its MT → the passive module's inbound
// path, exactly as RiceviFatture (one message per IdentificativoSdI, a redelivery
// recognised), then the invoice gets the SdI address it came from and the PEC envelope
// as legal proof; RC, NS, MC, NE, AT and DT of the active cycle →
// active.(*Module).ReceiveNotification (the invoice is correlated by file name with
// the first one, which brings its IdentificativoSdI); DT of a passive invoice → the
// passive module; SE → the EC it refuses and its invoice move to esito-scartato and the
// SE is relayed to the ente (an adapter here: see scarto.go). The provider's receipts
// resolve the sdipec.consegna jobs. Mail from anyone but an SdI box (sdiNN at the
// domain of sdi.address), or that is not an SdI message, is quarantined in the mailbox
// with the reason.
//
// The mailbox must be the hub's own for the SdI: no route phase may read it (checked at
// start).
package sdipec
