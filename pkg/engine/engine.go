// Package engine works through the store's outbox: workers claim due jobs under a
// lease, run the handler registered for each job's kind (a delivery on a channel, a flow
// step), and commit the outcome; failures are retried with exponential backoff and jitter
// within a per-destination policy (attempts and age), then dead-lettered for an operator
// to replay.
//
// A worker that dies leaves its lease to expire: another worker (in this process or in
// another hub sharing PostgreSQL) takes the job again, so handlers must be idempotent
// (deliveries use deterministic names or ids the target dedups). Shutdown is two-phase:
// stop claiming, let in-flight jobs finish within a grace period, then cancel them and
// give their leases back.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/message"
	"snodo/pkg/store"
)

// Handler runs one kind of job.
type Handler interface {
	Handle(ctx context.Context, job *store.Job, msg *message.Message) (store.Outcome, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *store.Job, msg *message.Message) (store.Outcome, error)

func (f HandlerFunc) Handle(ctx context.Context, job *store.Job, msg *message.Message) (store.Outcome, error) {
	return f(ctx, job, msg)
}

// ErrPermanent marks a failure retrying cannot fix; the job is dead-lettered at once.
// Channel errors marked with channel.Permanent count too.
var ErrPermanent = channel.ErrPermanent

// Permanent wraps err as a permanent failure.
func Permanent(err error) error { return channel.Permanent(err) }

// Policy bounds the retries of a destination.
type Policy struct {
	MaxAttempts int           // attempts in all, the first included (default 10)
	Initial     time.Duration // first backoff (default 2s)
	Max         time.Duration // backoff cap (default 10m)
	MaxAge      time.Duration // give up this long after the job was created (default 72h)
	Multiplier  float64       // default 2
	Jitter      float64       // ± fraction of the backoff (default 0.2)
}

// DefaultPolicy is used when no policy is configured.
var DefaultPolicy = Policy{MaxAttempts: 10, Initial: 2 * time.Second, Max: 10 * time.Minute, MaxAge: 72 * time.Hour, Multiplier: 2, Jitter: 0.2}

// WithDefaults fills the bounds a policy leaves unset with DefaultPolicy's.
func (p Policy) WithDefaults() Policy { return p.withDefaults() }

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.Initial > 0 {
		d.Initial = p.Initial
	}
	if p.Max > 0 {
		d.Max = p.Max
	}
	if p.MaxAge > 0 {
		d.MaxAge = p.MaxAge
	}
	if p.Multiplier >= 1 {
		d.Multiplier = p.Multiplier
	}
	if p.Jitter > 0 && p.Jitter < 1 {
		d.Jitter = p.Jitter
	}
	return d
}

// Backoff returns the wait before attempt n+1 after n failed attempts (n ≥ 1).
func (p Policy) Backoff(n int, rnd *rand.Rand) time.Duration {
	p = p.withDefaults()
	b := float64(p.Initial)
	for i := 1; i < n && b < float64(p.Max); i++ {
		b *= p.Multiplier
	}
	b = min(b, float64(p.Max))
	if p.Jitter > 0 && rnd != nil {
		b *= 1 + p.Jitter*(2*rnd.Float64()-1)
	}
	return time.Duration(b)
}

// Config configures an Engine.
type Config struct {
	Store    store.Store
	Handlers map[string]Handler
	// Policy returns the retry policy of a job (by its target); DefaultPolicy when nil.
	Policy func(job *store.Job) Policy
	// Workers run jobs concurrently (default 8).
	Workers int
	// Lease is how long a claim lasts without renewal (default 2m); running jobs renew
	// it every Lease/3.
	Lease time.Duration
	// Poll is the idle wait between claims when nothing wakes the engine (default 250ms).
	Poll time.Duration
	// Grace is how long shutdown waits for in-flight jobs before cancelling them (default 10s).
	Grace time.Duration
	// Owner names this engine's leases (default host-pid-random).
	Owner   string
	Logger  *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// Engine runs jobs from a store.
type Engine struct {
	cfg   Config
	wake  chan struct{}
	rndMu sync.Mutex
	rnd   *rand.Rand
	log   *slog.Logger
	now   func() time.Time
}

// New returns an engine; call Run to start it.
func New(cfg Config) *Engine {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Engine{cfg: cfg, wake: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		log: log.With("component", "engine", "owner", cfg.Owner), now: now}
}

// Owner returns the lease owner name of this engine.
func (e *Engine) Owner() string { return e.cfg.Owner }

// Notify wakes the engine: new work may be due. It never blocks.
func (e *Engine) Notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx is cancelled, then shuts down gracefully and returns.
func (e *Engine) Run(ctx context.Context) error {
	// jobCtx outlives ctx by the grace period, so in-flight jobs can finish.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	storeCtx := context.WithoutCancel(ctx)

	jobs := make(chan store.Job)
	slots := make(chan struct{}, e.cfg.Workers)
	for i := 0; i < e.cfg.Workers; i++ {
		slots <- struct{}{}
	}
	var wg sync.WaitGroup
	for i := 0; i < e.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				e.run(jobCtx, storeCtx, j)
				slots <- struct{}{}
				e.Notify() // a slot is free: claim more at once
			}
		}()
	}

	maintenance := time.NewTicker(5 * time.Second)
	defer maintenance.Stop()
	idle := time.NewTimer(0)
	defer idle.Stop()
	e.maintain(storeCtx)
	claimFailures, wait := 0, e.cfg.Poll
