package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/message"
)

func conformance(t *testing.T, srv *ftptest.Server, caFile string, recv ftp.Settings) {
	channeltest.Run(t, channeltest.Harness{
		NewSender: func(t *testing.T) channel.Sender {
			return newSender(t, endpoint(t, srv, "out", &ftp.Settings{}, caFile), channel.Deps{})
		},
		Target: func(t *testing.T) map[string][]byte { return regularFiles(t, srv.Path("out")) },
		NewReceiver: func(t *testing.T) channel.Receiver {
			set := recv
			return newReceiver(t, endpoint(t, srv, "in", &set, caFile), channel.Deps{})
		},
		Put: func(t *testing.T, name string, data []byte) { putLocal(t, srv.Path("in"), name, data) },
		Pending: func(t *testing.T) []string {
			var out []string
			for _, d := range []string{"in", "in/.processing"} {
				out = append(out, names(regularFiles(t, srv.Path(d)))...)
			}
			sort.Strings(out)
			return out
		},
	})
}

func TestConformance(t *testing.T) {
	p := newPKI(t)
	t.Run("plain", func(t *testing.T) {
		conformance(t, ftptest.Start(t, ftptest.Options{}), "", ftp.Settings{Poll: 20 * time.Millisecond, Stable: ftp.StableNone})
	})
	t.Run("plain-stable-listing", func(t *testing.T) {
		conformance(t, ftptest.Start(t, ftptest.Options{}), "", ftp.Settings{Poll: 20 * time.Millisecond, StableFor: 30 * time.Millisecond})
	})
	t.Run("explicit-tls", func(t *testing.T) {
		conformance(t, ftptest.Start(t, ftptest.Options{TLS: p.serverTLS()}), p.caFile, ftp.Settings{Poll: 20 * time.Millisecond, StableFor: 30 * time.Millisecond})
	})
}

func TestSendOrderTempNamesAndDoneMarker(t *testing.T) {
	for _, suffix := range []bool{false, true} {
		t.Run(fmt.Sprintf("suffix=%v", suffix), func(t *testing.T) {
			srv := ftptest.Start(t, ftptest.Options{})
			set := &ftp.Settings{DoneMarker: true, Dir: "protocollo"}
			if suffix {
				set.TempName = "suffix"
			}
			s := newSender(t, endpoint(t, srv, "enti/comune-a", set, ""), channel.Deps{})
			d := delivery("m1", "IT01234567890_00001.xml", []byte("<fattura/>"), mt("IT01234567890_00001.xml"))
			res, err := s.Send(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			dir := "/enti/comune-a/protocollo"
			got := regularFiles(t, srv.Path(dir))
			want := []string{"IT01234567890_00001.xml", "IT01234567890_00001.xml.done", "IT01234567890_00001_MT_001.xml"}
			if !slices.Equal(names(got), want) {
				t.Fatalf("folder holds %v, want %v", names(got), want)
			}
			if !strings.Contains(res.Detail, "IT01234567890_00001.xml") || !strings.Contains(res.Detail, "enti/comune-a/protocollo") {
				t.Errorf("Detail %q", res.Detail)
			}
			// Every file reached its final name by a rename from a temporary name, the
			// metadata before the invoice, the marker last.
			var finals []string
			for _, e := range srv.Events() {
				f := strings.Fields(e)
				switch f[0] {
				case "STOR":
					base := filepath.Base(f[1])
					if suffix && !strings.HasSuffix(base, ".TEMP") || !suffix && !(strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".tmp")) {
						t.Errorf("uploaded straight to %s, not to a temporary name", f[1])
					}
				case "RNTO":
					finals = append(finals, filepath.Base(f[2]))
				}
			}
			wantOrder := []string{"IT01234567890_00001_MT_001.xml", "IT01234567890_00001.xml", "IT01234567890_00001.xml.done"}
			if !slices.Equal(finals, wantOrder) {
				t.Fatalf("renames %v, want %v", finals, wantOrder)
			}
		})
	}
}

