// Package receiptmsg turns a receipt the hub recorded into the hub message that carries it
// to the ente: a message of kind receipt on the ente's route, with a delivery job to its
// payments.receipts phase, ingested in the same transaction that records the receipt.
//
// Wire it as the positions repository's hook:
//
//	db := posdb.New(st, posdb.Options{OnReceipt: receiptmsg.Hook(cfg, receiptmsg.Options{})})
//
// The message's DedupKey and the job's Key are derived from (idPA, receiptId), so a receipt
// is delivered once even if recorded twice by racing hub instances; the engine's retries
// and dead letters take it from there.
package receiptmsg

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"snodo/pkg/message"
	"snodo/pkg/pagopa"
	"snodo/pkg/pagopa/amount"
	"snodo/pkg/pagopa/posdb"
	"snodo/pkg/store"
)

// Phase is the route phase receipts are delivered to (route.PaymentsReceipts).
const Phase = "payments.receipts"

// Headers set on receipt messages.
const (
	HeaderIDPA         = "pagopa.idPA"
	HeaderNoticeNumber = "pagopa.noticeNumber"
	HeaderIUV          = "pagopa.iuv"
	HeaderReceiptID    = "pagopa.receiptId"
	HeaderAmount       = "pagopa.amount"
	HeaderIUPD         = "pagopa.iupd"
	HeaderState        = "pagopa.positionState"
	HeaderAnomalies    = "pagopa.anomalies"
	HeaderPrimitive    = "pagopa.primitive"
)

// Options tune the hook.
type Options struct {
	// Handler is the engine handler of the delivery job (default "deliver").
	Handler string
}

// DedupKey identifies a receipt among the hub's messages.
func DedupKey(idPA, receiptID string) string { return "pagopa:receipt:" + idPA + ":" + receiptID }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Hook returns the repository hook that ingests each new receipt for its ente. Receipts of
// an ente the configuration does not know (it cannot happen through the server, which
// refuses them first) fail the hook, so nothing is recorded without its delivery.
func Hook(cfg *pagopa.Config, o Options) posdb.ReceiptHook {
	if o.Handler == "" {
		o.Handler = "deliver"
	}
	return func(ctx context.Context, tx store.Tx, res *posdb.RecordResult) error {
		r := res.Receipt
		e := cfg.Ente(r.IDPA)
		if e == nil {
			return fmt.Errorf("receiptmsg: ricevuta %s per l'ente %s non configurato (receipt for an unconfigured ente)", r.ReceiptID, r.IDPA)
		}
		routeID := e.RouteID
		if routeID == "" {
			routeID = e.FiscalCode
		}
		name := unsafeName.ReplaceAllString(fmt.Sprintf("RT_%s_%s_%s.xml", r.IDPA, r.CreditorReferenceID, r.ReceiptID), "_")
		if len(name) > 200 {
			name = name[:196] + ".xml"
		}
		h := map[string]string{
			HeaderIDPA:         r.IDPA,
			HeaderNoticeNumber: r.NoticeNumber,
			HeaderIUV:          r.CreditorReferenceID,
			HeaderReceiptID:    r.ReceiptID,
			HeaderAmount:       amount.Format(r.Amount),
			HeaderPrimitive:    r.Primitive,
		}
		if len(r.Anomalies) > 0 {
			h[HeaderAnomalies] = strings.Join(r.Anomalies, ",")
		}
		if res.Position != nil {
			h[HeaderIUPD] = res.Position.IUPD
			h[HeaderState] = string(res.Position.State)
		}
		key := DedupKey(r.IDPA, r.ReceiptID)
		_, _, err := tx.Ingest(store.NewMessage{
			Message: &message.Message{
				Ente: routeID, Flow: message.FlowPayment, Kind: message.KindReceipt, FileName: name,
				Headers: h, DedupKey: key, Source: "pagopa:" + r.Primitive,
				Files: []message.File{{Name: name, Data: r.Raw, ContentType: "text/xml"}},
			},
			Jobs: []store.JobSpec{{Handler: o.Handler, Target: Phase, Key: key}},
			Keys: []string{"pagopa:notice:" + r.IDPA + ":" + r.NoticeNumber, "pagopa:iuv:" + r.IDPA + ":" + r.CreditorReferenceID},
		})
		if err != nil {
			return fmt.Errorf("receiptmsg: ingest receipt %s of %s: %w", r.ReceiptID, r.IDPA, err)
		}
		return nil
	}
}
