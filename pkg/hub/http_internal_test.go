package hub

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"snodo/pkg/route"
)

func TestMetricsOnlyFromAllowedAddresses(t *testing.T) {
	h := &Hub{Config: &route.Config{Listen: route.Listen{MetricsFrom: []string{"10.0.5.0/24", "192.0.2.7"}}}}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metriche")) })
	guard := h.metricsGuard(ok)
	for _, c := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:5000", 200}, {"[::1]:5000", 200}, {"10.0.5.9:4000", 200}, {"192.0.2.7:1", 200},
		{"192.0.2.8:1", 403}, {"203.0.113.1:80", 403}, {"garbage", 403},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = c.remote
		w := httptest.NewRecorder()
		guard.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: HTTP %d, want %d", c.remote, w.Code, c.want)
		}
	}
}