func TestSendRoles(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{Roles: []string{message.RoleMain}}, ""), channel.Deps{})
	d := delivery("m1", "IT01234567890_00001.xml", []byte("<f/>"), mt("IT01234567890_00001.xml"),
		message.File{Name: "r.html", Role: message.RoleRendering, Data: []byte("<html/>")})
	if _, err := s.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if got := names(regularFiles(t, srv.Path("out"))); !slices.Equal(got, []string{"IT01234567890_00001.xml"}) {
		t.Fatalf("roles main only: folder holds %v", got)
	}
	// Two files with the same final name, or no file at all, are refused for good.
	dup := delivery("m2", "a.xml", []byte("x"), message.File{Name: "a.xml", Role: message.RoleMain, Data: []byte("y")})
	s2 := newSender(t, endpoint(t, srv, "out2", &ftp.Settings{}, ""), channel.Deps{})
	if _, err := s2.Send(context.Background(), dup); !channel.IsPermanent(err) {
		t.Fatalf("duplicate names: %v, want permanent", err)
	}
	if _, err := s2.Send(context.Background(), &channel.Delivery{MessageID: "m3", FileName: "x"}); !channel.IsPermanent(err) {
		t.Fatalf("no files: %v, want permanent", err)
	}
}

func TestSendServerDownThenBack(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{ConnectTimeout: 2 * time.Second}, ""), channel.Deps{})
	ctx := context.Background()
	if _, err := s.Send(ctx, delivery("m0", "a.xml", []byte("a"))); err != nil {
		t.Fatal(err) // leaves a pooled connection
	}
	srv.Stop()
	_, err := s.Send(ctx, delivery("m1", "b.xml", []byte("b")))
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("Send with the server down = %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "b.xml") {
		t.Errorf("error does not name the file: %v", err)
	}
	srv.Restart()
	if _, err := s.Send(ctx, delivery("m1", "b.xml", []byte("b"))); err != nil {
		t.Fatalf("Send after the server came back: %v", err)
	}
	// A pooled connection cut while idle is replaced without failing the Send.
	srv.DropConnections()
	if _, err := s.Send(ctx, delivery("m2", "c.xml", []byte("c"))); err != nil {
		t.Fatalf("Send after the idle connection was cut: %v", err)
	}
	if got := names(regularFiles(t, srv.Path("out"))); !slices.Equal(got, []string{"a.xml", "b.xml", "c.xml"}) {
		t.Fatalf("folder holds %v", got)
	}
}

func TestSendConnectionDroppedMidUpload(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{Timeout: 3 * time.Second}, ""), channel.Deps{})
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	srv.FailUpload(func(p string) bool { return strings.HasSuffix(p, ".tmp") }, 300<<10)
	d := delivery("m1", "IT01234567890_00001.xml", data)
	_, err := s.Send(context.Background(), d)
	if err == nil || channel.IsPermanent(err) {
		t.Fatalf("Send over a dropped connection = %v, want a retryable error", err)
	}
	got := regularFiles(t, srv.Path("out"))
	if _, ok := got["IT01234567890_00001.xml"]; ok {
		t.Fatal("a partial file is visible under the final name")
	}
	for name, content := range got {
		if !strings.HasPrefix(name, ".") || len(content) >= len(data) {
			t.Fatalf("unexpected file %s of %d bytes after the failed upload", name, len(content))
		}
	}
	if _, err := s.Send(context.Background(), d); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := regularFiles(t, srv.Path("out")); !bytes.Equal(got["IT01234567890_00001.xml"], data) {
		t.Fatal("retried upload differs")
	}
}

func TestSendRenameOverExistingRefused(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{NoRenameOverwrite: true})
	s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{}, ""), channel.Deps{})
	for i, body := range []string{"<v1/>", "<v2/>"} {
		if _, err := s.Send(context.Background(), delivery("m1", "a.xml", []byte(body))); err != nil {
			t.Fatalf("send %d: %v", i+1, err)
		}
	}
	got := regularFiles(t, srv.Path("out"))
	if len(got) != 1 || string(got["a.xml"]) != "<v2/>" {
		t.Fatalf("folder holds %v (%q)", names(got), got["a.xml"])
	}
}

