package hub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/fs"
	"snodo/pkg/hub"
	"snodo/pkg/hub/hubtest"
	"snodo/pkg/message"
	"snodo/pkg/route"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// startHub runs a hub on a route file body in a fresh data folder and returns it with
// its data folder; the hub stops at cleanup.
func startHub(t *testing.T, routeBody string, tweak func(*route.Config)) (*hub.Hub, string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routes := filepath.Join(dir, "routes")
	os.MkdirAll(routes, 0o755)
	os.WriteFile(filepath.Join(routes, "comune-a.yaml"), []byte(routeBody), 0o644)
	os.WriteFile(filepath.Join(dir, "snodo.yaml"), []byte("listen: {http: 127.0.0.1:0}\ndata_dir: data\nroutes_dir: routes\n"+
		"engine: {poll: 20ms, retry: {initial: 20ms, max: 50ms, max_attempts: 3}}\n"), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind())}
	cfg, err := l.LoadConfig(filepath.Join(dir, "snodo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(cfg)
	}
	l.DataDir = cfg.DataDir
	rs, err := l.LoadRoutes(cfg.RoutesDir)
	if err != nil {
		t.Fatal(err)
	}
	h := hubtest.Start(t, hub.Options{Config: cfg, Routes: rs, Channels: l.Channels}).Hub
	return h, data
}

const forwardRoute = `
ente: {name: Comune A, codice_fiscale: "00000000000", offices: [UFA000]}
forward:
  - name: demo
    from: {channel: fs, url: "file:a/inbox", settings: {poll: 20ms, min_age: -1ns}}
    to: {channel: fs, url: "file:a/outbox"}
`

// drop writes a file into a folder the way a well-behaved peer does: a dot-name, then a
// rename (the receivers here run with the stability check off).
func drop(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	tmp := filepath.Join(dir, "."+name+".part")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
	return nil
}

