package client

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# TYPE jan_http_requests_last_minute gauge
jan_http_requests_last_minute 42
# TYPE jan_streams_active gauge
jan_streams_active 3
# TYPE gen_ai_server_time_to_first_token_seconds histogram
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="a",le="0.1"} 2
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="a",le="0.5"} 6
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="a",le="+Inf"} 6
gen_ai_server_time_to_first_token_seconds_sum{gen_ai_request_model="a"} 1.2
gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model="a"} 6
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="b",le="0.1"} 0
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="b",le="0.5"} 2
gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model="b",le="+Inf"} 2
gen_ai_server_time_to_first_token_seconds_sum{gen_ai_request_model="b"} 0.6
gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model="b"} 2
`
	m, err := ParseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	// 8 samples: 2 ≤ 0.1, 6 more ≤ 0.5; the median (rank 4) is 2/6 into (0.1, 0.5].
	if m.RequestsPerMinute != 42 || m.ActiveStreams != 3 || m.TTFTp50Seconds == nil || *m.TTFTp50Seconds < 0.233 || *m.TTFTp50Seconds > 0.234 {
		t.Fatalf("%+v (p50 %v)", m, m.TTFTp50Seconds)
	}
	empty, err := ParseMetrics(strings.NewReader("# TYPE jan_streams_active gauge\njan_streams_active 0\n"))
	if err != nil || empty.TTFTp50Seconds != nil || empty.RequestsPerMinute != 0 {
		t.Fatalf("no streams yet: %+v %v", empty, err)
	}
}