func TestSendConcurrent(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{MaxConns: 3}, ""), channel.Deps{})
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		wg.Go(func() {
			name := fmt.Sprintf("IT01234567890_%05d.xml", i)
			if _, err := s.Send(context.Background(), delivery(name, name, []byte(name), mt(name))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := regularFiles(t, srv.Path("out"))
	if len(got) != 48 {
		t.Fatalf("%d files, want 48: %v", len(got), names(got))
	}
	for name, data := range got {
		if !strings.Contains(name, "_MT_") && string(data) != name {
			t.Fatalf("%s holds %q", name, data)
		}
	}
	if n := srv.Logins(); n > 3 {
		t.Fatalf("%d logins for 24 concurrent sends with max_conns 3, want at most 3", n)
	}
}

func TestSendCredentialsRefused(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	ep := endpoint(t, srv, "out", &ftp.Settings{}, "")
	ep.Password = "sbagliata-S3GRET0"
	s := newSender(t, ep, channel.Deps{})
	_, err := s.Send(context.Background(), delivery("m1", "a.xml", []byte("a")))
	if !channel.IsPermanent(err) || !strings.Contains(err.Error(), "credenziali") {
		t.Fatalf("wrong password: %v, want a permanent error about credentials", err)
	}
	if strings.Contains(err.Error(), ep.Password) {
		t.Fatal("the error shows the password")
	}
}

func TestSendTLS(t *testing.T) {
	p := newPKI(t)
	t.Run("untrusted server", func(t *testing.T) {
		srv := ftptest.Start(t, ftptest.Options{TLS: p.serverTLS()})
		other := newPKI(t)
		s := newSender(t, endpoint(t, srv, "out", &ftp.Settings{}, other.caFile), channel.Deps{})
		_, err := s.Send(context.Background(), delivery("m1", "a.xml", []byte("a")))
		if !channel.IsPermanent(err) || !strings.Contains(err.Error(), "certificato") {
			t.Fatalf("untrusted server: %v, want a permanent certificate error", err)
		}
	})
	t.Run("mutual TLS and minimum version", func(t *testing.T) {
		cfg := p.serverTLS()
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.ca.Pool()
		srv := ftptest.Start(t, ftptest.Options{TLS: cfg})
		ep := endpoint(t, srv, "out", &ftp.Settings{}, p.caFile)
		ep.TLS.MinVersion = "1.3"
		if _, err := newSender(t, ep, channel.Deps{}).Send(context.Background(), delivery("m1", "a.xml", []byte("a"))); err == nil {
			t.Fatal("client without a certificate accepted by a server that requires one")
		}
		ep.TLS.CertFile, ep.TLS.KeyFile = p.clientCert, p.clientKey
		if _, err := newSender(t, ep, channel.Deps{}).Send(context.Background(), delivery("m1", "a.xml", []byte("a"))); err != nil {
			t.Fatalf("with the client certificate: %v", err)
		}
		if got := regularFiles(t, srv.Path("out")); string(got["a.xml"]) != "a" {
			t.Fatalf("folder holds %v", names(got))
		}
	})
}

// A server that accepts the connection and never greets: the context and the connect
// timeout both bound the wait.
func TestSendTimeoutsAndCancellation(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ep := &channel.Endpoint{Name: "mute", URL: mustURL("ftp://" + l.Addr().String() + "/out"), Username: "hub", Password: "x",
		Settings: &ftp.Settings{ConnectTimeout: 300 * time.Millisecond}}
	s := newSender(t, ep, channel.Deps{})
	start := time.Now()
	_, err = s.Send(context.Background(), delivery("m1", "a.xml", []byte("a")))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("mute server: %v after %s, want an error after about 300ms", err, time.Since(start))
	}
	ep.Settings = &ftp.Settings{ConnectTimeout: time.Minute}
	s = newSender(t, ep, channel.Deps{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = s.Send(ctx, delivery("m1", "a.xml", []byte("a")))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled context: %v after %s, want DeadlineExceeded at once", err, time.Since(start))
	}
}

func TestSendCreatesMissingFolderAgain(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	s := newSender(t, endpoint(t, srv, "out/sub", &ftp.Settings{}, ""), channel.Deps{})
	if _, err := s.Send(context.Background(), delivery("m1", "a.xml", []byte("a"))); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(srv.Path("out")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), delivery("m2", "b.xml", []byte("b"))); err != nil {
		t.Fatalf("after the folder was removed: %v", err)
	}
	if got := names(regularFiles(t, srv.Path("out/sub"))); !slices.Equal(got, []string{"b.xml"}) {
		t.Fatalf("folder holds %v", got)
	}
}

func TestSettingsCheck(t *testing.T) {
	base := func() *channel.Endpoint {
		return &channel.Endpoint{Name: "e/p", URL: mustURL("ftp://ftp.comune.example:2121/in"), Username: "hub"}
	}
	cases := []struct {
		name string
		mod  func(ep *channel.Endpoint, s *ftp.Settings)
		want string
	}{
		{"ok", func(*channel.Endpoint, *ftp.Settings) {}, ""},
		{"ok batch", func(_ *channel.Endpoint, s *ftp.Settings) {
			s.Batch, s.CodiceFiscale = "intermediamarche", "IT01234567890"
		}, ""},
		{"scheme", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.URL = mustURL("sftp://h/in") }, "schema"},
		{"no host", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.URL = mustURL("ftp:///in") }, "host"},
		{"bad port", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.URL = mustURL("ftp://h:99999/in") }, "porta"},
		{"credentials in URL", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.URL = mustURL("ftp://u:segreto@h/in") }, "credenziali"},
		{"query", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.URL = mustURL("ftp://h/in?x=1") }, "query"},
		{"no user", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.Username = "" }, "utente"},
		{"tls on ftp", func(ep *channel.Endpoint, _ *ftp.Settings) { ep.TLS.CAFile = "/x.pem" }, "ftps://"},
		{"pattern", func(_ *channel.Endpoint, s *ftp.Settings) { s.Pattern = "[" }, "pattern"},
		{"pattern slash", func(_ *channel.Endpoint, s *ftp.Settings) { s.Pattern = "a/*" }, "pattern"},
		{"temp", func(_ *channel.Endpoint, s *ftp.Settings) { s.TempName = "x" }, "temp_name"},
		{"stable", func(_ *channel.Endpoint, s *ftp.Settings) { s.Stable = "mai" }, "stable"},
		{"after", func(_ *channel.Endpoint, s *ftp.Settings) { s.After = "copy" }, "after"},
		{"batch", func(_ *channel.Endpoint, s *ftp.Settings) { s.Batch = "sdi" }, "batch"},
		{"batch no cf", func(_ *channel.Endpoint, s *ftp.Settings) { s.Batch = "intermediamarche" }, "codice_fiscale"},
		{"batch nodo", func(_ *channel.Endpoint, s *ftp.Settings) {
			s.Batch, s.CodiceFiscale = "intermediamarche", "RSSMRA80A01H501U"
		}, "identificativo_nodo"},
		{"batch done", func(_ *channel.Endpoint, s *ftp.Settings) {
			s.Batch, s.CodiceFiscale, s.DoneMarker = "intermediamarche", "01234567890", true
		}, "done_marker"},
		{"negative", func(_ *channel.Endpoint, s *ftp.Settings) { s.Poll = -time.Second }, "negativ"},
		{"conns", func(_ *channel.Endpoint, s *ftp.Settings) { s.MaxConns = 100 }, "max_conns"},
		{"control", func(_ *channel.Endpoint, s *ftp.Settings) { s.Dir = "a\nb" }, "controllo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep, s := base(), &ftp.Settings{}
			c.mod(ep, s)
			err := s.Check(ep)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check = %v, want an error mentioning %q", err, c.want)
			}
			if strings.Contains(err.Error(), "segreto") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	if k := ftp.Kind(); k.Name != "ftp" || !slices.Equal(k.Schemes, []string{"ftp", "ftps"}) {
		t.Fatalf("kind %+v", k)
	}
	if _, ok := ftp.Kind().NewSettings().(*ftp.Settings); !ok {
		t.Fatal("NewSettings does not return *Settings")
	}
}

