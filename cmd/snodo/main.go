// Command snodo is the hub's one binary: the server, the operator tools and the
// simulators of the SdI, the pagoPA Node and a PEC provider.
//
// Each subcommand lives in its own file and registers itself in init(); main only
// dispatches. Exit status: 0 success, 1 the operation failed (e.g. a file is invalid),
// 2 wrong usage or configuration.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	_ "time/tzdata" // Europe/Rome (SdI and pagoPA dates) even on hosts without a zoneinfo database
)

// command is one subcommand. name may hold a space ("routes check"): the dispatcher
// matches the longest registered prefix of the arguments.
type command struct {
	name    string
	usage   string // argument synopsis, e.g. "[--config FILE]"
	summary string // one line, Italian first
	run     func(ctx context.Context, env *cliEnv, args []string) int
}

// cliEnv carries what a command may touch, so commands are testable in-process.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commands is the registry of subcommands, filled by init() functions of this package.
var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("snodo: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(dispatch(ctx, env, os.Args[1:]))
}

func dispatch(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(env.stdout)
		return 0
	}
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c.run(ctx, env, args[n:])
		}
	}
	fmt.Fprintf(env.stderr, "snodo: comando sconosciuto %q (unknown command); `snodo help` elenca i comandi\n", strings.Join(args, " "))
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "snodo: hub di integrazione per enti pubblici (SdI, pagoPA)")
	fmt.Fprintln(w, "\nUso: snodo COMANDO [opzioni]\n\nComandi:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(n+" "+c.usage), c.summary)
	}
}
