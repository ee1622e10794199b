package ftp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"snodo/pkg/channel"
	"snodo/pkg/channel/channeltest"
	"snodo/pkg/channel/ftp"
	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/message"
	"snodo/pkg/route"
)

// A route file with ftp endpoints, loaded by the hub's route loader: credentials from
// the environment, TLS from files, settings decoded strictly and checked; the
// endpoints then move a file end to end over explicit FTPS.
func TestRouteFileEndpoints(t *testing.T) {
	p := newPKI(t)
	srv := ftptest.Start(t, ftptest.Options{TLS: p.serverTLS()})
	dir := t.TempDir()
	file := filepath.Join(dir, "comune-a.yaml")
	doc := `ente:
  name: Comune A
  ipa: c_a000
  codice_fiscale: "00000000000"
  offices: [UFA000]
forward:
  - name: ftp
    from:
      channel: ftp
      url: ftps://` + srv.Addr + `/in
      username: ${FTP_USER}
      password: ${FTP_PASSWORD}
      tls: {ca: ` + p.caFile + `, min_version: "1.2"}
      settings: {poll: 20ms, stable: none, after: delete}
    to:
      channel: ftp
      url: ftps://` + srv.Addr + `/out
      username: ${FTP_USER}
      password: ${FTP_PASSWORD}
      tls: {ca: ` + p.caFile + `}
      settings: {temp_name: suffix, done_marker: true}
`
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FTP_USER": srv.User, "FTP_PASSWORD": srv.Password}
	l := &route.Loader{Channels: channel.NewRegistry(ftp.Kind()), Getenv: func(k string) string { return env[k] }}
	routes, err := l.LoadFiles([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	ente := routes.Enti[0].Ente.ID
	from, ok1 := routes.Endpoint(ente, route.ForwardPhase("ftp", true))
	to, ok2 := routes.Endpoint(ente, route.ForwardPhase("ftp", false))
	if !ok1 || !ok2 {
		t.Fatalf("endpoints not resolved: %v %v", ok1, ok2)
	}
	if set := from.Settings.(*ftp.Settings); set.Poll != 20*time.Millisecond || set.After != "delete" {
		t.Fatalf("settings %+v", set)
	}

	putLocal(t, srv.Path("in"), "IT01234567890_00001.xml", []byte("<fattura/>"))
	rec := channeltest.NewRecorder()
	stop := runFor(t, newReceiver(t, from, channel.Deps{}), rec)
	in := rec.WaitFor(t, 1, 10*time.Second)[0]
	stop()
	snd := newSender(t, to, channel.Deps{})
	d := &channel.Delivery{MessageID: "m1", FileName: in.FileName, Files: []message.File{{Name: in.FileName, Role: message.RoleMain, Data: in.Data}}}
	if _, err := snd.Send(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got := regularFiles(t, srv.Path("out"))
	if string(got["IT01234567890_00001.xml"]) != "<fattura/>" || got["IT01234567890_00001.xml.done"] == nil {
		t.Fatalf("out holds %v", names(got))
	}

	// A misspelt setting and a bad value are reported with the file and line.
	bad := strings.Replace(strings.Replace(doc, "stable: none", "stabile: none", 1), "temp_name: suffix", "temp_name: x", 1)
	os.WriteFile(file, []byte(bad), 0o644)
	_, err = l.LoadFiles([]string{file})
	if err == nil || !strings.Contains(err.Error(), "stabile") || !strings.Contains(err.Error(), "temp_name") || !strings.Contains(err.Error(), "comune-a.yaml:") {
		t.Fatalf("bad settings: %v", err)
	}
}
