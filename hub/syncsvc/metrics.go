package syncsvc

import (
	"context"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	relayChanges  *prometheus.CounterVec
	relayBatches  prometheus.Counter
	relayLag      prometheus.Histogram
	relayCursor   prometheus.Gauge
	applied       *prometheus.CounterVec
	applySeconds  prometheus.Histogram
	conflicts     *prometheus.CounterVec
	rejections    prometheus.Counter
	clockSkew     prometheus.Counter
	enrollments   prometheus.Counter
	revocations   prometheus.Counter
	bootstrapRows prometheus.Counter
	downPending   *prometheus.GaugeVec
	upPending     *prometheus.GaugeVec
	lastSeenAge   *prometheus.GaugeVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		relayChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmf_sync_relay_changes_total",
			Help: "Changes published to technicians' feeds, by op."}, []string{"op"}),
		relayBatches: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_relay_batches_total",
			Help: "Batches published to technicians' feeds."}),
		relayLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dmf_sync_relay_lag_seconds",
			Help:    "Domain event commit to JetStream publish.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		relayCursor: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dmf_sync_relay_cursor",
			Help: "Last domain_events id the relay has processed."}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmf_sync_mutations_total",
			Help: "Device mutations processed, by outcome (applied, replayed, conflict, rejected)."}, []string{"status"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dmf_sync_apply_seconds",
			Help: "Time to apply one uploaded batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dmf_sync_conflicts_total",
			Help: "Conflict log entries written, by entity and rule."}, []string{"entity", "rule"}),
		rejections: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_rejections_total",
			Help: "Uploaded messages parked as unreadable, forged or out of scope."}),
		clockSkew: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_clock_skew_total",
			Help: "Device mutations whose clock was off by more than the allowed skew (logged, not trusted)."}),
		enrollments: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_enrollments_total", Help: "Devices enrolled."}),
		revocations: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_revocations_total", Help: "Devices revoked."}),
		bootstrapRows: prometheus.NewCounter(prometheus.CounterOpts{Name: "dmf_sync_bootstrap_rows_total",
			Help: "Rows written into bootstrap snapshots."}),
		downPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dmf_sync_device_down_pending",
			Help: "Batches in the technician's feed that the device has not acknowledged (downstream lag)."}, []string{"device_id"}),
		upPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dmf_sync_device_up_pending",
			Help: "Batches the device uploaded that the hub has not applied yet (upstream lag)."}, []string{"device_id"}),
		lastSeenAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dmf_sync_device_last_seen_age_seconds",
			Help: "Seconds since the device's last contact."}, []string{"device_id"}),
	}
	for _, c := range []prometheus.Collector{m.relayChanges, m.relayBatches, m.relayLag, m.relayCursor, m.applied, m.applySeconds,
		m.conflicts, m.rejections, m.clockSkew, m.enrollments, m.revocations, m.bootstrapRows, m.downPending, m.upPending, m.lastSeenAge} {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				panic(err)
			}
		}
	}
	return m
}

// runLagLoop refreshes the per-device lag gauges every 10 seconds.
func (s *Service) runLagLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		s.refreshLag(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) refreshLag(ctx context.Context) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id::text, extract(epoch FROM now() - coalesce(last_seen_at, created_at))
		FROM devices WHERE status = 'active' AND enrolled_at IS NOT NULL ORDER BY last_seen_at DESC NULLS LAST LIMIT 5000`)
	if err != nil {
		return
	}
	type dev struct {
		id  string
		age float64
	}
	var devs []dev
	for rows.Next() {
		var d dev
		if rows.Scan(&d.id, &d.age) == nil {
			devs = append(devs, d)
		}
	}
	rows.Close()
	// Two listings for every device (the up stream's subjects, the down stream's consumers),
	// not three JetStream API requests per device every 10 s.
	up, down := s.pendingAll(ctx)
	s.metrics.downPending.Reset()
	s.metrics.upPending.Reset()
	s.metrics.lastSeenAge.Reset()
	for _, d := range devs {
		s.metrics.lastSeenAge.WithLabelValues(d.id).Set(d.age)
		if up != nil {
			s.metrics.upPending.WithLabelValues(d.id).Set(float64(up[s.upCfg.Subject(d.id)]))
		}
		if n, ok := down[d.id]; ok {
			s.metrics.downPending.WithLabelValues(d.id).Set(float64(n))
		}
	}
}

// pendingAll returns the messages waiting on the up stream by subject (nil: unknown) and the
// batches each durable consumer of the down stream (a device) has not acknowledged yet.
func (s *Service) pendingAll(ctx context.Context) (map[string]uint64, map[string]uint64) {
	if s.js == nil {
		return nil, nil
	}
	var up map[string]uint64
	if s.up != nil {
		if st, err := s.js.Stream(ctx, s.upCfg.Stream); err == nil {
			if info, err := st.Info(ctx, njs.WithSubjectFilter(s.upCfg.Subject(">"))); err == nil {
				up = info.State.Subjects
				if up == nil {
					up = map[string]uint64{}
				}
			}
		}
	}
	down := map[string]uint64{}
	if st, err := s.js.Stream(ctx, s.downCfg.Stream); err == nil {
		l := st.ListConsumers(ctx)
		for info := range l.Info() {
			down[info.Name] = info.NumPending + uint64(info.NumAckPending)
		}
	}
	return up, down
}

// DownLag returns how many batches of its feed a device has not acknowledged yet (-1: unknown).
func (s *Service) DownLag(ctx context.Context, deviceID string) int64 {
	if s.js == nil {
		return -1
	}
	st, err := s.js.Stream(ctx, s.downCfg.Stream)
	if err != nil {
		return -1
	}
	c, err := st.Consumer(ctx, deviceID)
	if err != nil {
		return -1
	}
	info := c.CachedInfo()
	return int64(info.NumPending) + int64(info.NumAckPending)
}
