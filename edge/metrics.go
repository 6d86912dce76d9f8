package edge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the edge's Prometheus metrics, registered on its own
// registry so several edges can run in one process (tests).
type metrics struct {
	reg *prometheus.Registry

	sessions     prometheus.Gauge
	tunnels      *prometheus.GaugeVec
	authFailures prometheus.Counter
	httpByClass  [6]prometheus.Counter // index status/100; 0 = unknown
	tcpConns     prometheus.Counter
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
}

func newMetrics(region string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"region": region}
	m := &metrics{
		reg: reg,
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgeway_edge_agent_sessions", Help: "Agent sessions currently connected.", ConstLabels: labels,
		}),
		tunnels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeway_edge_tunnels", Help: "Tunnels currently bound, by protocol.", ConstLabels: labels,
		}, []string{"proto"}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_edge_agent_auth_failures_total", Help: "Agent connections refused during the handshake.", ConstLabels: labels,
		}),
		tcpConns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_edge_tcp_connections_total", Help: "Public TCP connections accepted.", ConstLabels: labels,
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_edge_tcp_bytes_in_total", Help: "Bytes received from TCP visitors.", ConstLabels: labels,
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeway_edge_tcp_bytes_out_total", Help: "Bytes sent to TCP visitors.", ConstLabels: labels,
		}),
	}
	httpReqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeway_edge_http_requests_total", Help: "Public HTTP requests, by status class.", ConstLabels: labels,
	}, []string{"code"})
	for i, class := range []string{"unknown", "1xx", "2xx", "3xx", "4xx", "5xx"} {
		m.httpByClass[i] = httpReqs.WithLabelValues(class)
	}
	reg.MustRegister(m.sessions, m.tunnels, m.authFailures, httpReqs, m.tcpConns, m.bytesIn, m.bytesOut)
	return m
}

func (m *metrics) httpRequest(status int) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 0
	}
	m.httpByClass[i].Inc()
}
