package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func init() {
	register(command{name: "version", summary: "stampa la versione (print the version)",
		run: func(_ context.Context, env *cliEnv, _ []string) int {
			v := "devel"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintln(env.stdout, "snodo", v)
			return 0
		}})
}
