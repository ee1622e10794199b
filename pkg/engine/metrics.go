package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"snodo/pkg/store"
)

// Metrics are the engine's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	attempts   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	jobLatency *prometheus.HistogramVec
	deadTotal  *prometheus.CounterVec
	overdue    *prometheus.CounterVec
	depth      *prometheus.GaugeVec
	oldest     prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_job_attempts_total",
			Help: "Job attempts by handler, target and result (done, awaiting, retry, dead)."}, []string{"handler", "target", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "snodo_delivery_latency_seconds",
			Help:    "Time from a job's creation to its completion.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}}, []string{"handler", "target"}),
		jobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "snodo_job_duration_seconds",
			Help: "Time a handler took for one attempt.", Buckets: prometheus.DefBuckets}, []string{"handler"}),
		deadTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_dead_letters_total",
			Help: "Jobs moved to the dead letters."}, []string{"handler", "target"}),
		overdue: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snodo_receipts_overdue_total",
			Help: "Deliveries whose receipt did not arrive before the deadline."}, []string{"target"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "snodo_queue_jobs",
			Help: "Jobs in the outbox by state."}, []string{"state"}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "snodo_queue_oldest_due_seconds",
			Help: "Age of the oldest due pending job."}),
	}
	reg.MustRegister(m.attempts, m.latency, m.jobLatency, m.deadTotal, m.overdue, m.depth, m.oldest)
	return m
}

func (m *Metrics) done(j *store.Job, took, sinceCreated time.Duration, awaiting bool) {
	if m == nil {
		return
	}
	result := "done"
	if awaiting {
		result = "awaiting"
	}
	m.attempts.WithLabelValues(j.Handler, j.Target, result).Inc()
	m.jobLatency.WithLabelValues(j.Handler).Observe(took.Seconds())
	if !awaiting {
		m.latency.WithLabelValues(j.Handler, j.Target).Observe(sinceCreated.Seconds())
	}
}

func (m *Metrics) failed(j *store.Job) {
	if m != nil {
		m.attempts.WithLabelValues(j.Handler, j.Target, "retry").Inc()
	}
}

func (m *Metrics) dead(j *store.Job) {
	if m != nil {
		m.attempts.WithLabelValues(j.Handler, j.Target, "dead").Inc()
		m.deadTotal.WithLabelValues(j.Handler, j.Target).Inc()
	}
}

func (m *Metrics) receiptOverdue(target string) {
	if m != nil {
		m.overdue.WithLabelValues(target).Inc()
	}
}

func (m *Metrics) queue(st store.QueueStats, now time.Time) {
	if m == nil {
		return
	}
	m.depth.WithLabelValues("pending").Set(float64(st.Pending))
	m.depth.WithLabelValues("running").Set(float64(st.Running))
	m.depth.WithLabelValues("awaiting").Set(float64(st.Awaiting))
	m.depth.WithLabelValues("dead").Set(float64(st.Dead))
	if st.OldestDue.IsZero() || st.OldestDue.After(now) {
		m.oldest.Set(0)
	} else {
		m.oldest.Set(now.Sub(st.OldestDue).Seconds())
	}
}
