// Package pec reads PEC (posta elettronica certificata) messages as a mailbox receives
// them: the transport envelope (busta di trasporto), the anomaly envelope (busta di
// anomalia) and every receipt and notice (accettazione, non-accettazione,
// presa-in-carico, avvenuta-consegna, errore-consegna, preavviso-errore-consegna,
// rilevazione-virus).
//
// Parse classifies a message by its X-Trasporto / X-Ricevuta headers and the signed
// daticert.xml, verifies the provider's S/MIME signature over the exact bytes received
// against a configured trust store, extracts postacert.eml (the original message) with
// its attachments, and cross-checks the unsigned headers against the signed daticert:
// a daticert that disagrees with the headers (another msgid, another sender, another
// type) is reported, because one of the two was altered. Every problem is listed with a
// code and a reason in Italian then English, so a hub can quarantine the message and an
// operator can read why.
//
// Parsing is bounded: a size cap (a PEC is at most 30 MB), a MIME depth and part cap
// (nested multipart bombs), and every XML document passes xmlsafe first.
//
// Sub-packages: rawmime (the MIME tree with exact byte spans), daticert, smime
// (signatures and trust), compose (the mail the hub sends), gestore (what a provider
// emits: envelopes and receipts), mailbox (SMTP submission and the IMAP consumer) and
// sim (a PEC provider simulator).
package pec
