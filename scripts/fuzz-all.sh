#!/usr/bin/env bash
# fuzz-all.sh runs every fuzz target of the module (every `func FuzzXxx(f *testing.F)` in a
# _test.go file), one at a time, for FUZZTIME each, prints a table of targets and
# executions, and fails if any target fails. A failing input is written by go test to the
# package's testdata/fuzz/<target>/ as usual, and becomes a regression seed once committed.
#
#   FUZZTIME          time per target (default 30s)
#   FUZZMINIMIZETIME  bound on minimizing each new input (default 5s, go test's is 60s)
#   FUZZPARALLEL      workers per target (default: go test's, GOMAXPROCS)
#   FUZZ              only the targets whose name matches this extended regexp
#
# Why FUZZMINIMIZETIME: go test minimizes every new "interesting" input before it fuzzes on,
# in a number of runs quadratic in the input's length, and does not count those runs: with
# the 60 s default one multi-KB input can hold every worker for a whole short run, which
# shows as "0 execs/sec" (golang/go#48820, #51484). A failing input is still written when
# its minimization is cut short, only less minimized.
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-5s}
FUZZPARALLEL=${FUZZPARALLEL:-}
FUZZ=${FUZZ:-.}

logdir=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-all.XXXXXX")

# Packages of this module, by directory, so that a _test.go outside one (testdata) is skipped.
declare -A pkgdir
while read -r dir; do
	pkgdir[$dir]=1
done < <(go list -f '{{.Dir}}' ./...)

# target<TAB>package directory (relative), sorted, from the test files of those packages.
mapfile -t targets < <(
	grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\([a-zA-Z_]+ \*testing\.F\)' . |
		sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\2\t\1#' |
		while IFS=$'\t' read -r name dir; do
			[[ -n "${pkgdir[$PWD/$dir]:-}" ]] && printf '%s\t%s\n' "$name" "$dir"
		done | awk -F'\t' -v re="$FUZZ" '$1 ~ re' | sort -u -t$'\t' -k2,2 -k1,1
)
if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz-all: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz-all: ${#targets[@]} targets, ${FUZZTIME} each (minimize ${FUZZMINIMIZETIME}); logs in ${logdir}"

failed=0
rows=()
for entry in "${targets[@]}"; do
	name=${entry%%$'\t'*}
	dir=${entry#*$'\t'}
	log="${logdir}/${dir//\//_}.${name}.log"
	args=(-run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME")
	[[ -n "$FUZZPARALLEL" ]] && args+=(-parallel "$FUZZPARALLEL")
	echo "--- ${dir} ${name}"
	status=PASS
	if ! go test "${args[@]}" "./${dir}" >"$log" 2>&1; then
		status=FAIL
		failed=$((failed + 1))
		tail -n 30 "$log" | sed 's/^/    /'
	fi
	# The last progress line: "fuzz: elapsed: 31s, execs: 412345 (13301/sec), ..."
	last=$(grep -E '^fuzz: elapsed: .*execs: [0-9]+' "$log" | tail -n 1 || true)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	secs=$(sed -nE 's/^fuzz: elapsed: ([0-9hms]+),.*/\1/p' <<<"$last")
	rate=-
	if [[ -n "$execs" && -n "$secs" ]]; then
		s=$(awk -v d="$secs" 'BEGIN { t = 0; n = ""; for (i = 1; i <= length(d); i++) { c = substr(d, i, 1);
			if (c ~ /[0-9]/) { n = n c } else { t += n * (c == "h" ? 3600 : c == "m" ? 60 : 1); n = "" } } print t }')
		((s > 0)) && rate=$((execs / s))
	fi
	rows+=("$(printf '%-24s %-22s %-5s %12s %10s' "$name" "$dir" "$status" "${execs:--}" "$rate")")
done

echo
printf '%-24s %-22s %-5s %12s %10s\n' TARGET PACKAGE RESULT EXECS EXECS/S
printf '%s\n' "${rows[@]}"
if ((failed > 0)); then
	echo "fuzz-all: ${failed} of ${#targets[@]} targets failed (logs in ${logdir})" >&2
	exit 1
fi
echo "fuzz-all: all ${#targets[@]} targets passed"
