package client

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ServerMetrics is a running server's load, read from its /metrics.
type ServerMetrics struct {
	RequestsPerMinute int64    `json:"requests_per_minute"` // requests served in the last 60 s
	TTFTp50Seconds    *float64 `json:"ttft_p50_seconds"`    // median time to first token since start; nil before any stream
	ActiveStreams     int64    `json:"active_streams"`
}

// Metrics reads the server's /metrics (token: JAN_METRICS_TOKEN, when the
// server wants one).
func (c *Client) Metrics(ctx context.Context, token string) (*ServerMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &UnreachableError{URL: c.base, Err: err}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: HTTP %d", c.base, res.StatusCode)
	}
	return ParseMetrics(io.LimitReader(res.Body, 16<<20))
}

// ParseMetrics reads the figures jan status shows from a Prometheus text
// exposition.
func ParseMetrics(r io.Reader) (*ServerMetrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	m := &ServerMetrics{
		RequestsPerMinute: int64(gaugeSum(fams["jan_http_requests_last_minute"])),
		ActiveStreams:     int64(gaugeSum(fams["jan_streams_active"])),
	}
	if q, ok := quantile(fams["gen_ai_server_time_to_first_token_seconds"], 0.5); ok {
		m.TTFTp50Seconds = &q
	}
	return m, nil
}

func gaugeSum(f *dto.MetricFamily) float64 {
	var sum float64
	if f != nil {
		for _, m := range f.Metric {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// quantile estimates the q-quantile of a histogram family (all its series
// together), interpolating linearly inside the bucket, as Prometheus's
// histogram_quantile does.
func quantile(f *dto.MetricFamily, q float64) (float64, bool) {
	if f == nil {
		return 0, false
	}
	cum := map[float64]uint64{} // upper bound → cumulative count, summed over series
	var total uint64
	for _, m := range f.Metric {
		h := m.GetHistogram()
		total += h.GetSampleCount()
		for _, b := range h.Bucket {
			cum[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if total == 0 {
		return 0, false
	}
	bounds := make([]float64, 0, len(cum))
	for b := range cum {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	rank := q * float64(total)
	lower, below := 0.0, uint64(0)
	for _, ub := range bounds {
		if n := cum[ub]; float64(n) >= rank {
			if math.IsInf(ub, 1) {
				return lower, true // in the open top bucket: its lower bound is all we know
			}
			inBucket := n - below
			if inBucket == 0 {
				return ub, true
			}
			return lower + (ub-lower)*(rank-float64(below))/float64(inBucket), true
		}
		lower, below = ub, cum[ub]
	}
	return lower, true
}