// The route loader decodes settings strictly from YAML; every key of the package
// documentation decodes, and a misspelt one is refused.
func TestSettingsDecodeStrictly(t *testing.T) {
	const doc = `
connect_timeout: 5s
timeout: 30s
disable_epsv: true
disable_mlsd: false
max_conns: 3
idle_timeout: -1s
dir: protocollo
temp_name: suffix
done_marker: false
roles: [main, metadata]
create_dirs: false
pattern: "*.xml"
poll: 1m
stable: done
stable_for: 3s
max_size: 1048576
after: delete
processing: .lavorazione
processed: elaborati
rejected: scartati
batch: intermediamarche
codice_fiscale: IT01234567890
identificativo_nodo: "01234567890"
max_zip_size: 157286400
flush_every: 60s
outcome_dir: ../out
max_entries: 500
max_entry_size: 5242880
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	s := ftp.Kind().NewSettings().(*ftp.Settings)
	if err := dec.Decode(s); err != nil {
		t.Fatal(err)
	}
	if s.Poll != time.Minute || s.IdleTimeout != -time.Second || *s.CreateDirs || s.Stable != "done" || s.IdentificativoNodo != "01234567890" || len(s.Roles) != 2 {
		t.Fatalf("decoded %+v", s)
	}
	ep := &channel.Endpoint{Name: "e/p", URL: mustURL("ftps://ftp.comune.example/in"), Username: "hub"}
	if err := s.Check(ep); err != nil {
		t.Fatal(err)
	}
	dec = yaml.NewDecoder(strings.NewReader("polll: 1s\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&ftp.Settings{}); err == nil {
		t.Fatal("misspelt key accepted")
	}
}
