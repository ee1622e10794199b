package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// ResolveAwait completes a delivery waiting for an asynchronous receipt. A success
// marks it delivered; a failure makes it due again after the endpoint's backoff, or
// dead-letters it when the endpoint's retry policy is exhausted. It implements
// channel.AwaitResolver for every sink the hub builds.
func (h *Hub) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	j, err := h.Store.AwaitingJob(ctx, key)
	if err != nil {
		return err
	}
	target := j.Target
	if ep, found := h.Routes.Endpoint(j.Params[ParamEnte], j.Target); found {
		target = fmt.Sprintf("%s (%s)", j.Target, ep.Kind)
	}
	if ok {
		out := store.Outcome{Events: []message.Event{{Type: message.EventDelivered, Target: target, Detail: detail}}}
		if s := j.Params[ParamState]; s != "" {
			out.State = message.State(s)
		}
		_, err := h.Store.ResolveAwait(ctx, key, true, detail, out)
		if err == nil {
			h.Log.Info("consegna confermata dalla ricevuta (delivery receipt)", "message", j.MessageID, "target", target)
		}
		return err
	}
	p := h.policy(j).WithDefaults()
	bury := j.Attempts >= p.MaxAttempts || h.Now().Sub(j.CreatedAt) >= p.MaxAge
	retryAt := h.Now().Add(p.Backoff(j.Attempts, nil))
	if bury {
		detail = fmt.Sprintf("%s; tentativi esauriti (%d di %d) (retries exhausted)", detail, j.Attempts, p.MaxAttempts)
	}
	if _, err := h.Store.FailAwait(ctx, key, detail, retryAt, bury); err != nil {
		return err
	}
	if bury {
		h.Log.Error("consegna in dead letter dopo una ricevuta di errore: serve un operatore", "message", j.MessageID, "target", target, "detail", detail)
	} else {
		h.Log.Warn("ricevuta di errore: nuovo tentativo pianificato", "message", j.MessageID, "target", target, "detail", detail, "retry_at", retryAt)
		h.Notify()
	}
	return nil
}

// resolvingSink gives a flow's sink the hub's AwaitResolver unless it has its own.
type resolvingSink struct {
	channel.Sink
	h *Hub
}

func (s resolvingSink) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	if r, has := s.Sink.(channel.AwaitResolver); has {
		return r.ResolveAwait(ctx, key, ok, detail)
	}
	return s.h.ResolveAwait(ctx, key, ok, detail)
}

// receiptSink takes what a receipt-only receiver hands over besides receipts (mail
// that is not a receipt in a sending mailbox): kept for an operator, never lost.
type receiptSink struct {
	h    *Hub
	ente string
	ep   *channel.Endpoint
}

func (s receiptSink) ResolveAwait(ctx context.Context, key string, ok bool, detail string) error {
	return s.h.ResolveAwait(ctx, key, ok, detail)
}

func (s receiptSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	files := append([]message.File{{Name: in.FileName, Role: message.RoleMain, Data: in.Data}}, in.Files...)
	m := &message.Message{Ente: s.ente, Flow: message.FlowForward, Kind: message.KindFile, FileName: in.FileName,
		Headers: in.Headers, DedupKey: in.DedupKey, Source: s.ep.Name + " (ricevute)", State: message.StateQuarantine, Files: files}
	id, created, err := s.h.Store.Ingest(ctx, store.NewMessage{Message: m, Events: []message.Event{{Type: message.EventReceived,
		Target: s.ep.Name, Detail: "messaggio inatteso nella casella delle ricevute, tenuto per un operatore (unexpected mail in a receipts mailbox, kept for an operator): " + in.Source}}})
	if created {
		s.h.Log.Warn("messaggio inatteso nella casella delle ricevute: in quarantena", "message", id, "endpoint", s.ep.Name)
	}
	return channel.Accepted{MessageID: id, Duplicate: !created}, err
}

// startReceiptReceivers runs one receipt reader per sending mailbox no receive phase
// already reads.
func (h *Hub) startReceiptReceivers(ctx context.Context, wg *sync.WaitGroup) error {
	read := map[string]bool{}
	type sendEP struct {
		ente string
		ep   *channel.Endpoint
		kind *channel.Kind
	}
	var senders []sendEP
	for _, e := range h.Routes.Enti {
		if !e.Ente.IsEnabled() {
			continue
		}
		for _, p := range h.Routes.Plan(e.ID()) {
			kind, _ := h.Channels.Lookup(p.Endpoint.Kind)
			if kind == nil || kind.Mailbox == nil {
				continue
			}
			mb := kind.Mailbox(p.Endpoint)
			if mb == "" {
				continue
			}
			if p.Direction == route.Receive {
				read[mb] = true
			} else if kind.NewReceiptReceiver != nil {
				senders = append(senders, sendEP{e.ID(), p.Endpoint, kind})
			}
		}
	}
	for _, s := range senders {
		mb := s.kind.Mailbox(s.ep)
		if read[mb] {
			continue
		}
		read[mb] = true
		deps := channel.Deps{Logger: h.Log.With("ente", s.ente, "receipts", s.ep.Name), Now: h.Now,
			DataDir: filepath.Join(h.Config.DataDir, "channels", s.ente, "receipts")}
		rcv, err := s.kind.NewReceiptReceiver(s.ep, deps)
		if err != nil {
			return fmt.Errorf("hub: lettore delle ricevute di %s: %w", s.ep.Name, err)
		}
		if rcv == nil {
			continue
		}
		h.runReceiver(ctx, wg, rcv, receiptSink{h: h, ente: s.ente, ep: s.ep}, deps.Logger)
	}
	return nil
}

// runReceiver runs a receiver until ctx ends, restarting it with backoff when it fails.
func (h *Hub) runReceiver(ctx context.Context, wg *sync.WaitGroup, rcv channel.Receiver, sink channel.Sink, log *slog.Logger) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		backoff := time.Second
		for {
			err := rcv.Run(ctx, sink)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("terminato senza errore (returned)")
			}
			log.Error("ricevitore terminato; riavvio (receiver stopped; restarting)", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}()
}
