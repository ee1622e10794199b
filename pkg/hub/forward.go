package hub

import (
	"context"
	"strings"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
)

// forwardModule relays files declared in a route's forward: list, unchanged.
type forwardModule struct{}

func (forwardModule) Name() string                  { return "forward" }
func (forwardModule) Migrations() []store.Migration { return nil }
func (forwardModule) Init(h *Hub) error {
	h.SinkFor("forward.", func(e *route.Ente, phase string) channel.Sink {
		name := strings.TrimSuffix(strings.TrimPrefix(phase, "forward."), ".from")
		return &forwardSink{h: h, ente: e.ID(), phase: phase, to: route.ForwardPhase(name, false)}
	})
	return nil
}

type forwardSink struct {
	h               *Hub
	ente, phase, to string
}

func (s *forwardSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	id, created, err := s.h.Ingest(ctx, s.ente, s.phase, in, message.FlowForward, message.KindFile,
		[]store.JobSpec{DeliverJob(s.ente, s.to, map[string]string{ParamState: string(message.StateDelivered)})})
	return channel.Accepted{MessageID: id, Duplicate: !created}, err
}

// Ingest stores an inbound item as a message of an ente with its first jobs, and wakes
// the engine. It is the common path of every sink.
func (h *Hub) Ingest(ctx context.Context, ente, phase string, in channel.Inbound, flow message.Flow, kind message.Kind, jobs []store.JobSpec) (message.ID, bool, error) {
	files := make([]message.File, 0, 1+len(in.Files))
	files = append(files, message.File{Name: in.FileName, Role: message.RoleMain, Data: in.Data})
	files = append(files, in.Files...)
	m := &message.Message{Ente: ente, Flow: flow, Kind: kind, FileName: in.FileName, Headers: in.Headers,
		DedupKey: in.DedupKey, Source: ente + "/" + phase, Files: files}
	id, created, err := h.Store.Ingest(ctx, store.NewMessage{Message: m, Jobs: jobs,
		Events: []message.Event{{Type: message.EventReceived, Target: phase, Detail: in.Source}}})
	if err != nil {
		return "", false, err
	}
	if created {
		h.Log.Info("messaggio ricevuto (message received)", "message", id, "ente", ente, "phase", phase, "file", in.FileName)
		h.Notify()
	}
	return id, created, nil
}
