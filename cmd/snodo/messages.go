package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"snodo/pkg/message"
	"snodo/pkg/store"
)

func init() {
	register(command{name: "messages list", usage: "[--config FILE] [--ente ID] [--state S] [--flow F] [--limit N]",
		summary: "elenca i messaggi, i più recenti prima (list messages, newest first)", run: runMessagesList})
	register(command{name: "messages show", usage: "[--config FILE] ID",
		summary: "mostra un messaggio con la sua cronologia (show a message with its timeline)", run: runMessagesShow})
	register(command{name: "replay", usage: "[--config FILE] ID|JOB",
		summary: "rimette in coda le consegne in dead letter di un messaggio (replay dead letters)", run: runReplay})
	register(command{name: "dead-letters", usage: "[--config FILE] [--limit N]",
		summary: "elenca le consegne in dead letter (list dead letters)", run: runDeadLetters})
}

func withStore(ctx context.Context, env *cliEnv, configPath string, fn func(s store.Store) int) int {
	cfg, err := loader(env).LoadConfig(configPath)
	if err != nil {
		return printProblems(env, err)
	}
	s, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(env.stderr, "snodo: apertura dello store non riuscita (cannot open the store):", err)
		return 1
	}
	defer s.Close()
	return fn(s)
}

func runMessagesList(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "messages list")
	var f store.Filter
	fl.StringVar(&f.Ente, "ente", "", "solo questo ente")
	fl.StringVar(&f.State, "state", "", "solo questo stato")
	fl.StringVar(&f.Flow, "flow", "", "solo questo flusso (passive, active, payment, forward)")
	fl.StringVar(&f.Kind, "kind", "", "solo questo tipo")
	fl.IntVar(&f.Limit, "limit", 50, "quanti")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	return withStore(ctx, env, *configPath, func(s store.Store) int {
		ms, err := s.List(ctx, f)
		if err != nil {
			fmt.Fprintln(env.stderr, "snodo:", err)
			return 1
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRICEVUTO\tENTE\tFLUSSO\tTIPO\tSTATO\tFILE")
		for _, m := range ms {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.CreatedAt.Local().Format("2006-01-02 15:04:05"), m.Ente, m.Flow, m.Kind, m.State, m.FileName)
		}
		tw.Flush()
		return 0
	})
}

func runMessagesShow(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "messages show")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(env.stderr, "uso: snodo messages show [--config FILE] ID")
		return 2
	}
	return withStore(ctx, env, *configPath, func(s store.Store) int {
		id := message.ID(fl.Arg(0))
		m, err := s.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			// Accept a lookup key too (an IdentificativoSdI, a file name).
			for _, key := range []string{fl.Arg(0), "sdi:" + fl.Arg(0), "file:" + fl.Arg(0)} {
				if ids, _ := s.FindByKey(ctx, key); len(ids) > 0 {
					id = ids[0]
					m, err = s.Get(ctx, id)
					break
				}
			}
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "snodo: messaggio %s non trovato (message not found)\n", fl.Arg(0))
			return 1
		}
		printMessage(env, s, ctx, m)
		return 0
	})
}

