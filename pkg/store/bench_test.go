package store_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
	"snodo/pkg/store/storetest"
)

// BenchmarkStore measures the three transactions every relayed message costs: ingest
// (message + 10 KB file + event + job), claim, and completion.
// Run: go test -run '^$' -bench Store ./pkg/store
func BenchmarkStore(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		open := func(b *testing.B) store.Store {
			if db == "sqlite" {
				return storetest.OpenSQLite(b, store.Options{})
			}
			return storetest.OpenPostgres(b, store.Options{})
		}
		payload := bytes.Repeat([]byte("x"), 10*1024)
		b.Run(db+"/ingest", func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("f%d.xml", i)
				if _, _, err := s.Ingest(ctx, store.NewMessage{Message: &message.Message{Flow: message.FlowForward, Kind: message.KindFile,
					FileName: name, DedupKey: name, Files: []message.File{{Name: name, Data: payload}}},
					Jobs: []store.JobSpec{{Handler: "deliver", Target: "x"}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(db+"/claim-complete", func(b *testing.B) {
			s := open(b)
			ctx := context.Background()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("f%d.xml", i)
				s.Ingest(ctx, store.NewMessage{Message: &message.Message{Flow: message.FlowForward, Kind: message.KindFile,
					FileName: name, Files: []message.File{{Name: name, Data: payload}}}, Jobs: []store.JobSpec{{Handler: "deliver", Target: "x"}}})
			}
			b.ResetTimer()
			for i := 0; i < b.N; {
				js, err := s.Claim(ctx, "w", 8, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				for k := range js {
					if err := s.Complete(ctx, &js[k], store.Outcome{State: message.StateDelivered,
						Events: []message.Event{{Type: message.EventDelivered}}}); err != nil {
						b.Fatal(err)
					}
					i++
				}
			}
		})
	}
}