loop:
	for {
		// Count free slots without blocking.
		free := 0
	count:
		for free < e.cfg.Workers {
			select {
			case <-slots:
				free++
			default:
				break count
			}
		}
		claimed := 0
		if free > 0 {
			js, err := e.cfg.Store.Claim(storeCtx, e.cfg.Owner, free, e.cfg.Lease)
			if err != nil {
				// The store is unreachable: back off (up to 10s) instead of polling it hot,
				// and log once per backoff step rather than at every poll.
				claimFailures++
				wait = min(e.cfg.Poll<<min(claimFailures, 6), 10*time.Second)
				e.log.Error("claim non riuscito; nuovo tentativo (claim failed; retrying)", "err", err, "in", wait)
			} else {
				claimFailures, wait = 0, e.cfg.Poll
			}
			for _, j := range js {
				select {
				case jobs <- j:
					free--
					claimed++
				case <-ctx.Done():
					// Not started: give it back at once.
					e.releaseOne(storeCtx, j)
				}
			}
			for ; free > 0; free-- {
				slots <- struct{}{}
			}
		}
		if claimed > 0 && ctx.Err() == nil {
			continue // there may be more due work: claim again without waiting
		}
		idle.Reset(wait)
		select {
		case <-ctx.Done():
			break loop
		case <-e.wake:
		case <-idle.C:
		case <-maintenance.C:
			e.maintain(storeCtx)
		}
	}
	close(jobs)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(e.cfg.Grace):
		e.log.Warn("arresto: lavori ancora in corso dopo il periodo di grazia, annullati (shutdown: cancelling in-flight jobs)")
		cancelJobs()
		<-done
	}
	n, err := e.cfg.Store.Release(storeCtx, e.cfg.Owner)
	if err != nil {
		return fmt.Errorf("engine: release leases: %w", err)
	}
	if n > 0 {
		e.log.Info("arresto: lease restituiti (shutdown: leases released)", "jobs", n)
	}
	return nil
}

func (e *Engine) releaseOne(ctx context.Context, j store.Job) {
	// Release works per owner; a single unstarted job is simply retried now.
	if err := e.cfg.Store.Retry(ctx, &j, e.now(), errors.New("arresto del processo prima dell'avvio (shutdown before start)")); err != nil {
		e.log.Warn("restituzione lavoro non riuscita", "job", j.ID, "err", err)
	}
}

// maintain alerts on overdue receipts and refreshes queue metrics.
func (e *Engine) maintain(ctx context.Context) {
	od, err := e.cfg.Store.Overdue(ctx, e.now())
	if err != nil {
		e.log.Error("controllo ricevute scadute non riuscito", "err", err)
	}
	for _, j := range od {
		e.log.Warn("ricevuta non arrivata entro il termine: nuovo tentativo (receipt overdue: retrying)",
			"message", j.MessageID, "target", j.Target, "await", j.AwaitKey)
		e.cfg.Metrics.receiptOverdue(j.Target)
	}
	if e.cfg.Metrics != nil {
		if st, err := e.cfg.Store.Stats(ctx); err == nil {
			e.cfg.Metrics.queue(st, e.now())
		}
	}
}

func (e *Engine) policy(j *store.Job) Policy {
	if e.cfg.Policy == nil {
		return DefaultPolicy
	}
	return e.cfg.Policy(j).withDefaults()
}

