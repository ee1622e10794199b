#!/usr/bin/env bash
# Runs every fuzz target of the repository briefly (default 5s each): a smoke test that
# the parsers survive random input. Pass a duration (e.g. 60s) for longer runs.
set -euo pipefail
fuzztime=${1:-5s}
cd "$(dirname "$0")/.."
status=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $target ($fuzztime)"
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz-$$.log 2>&1; then
			# Go's fuzzer reports "context deadline exceeded" when the time runs out while
			# its workers are still starting or minimising a slow input; that is no crash.
			# A crash always writes its input ("Failing input written to ...").
			if grep -q 'context deadline exceeded' /tmp/fuzz-$$.log && ! grep -q 'Failing input written' /tmp/fuzz-$$.log; then
				echo "  (time ran out before the fuzzer settled; no crash found)"
			else
				cat /tmp/fuzz-$$.log
				status=1
			fi
		fi
	done
done
rm -f /tmp/fuzz-$$.log
exit $status