func printMessage(env *cliEnv, s store.Store, ctx context.Context, m *message.Message) {
	w := env.stdout
	fmt.Fprintf(w, "Messaggio %s\n", m.ID)
	fmt.Fprintf(w, "  ente:       %s\n  flusso:     %s\n  tipo:       %s\n  file:       %s (%d byte, sha256 %s)\n  stato:      %s\n",
		m.Ente, m.Flow, m.Kind, m.FileName, m.Size, short(m.SHA256), m.State)
	fmt.Fprintf(w, "  ricevuto:   %s da %s\n", m.CreatedAt.Local().Format(time.RFC3339), m.Source)
	if m.CorrelationID != "" {
		fmt.Fprintf(w, "  correlato:  %s\n", m.CorrelationID)
	}
	if m.ParentID != "" {
		fmt.Fprintf(w, "  origine:    %s\n", m.ParentID)
	}
	if len(m.Headers) > 0 {
		fmt.Fprintln(w, "  intestazioni:")
		keys := make([]string, 0, len(m.Headers))
		for k := range m.Headers {
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    %s: %s\n", k, m.Headers[k])
		}
	}
	if files, err := s.Files(ctx, m.ID); err == nil && len(files) > 0 {
		fmt.Fprintln(w, "  file:")
		for _, f := range files {
			fmt.Fprintf(w, "    %-10s %s (%d byte)\n", f.Role, f.Name, f.Size)
		}
	}
	if jobs, err := s.Jobs(ctx, m.ID); err == nil && len(jobs) > 0 {
		fmt.Fprintln(w, "  consegne e passi (jobs):")
		for _, j := range jobs {
			line := fmt.Sprintf("    #%d %s %s: %s, tentativi %d", j.ID, j.Handler, j.Target, j.State, j.Attempts)
			if j.State == store.JobPending && j.Attempts > 0 {
				line += ", prossimo " + j.DueAt.Local().Format("15:04:05")
			}
			if j.LastError != "" {
				line += "\n      ultimo errore: " + j.LastError
			}
			fmt.Fprintln(w, line)
		}
	}
	evs, _ := s.Events(ctx, m.ID)
	fmt.Fprintln(w, "  cronologia (timeline):")
	for _, e := range evs {
		line := fmt.Sprintf("    %s  %-16s", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Type)
		if e.Target != "" {
			line += " " + e.Target
		}
		if e.Attempt > 0 {
			line += " tentativo " + strconv.Itoa(e.Attempt)
		}
		if e.Detail != "" {
			line += " — " + e.Detail
		}
		fmt.Fprintln(w, line)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func runReplay(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "replay")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fmt.Fprintln(env.stderr, "uso: snodo replay [--config FILE] ID-MESSAGGIO | NUMERO-JOB")
		return 2
	}
	arg := fl.Arg(0)
	return withStore(ctx, env, *configPath, func(s store.Store) int {
		var n int
		var err error
		if jobID, perr := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64); perr == nil {
			n, err = s.Replay(ctx, "", jobID)
		} else {
			n, err = s.Replay(ctx, message.ID(arg), 0)
		}
		if err != nil {
			fmt.Fprintln(env.stderr, "snodo:", err)
			return 1
		}
		if n == 0 {
			fmt.Fprintf(env.stderr, "snodo: nessuna consegna in dead letter per %s (nothing to replay)\n", arg)
			return 1
		}
		fmt.Fprintf(env.stdout, "%d consegne rimesse in coda; l'hub in esecuzione le riprende entro pochi secondi (replayed)\n", n)
		return 0
	})
}

func runDeadLetters(ctx context.Context, env *cliEnv, args []string) int {
	fl, configPath := flags(env, "dead-letters")
	limit := fl.Int("limit", 100, "quante")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	return withStore(ctx, env, *configPath, func(s store.Store) int {
		js, err := s.DeadLetters(ctx, *limit)
		if err != nil {
			fmt.Fprintln(env.stderr, "snodo:", err)
			return 1
		}
		if len(js) == 0 {
			fmt.Fprintln(env.stdout, "nessuna consegna in dead letter (no dead letters)")
			return 0
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tMESSAGGIO\tDESTINAZIONE\tTENTATIVI\tDA\tERRORE")
		for _, j := range js {
			e := j.LastError
			if len(e) > 120 {
				e = e[:120] + "…"
			}
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.MessageID, j.Target, j.Attempts, j.UpdatedAt.Local().Format("2006-01-02 15:04"), e)
		}
		tw.Flush()
		fmt.Fprintln(env.stdout, "\nper rimettere in coda: snodo replay ID-MESSAGGIO (o #JOB)")
		return 0
	})
}