func (e *Engine) backoff(p Policy, n int) time.Duration {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return p.Backoff(n, e.rnd)
}

// run executes one claimed job and records its result.
func (e *Engine) run(ctx, storeCtx context.Context, j store.Job) {
	log := e.log.With("job", j.ID, "message", j.MessageID, "handler", j.Handler, "target", j.Target, "attempt", j.Attempts)
	start := e.now()
	h, ok := e.cfg.Handlers[j.Handler]
	if !ok {
		err := fmt.Errorf("nessun gestore per %q: configurazione del processo incompleta (no handler registered for %q)", j.Handler, j.Handler)
		log.Error("lavoro senza gestore", "err", err)
		e.settle(storeCtx, &j, log, store.Outcome{}, Permanent(err), start)
		return
	}
	msg, err := e.cfg.Store.Get(storeCtx, j.MessageID)
	if err != nil {
		e.settle(storeCtx, &j, log, store.Outcome{}, fmt.Errorf("lettura del messaggio: %w", err), start)
		return
	}
	// Renew the lease while the handler runs.
	hctx, cancel := context.WithCancel(ctx)
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		t := time.NewTicker(e.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if err := e.cfg.Store.Extend(storeCtx, &j, e.cfg.Lease); err != nil {
					log.Warn("rinnovo del lease non riuscito: il lavoro sarà ripreso da un altro processo", "err", err)
					if errors.Is(err, store.ErrLeaseLost) {
						cancel()
						return
					}
				}
			}
		}
	}()
	out, herr := safeHandle(hctx, h, &j, msg)
	cancel()
	<-renewDone
	if herr != nil && ctx.Err() != nil && errors.Is(herr, context.Canceled) {
		// Shut down mid-job: Release gives the lease back without counting the attempt.
		log.Info("lavoro interrotto dall'arresto; sarà ripreso (interrupted by shutdown)")
		return
	}
	e.settle(storeCtx, &j, log, out, herr, start)
}

// safeHandle turns a handler panic into a permanent error: one bad message must not
// take the hub down, and it stays visible as a dead letter.
func safeHandle(ctx context.Context, h Handler, j *store.Job, msg *message.Message) (out store.Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("errore interno del gestore (handler panic): %v", r))
		}
	}()
	return h.Handle(ctx, j, msg)
}

func (e *Engine) settle(ctx context.Context, j *store.Job, log *slog.Logger, out store.Outcome, herr error, start time.Time) {
	m := e.cfg.Metrics
	if herr == nil {
		if err := e.cfg.Store.Complete(ctx, j, out); err != nil {
			if errors.Is(err, store.ErrLeaseLost) {
				log.Warn("esito non registrato: lease perso, il lavoro sarà ripetuto (lease lost)")
				return
			}
			log.Error("registrazione esito non riuscita; il lavoro sarà ripetuto alla scadenza del lease", "err", err)
			return
		}
		m.done(j, e.now().Sub(start), e.now().Sub(j.CreatedAt), out.Await != nil)
		log.Debug("lavoro completato")
		return
	}
	p := e.policy(j)
	age := e.now().Sub(j.CreatedAt)
	var reason error
	switch {
	case errors.Is(herr, ErrPermanent):
		reason = herr
	case j.Attempts >= p.MaxAttempts:
		reason = fmt.Errorf("%w; tentativi esauriti (%d di %d) (retries exhausted)", herr, j.Attempts, p.MaxAttempts)
	case age >= p.MaxAge:
		reason = fmt.Errorf("%w; tempo massimo superato (%s) (max age exceeded)", herr, p.MaxAge)
	}
	if reason != nil {
		if err := e.cfg.Store.Bury(ctx, j, reason); err != nil {
			log.Error("spostamento in dead letter non riuscito", "err", err)
			return
		}
		m.dead(j)
		log.Error("consegna in dead letter: serve un operatore (dead-lettered)", "err", reason)
		return
	}
	at := e.now().Add(e.backoff(p, j.Attempts))
	if err := e.cfg.Store.Retry(ctx, j, at, herr); err != nil {
		log.Error("pianificazione nuovo tentativo non riuscita", "err", err)
		return
	}
	m.failed(j)
	log.Warn("tentativo fallito; nuovo tentativo pianificato", "err", herr, "retry_at", at.Format(time.RFC3339))
}
