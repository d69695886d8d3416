#!/bin/sh
# Runs every fuzz target of the module for FUZZTIME each (default 20s).
# Targets are found with `go test -list`, so a new Fuzz function is run
# without being listed anywhere else.
set -eu
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target"
		$GO test "$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME"
	done
done
