package hub

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/store"
)

// Parameters of a "deliver" job.
const (
	ParamEnte    = "ente"    // the ente whose route names the endpoint (default: the message's)
	ParamRoles   = "roles"   // comma-separated file roles to deliver (default: all)
	ParamName    = "name"    // target name of the main file (default: the message's file name)
	ParamSubject = "subject" // a title for channels that carry one (PEC)
	ParamState   = "state"   // message state once delivered
)

// DeliverJob builds the job that delivers a message on a phase of an ente's route.
func DeliverJob(ente, phase string, params map[string]string) store.JobSpec {
	p := map[string]string{ParamEnte: ente}
	for k, v := range params {
		p[k] = v
	}
	return store.JobSpec{Handler: "deliver", Target: phase, Params: p}
}

// deliver is the engine handler of "deliver" jobs.
func (h *Hub) deliver(ctx context.Context, j *store.Job, m *message.Message) (store.Outcome, error) {
	ente := j.Params[ParamEnte]
	if ente == "" {
		ente = m.Ente
	}
	d, err := h.Delivery(ctx, m, ente, j.Target, j.Params)
	if err != nil {
		return store.Outcome{}, err
	}
	d.Attempt = j.Attempts
	res, err := h.Send(ctx, ente, j.Target, d)
	if err != nil {
		return store.Outcome{}, err
	}
	return h.DeliveredOutcome(ente, j.Target, res, message.State(j.Params[ParamState])), nil
}

// Delivery loads the files of m selected by params and builds the delivery to a phase.
func (h *Hub) Delivery(ctx context.Context, m *message.Message, ente, phase string, params map[string]string) (*channel.Delivery, error) {
	files, err := h.Store.Files(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	var roles map[string]bool
	if r := params[ParamRoles]; r != "" {
		roles = map[string]bool{}
		for _, x := range strings.Split(r, ",") {
			roles[strings.TrimSpace(x)] = true
		}
	}
	d := &channel.Delivery{MessageID: m.ID, Ente: ente, Phase: phase, FileName: params[ParamName], Headers: m.Headers,
		Subject: params[ParamSubject]}
	for i, f := range files {
		if roles != nil && !roles[f.Role] && !(i == 0 && roles["main"]) {
			continue
		}
		data, err := h.Store.ReadFile(ctx, m.ID, f.Name)
		if err != nil {
			return nil, err
		}
		f.Data = data
		d.Files = append(d.Files, f)
	}
	if len(d.Files) == 0 {
		return nil, channel.Permanent(fmt.Errorf("messaggio %s: nessun file da consegnare per i ruoli %q (no files to deliver)", m.ID, params[ParamRoles]))
	}
	if d.FileName == "" {
		d.FileName = d.Files[0].Name
	}
	return d, nil
}

// DeliveredOutcome is the outcome of a successful Send: delivered, or awaiting a receipt.
func (h *Hub) DeliveredOutcome(ente, phase string, res channel.Result, state message.State) store.Outcome {
	target := phase
	if ep, ok := h.Routes.Endpoint(ente, phase); ok {
		target = fmt.Sprintf("%s (%s)", phase, ep.Kind)
	}
	if res.Await != nil {
		timeout := res.Await.Timeout
		if timeout <= 0 {
			timeout = 24 * time.Hour
		}
		return store.Outcome{Headers: res.Headers, Await: &store.Await{Key: res.Await.Key, Deadline: h.Now().Add(timeout)},
			Events: []message.Event{{Type: message.EventAwaiting, Target: target, Detail: res.Detail}}}
	}
	return store.Outcome{Headers: res.Headers, State: state,
		Events: []message.Event{{Type: message.EventDelivered, Target: target, Detail: res.Detail}}}
}

// Send delivers d on a phase of an ente's route, through a cached sender.
func (h *Hub) Send(ctx context.Context, ente, phase string, d *channel.Delivery) (channel.Result, error) {
	ep, ok := h.Routes.Endpoint(ente, phase)
	if !ok {
		return channel.Result{}, channel.Permanent(fmt.Errorf("l'ente %s non ha la fase %s nel file di rotta: aggiungerla e rimettere in coda (phase not configured)", ente, phase))
	}
	s, err := h.sender(ep)
	if err != nil {
		return channel.Result{}, err
	}
	return s.Send(ctx, d)
}

func (h *Hub) sender(ep *channel.Endpoint) (channel.Sender, error) {
	if s, ok := h.senders.Load(ep.Name); ok {
		return s.(channel.Sender), nil
	}
	h.sendersMu.Lock()
	defer h.sendersMu.Unlock()
	if s, ok := h.senders.Load(ep.Name); ok {
		return s.(channel.Sender), nil
	}
	kind, ok := h.Channels.Lookup(ep.Kind)
	if !ok {
		return nil, channel.Permanent(fmt.Errorf("canale %s sconosciuto (unknown channel kind)", ep.Kind))
	}
	ente, phase, _ := strings.Cut(ep.Name, "/")
	s, err := kind.NewSender(ep, channel.Deps{Logger: h.Log.With("endpoint", ep.Name), Now: h.Now,
		DataDir: filepath.Join(h.Config.DataDir, "channels", ente, phase), Resolver: h, Counter: h.Store.NextCounter})
	if err != nil {
		return nil, fmt.Errorf("mittente %s: %w", ep.Name, err)
	}
	h.senders.Store(ep.Name, s)
	return s, nil
}

func (h *Hub) closeSenders() {
	h.senders.Range(func(k, v any) bool {
		if err := v.(channel.Sender).Close(); err != nil && !errors.Is(err, context.Canceled) {
			h.Log.Warn("chiusura mittente", "endpoint", k, "err", err)
		}
		return true
	})
}
