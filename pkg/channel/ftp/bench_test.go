package ftp

// Benchmarks of the ftp kind against jlaffaye/ftp alone doing the same protocol work
// (the limit), over real TCP to the in-process server of ftptest. Figures and the
// command are in docs/benchmarks/ftp.md.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"snodo/pkg/channel"
	"snodo/pkg/channel/ftp/ftptest"
	"snodo/pkg/message"
	"snodo/pkg/testpki"
)

var benchSizes = []struct {
	name string
	size int
}{{"10KB", 10 << 10}, {"1MB", 1 << 20}}

func benchEndpoint(srv *ftptest.Server, dir string, set *Settings) *channel.Endpoint {
	return &channel.Endpoint{Name: "bench", Kind: "ftp", URL: srv.URL(dir), Settings: set, Username: srv.User, Password: srv.Password}
}

func rawConn(b *testing.B, srv *ftptest.Server) *jftp.ServerConn {
	c, err := jftp.Dial(srv.Addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login(srv.User, srv.Password); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Quit() })
	return c
}

func filesPerSecond(b *testing.B, files int) {
	b.ReportMetric(float64(files)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkPush: one file per Send.
func BenchmarkPush(b *testing.B) {
	for _, sz := range benchSizes {
		data := bytes.Repeat([]byte("<Fattura/>\n"), sz.size/11+1)[:sz.size]
		b.Run(sz.name+"/jlaffaye-stor", func(b *testing.B) {
			srv := ftptest.Start(b, ftptest.Options{})
			os.MkdirAll(srv.Path("out"), 0o755)
			c := rawConn(b, srv)
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := c.Stor(fmt.Sprintf("out/f%03d.xml", i%100), bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
			filesPerSecond(b, b.N)
		})
		b.Run(sz.name+"/jlaffaye-stor-rename", func(b *testing.B) {
			srv := ftptest.Start(b, ftptest.Options{})
			os.MkdirAll(srv.Path("out"), 0o755)
			c := rawConn(b, srv)
			b.SetBytes(int64(sz.size))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("out/f%03d.xml", i%100)
				if err := c.Stor(name+".tmp", bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				if err := c.Rename(name+".tmp", name); err != nil {
					b.Fatal(err)
				}
			}
			filesPerSecond(b, b.N)
		})
		for _, v := range []struct {
			name string
			idle time.Duration
		}{{"snodo", 0}, {"snodo-conn-per-send", -1}} {
			b.Run(sz.name+"/"+v.name, func(b *testing.B) {
				srv := ftptest.Start(b, ftptest.Options{})
				s, err := newSender(benchEndpoint(srv, "out", &Settings{IdleTimeout: v.idle}), channel.Deps{})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.SetBytes(int64(sz.size))
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					name := fmt.Sprintf("f%03d.xml", i%100)
					d := &channel.Delivery{MessageID: message.ID(name), FileName: name, Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}}
					if _, err := s.Send(context.Background(), d); err != nil {
						b.Fatal(err)
					}
				}
				filesPerSecond(b, b.N)
			})
		}
	}
}

// BenchmarkPushTLS: the cost of a connection per Send over explicit FTPS (a TLS
// handshake each time) against the kept connections of the pool.
func BenchmarkPushTLS(b *testing.B) {
	ca := testpki.MustCA("bench CA")
	srvCert, err := ca.Server("127.0.0.1", testpki.Options{})
	if err != nil {
		b.Fatal(err)
	}
	caFile, err := ca.WriteFile(b.TempDir(), "ca")
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("<Fattura/>\n"), 1000)[:10<<10]
	for _, v := range []struct {
		name string
		idle time.Duration
	}{{"10KB/snodo", 0}, {"10KB/snodo-conn-per-send", -1}} {
		b.Run(v.name, func(b *testing.B) {
			srv := ftptest.Start(b, ftptest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{srvCert.TLS()}}})
			ep := benchEndpoint(srv, "out", &Settings{IdleTimeout: v.idle})
			ep.TLS.CAFile = caFile
			s, err := newSender(ep, channel.Deps{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(int64(len(data)))
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("f%03d.xml", i%100)
				d := &channel.Delivery{MessageID: message.ID(name), FileName: name, Files: []message.File{{Name: name, Role: message.RoleMain, Data: data}}}
				if _, err := s.Send(context.Background(), d); err != nil {
					b.Fatal(err)
				}
			}
			filesPerSecond(b, b.N)
		})
	}
}

type countingSink struct{ n atomic.Int64 }

func (c *countingSink) Accept(ctx context.Context, in channel.Inbound) (channel.Accepted, error) {
	c.n.Add(1)
	return channel.Accepted{}, nil
}

const pollBatch = 50

// seed writes up to pollBatch files (n in all) into the server folder, outside the
// timer, and returns how many.
func seed(b *testing.B, srv *ftptest.Server, round, left int, data []byte) int {
	b.StopTimer()
	defer b.StartTimer()
	dir := srv.Path("in")
	os.MkdirAll(dir, 0o755)
	k := min(pollBatch, left)
	for i := range k {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%05d-%02d.xml", round, i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return k
}

// BenchmarkPoll: one listing takes pollBatch files; claim, download, hand over,
// acknowledge, per file. Reported per file.
func BenchmarkPoll(b *testing.B) {
	for _, sz := range benchSizes {
		data := bytes.Repeat([]byte("<Fattura/>\n"), sz.size/11+1)[:sz.size]
		b.Run(sz.name+"/jlaffaye", func(b *testing.B) {
			srv := ftptest.Start(b, ftptest.Options{})
			c := rawConn(b, srv)
			c.MakeDir("in")
			c.MakeDir("in/.processing")
			c.MakeDir("in/processed")
			b.SetBytes(int64(sz.size))
			files := 0
			for round := 0; files < b.N; round++ {
				seed(b, srv, round, b.N-files, data)
				entries, err := c.List("in")
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range entries {
					if e.Type != jftp.EntryTypeFile {
						continue
					}
					claimed := "in/.processing/" + e.Name
					if err := c.Rename("in/"+e.Name, claimed); err != nil {
						b.Fatal(err)
					}
					r, err := c.Retr(claimed)
					if err != nil {
						b.Fatal(err)
					}
					var buf bytes.Buffer
					buf.Grow(int(e.Size))
					io.Copy(&buf, r)
					r.Close()
					if err := c.Rename(claimed, "in/processed/"+e.Name); err != nil {
						b.Fatal(err)
					}
					files++
				}
			}
			filesPerSecond(b, files)
		})
		b.Run(sz.name+"/snodo", func(b *testing.B) {
			srv := ftptest.Start(b, ftptest.Options{})
			r, err := newRecv(benchEndpoint(srv, "in", &Settings{Stable: StableNone, After: "move"}), channel.Deps{})
			if err != nil {
				b.Fatal(err)
			}
			defer r.disconnect()
			sink := &countingSink{}
			b.SetBytes(int64(sz.size))
			for round := 0; sink.n.Load() < int64(b.N); round++ {
				seed(b, srv, round, b.N-int(sink.n.Load()), data)
				if err := r.cycle(context.Background(), sink, round == 0); err != nil {
					b.Fatal(err)
				}
			}
			filesPerSecond(b, int(sink.n.Load()))
		})
	}
}