func TestForwardDropToOutboxWithTimeline(t *testing.T) {
	h, data := startHub(t, forwardRoute, nil)
	os.MkdirAll(filepath.Join(data, "a/inbox"), 0o755)
	drop(t, filepath.Join(data, "a/inbox"), "lettera.xml", []byte("<lettera/>"))
	got := waitFile(t, filepath.Join(data, "a/outbox", "lettera.xml"))
	if string(got) != "<lettera/>" {
		t.Fatalf("outbox content %q", got)
	}
	ctx := context.Background()
	var ms []*message.Message
	for i := 0; i < 100; i++ {
		ms, _ = h.Store.List(ctx, store.Filter{Ente: "comune-a"})
		if len(ms) == 1 && ms[0].State == message.StateDelivered {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ms) != 1 || ms[0].State != message.StateDelivered || ms[0].Flow != message.FlowForward {
		t.Fatalf("messages %+v", ms)
	}
	evs, _ := h.Store.Events(ctx, ms[0].ID)
	var types []string
	for _, e := range evs {
		types = append(types, string(e.Type))
	}
	if got := strings.Join(types, ","); got != "received,delivered,state" {
		t.Fatalf("timeline %s", got)
	}
	if _, err := os.Stat(filepath.Join(data, "a/inbox", "lettera.xml")); !os.IsNotExist(err) {
		t.Fatal("the source file is still in the inbox")
	}
}

func TestFailingDestinationRetriedThenDeadThenReplayed(t *testing.T) {
	h, data := startHub(t, forwardRoute, nil)
	// The outbox is a file, not a folder: every delivery fails.
	os.MkdirAll(filepath.Join(data, "a"), 0o755)
	os.WriteFile(filepath.Join(data, "a/outbox"), []byte("not a folder"), 0o644)
	os.MkdirAll(filepath.Join(data, "a/inbox"), 0o755)
	drop(t, filepath.Join(data, "a/inbox"), "x.xml", []byte("<x/>"))
	ctx := context.Background()
	var dead []store.Job
	for i := 0; i < 500 && len(dead) == 0; i++ {
		dead, _ = h.Store.DeadLetters(ctx, 10)
		time.Sleep(10 * time.Millisecond)
	}
	if len(dead) != 1 || dead[0].Attempts != 3 {
		t.Fatalf("dead letters %+v: want one after 3 attempts", dead)
	}
	os.Remove(filepath.Join(data, "a/outbox"))
	if n, err := h.Store.Replay(ctx, dead[0].MessageID, 0); err != nil || n != 1 {
		t.Fatalf("replay %d %v", n, err)
	}
	h.Notify()
	if got := waitFile(t, filepath.Join(data, "a/outbox", "x.xml")); string(got) != "<x/>" {
		t.Fatalf("content %q", got)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	h, data := startHub(t, forwardRoute, nil)
	os.MkdirAll(filepath.Join(data, "a/inbox"), 0o755)
	drop(t, filepath.Join(data, "a/inbox"), "m.xml", []byte("<m/>"))
	waitFile(t, filepath.Join(data, "a/outbox", "m.xml"))
	base := "http://" + h.Addr("http")
	for _, c := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/readyz", `"ready":true`},
		{"/metrics", `snodo_messages{ente="comune-a",flow="forward",kind="file",state=`},
		{"/metrics", `snodo_job_attempts_total{handler="deliver",result="done",target="forward.demo.to"} 1`},
		{"/metrics", "snodo_queue_jobs"},
	} {
		var body string
		for i := 0; i < 60; i++ { // counts refresh on scrape; queue gauges every few seconds
			resp, err := http.Get(base + c.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == 200 && strings.Contains(body, c.want) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(body, c.want) {
			t.Errorf("GET %s lacks %q:\n%s", c.path, c.want, tail(body))
		}
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

func TestDuplicateDropIsRecognised(t *testing.T) {
	h, data := startHub(t, forwardRoute, nil)
	in := filepath.Join(data, "a/inbox")
	os.MkdirAll(in, 0o755)
	for i := 0; i < 2; i++ {
		drop(t, in, "same.xml", []byte("<same/>"))
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(in, "same.xml")); os.IsNotExist(err) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	ms, _ := h.Store.List(context.Background(), store.Filter{})
	if len(ms) != 1 {
		t.Fatalf("%d messages for one file dropped twice with the same content", len(ms))
	}
	evs, _ := h.Store.Events(context.Background(), ms[0].ID)
	if evs[len(evs)-1].Type != message.EventDuplicate && !containsType(evs, message.EventDuplicate) {
		t.Fatal("the second drop is not on the timeline")
	}
	_ = fmt.Sprint()
}

func containsType(evs []message.Event, t message.EventType) bool {
	for _, e := range evs {
		if e.Type == t {
			return true
		}
	}
	return false
}

// A failure receipt (PEC errore-consegna) makes the delivery due again after the
// backoff, within the default policy when the route sets none; past the attempts it is
// dead-lettered.
func TestFailureReceiptRetriesWithinPolicy(t *testing.T) {
	// A hub that is not running: no engine competes for the job.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "comune-a.yaml"), []byte(forwardRoute), 0o644)
	l := &route.Loader{Channels: channel.NewRegistry(fs.Kind()), DataDir: dir}
	cfg, _ := l.LoadConfig(filepath.Join(dir, "none.yaml"))
	rs, err := l.LoadRoutes(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Options{Config: cfg, Routes: rs, Channels: l.Channels})
	if err != nil {
		t.Fatal(err)
	}
	h.Store = storetest.OpenSQLite(t, store.Options{})
	ctx := context.Background()
	id, _, err := h.Store.Ingest(ctx, store.NewMessage{Message: &message.Message{Ente: "comune-a", Flow: message.FlowForward,
		Kind: message.KindFile, FileName: "p.xml", Files: []message.File{{Name: "p.xml", Data: []byte("<p/>")}}},
		Jobs: []store.JobSpec{{Handler: "parked", Target: "forward.demo.to", Params: map[string]string{hub.ParamEnte: "comune-a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	park := func(key string) {
		t.Helper()
		var js []store.Job
		for i := 0; i < 200 && len(js) == 0; i++ {
			js, _ = h.Store.Claim(ctx, "test", 1, time.Minute)
			time.Sleep(5 * time.Millisecond)
		}
		if len(js) != 1 || js[0].MessageID != id {
			t.Fatalf("claim %+v", js)
		}
		if err := h.Store.Complete(ctx, &js[0], store.Outcome{Await: &store.Await{Key: key, Deadline: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	park("<r1@pec>")
	if err := h.ResolveAwait(ctx, "<r1@pec>", false, "errore-consegna"); err != nil {
		t.Fatal(err)
	}
	js, _ := h.Store.Jobs(ctx, id)
	if js[0].State != store.JobPending || !js[0].DueAt.After(time.Now()) {
		t.Fatalf("after one failure receipt: %+v; want pending with a backoff", js[0])
	}
	if err := h.ResolveAwait(ctx, "<unknown@pec>", true, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}
