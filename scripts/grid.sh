#!/usr/bin/env bash
# The model x seed grid on many machines: run any slice of it anywhere, then assemble the
# results on one machine without training again, bit for bit as one machine would have.
# One script for a laptop, a GitHub Actions matrix (.github/workflows/grid.yml) and a Slurm
# job array (docs/scaling.md); DVC's remote and run-cache carry everything between them.
#
#   scripts/grid.sh list [--json]                        the runs of params.yaml: `model seed`
#   scripts/grid.sh run [-r REMOTE] MODEL SEED [MODEL SEED ...]
#   scripts/grid.sh assemble [-r REMOTE] [--push]
#
# run       Pulls what the slice needs: the outputs of its stages' upstream that dvc.lock
#           records and the remote has (--with-deps: not the other runs' models), and the
#           remote's run-cache entries (small files). Reproduces train@MODEL-SEED and
#           evaluate@MODEL-SEED: a stage whose inputs match a run any machine pushed is
#           restored (its outputs pulled), the rest runs here. Then pushes the outputs of
#           everything it ran, and only then the run-cache entries that point at them: a job
#           killed between the two leaves objects no entry names, never an entry whose
#           objects are missing (and an entry whose objects are missing is not restored:
#           the stage runs again). Objects are content-addressed and written whole, so any
#           number of jobs push to one remote at once.
# assemble  Pulls the run-cache and the committed outputs, then `dvc repro --pull`: every run
#           pushed by a slice is restored, and only the summaries and the report run. A run
#           no slice pushed (a failed or forgotten job) is trained here, and said so at the
#           end: it is never missing from the table. --push shares what it ran.
#
# Every machine must run the same commit (code, params.yaml, dvc.lock) against the same DVC
# remote (-r, or .dvc/config's default). The results equal one machine's bit for bit because
# every output is a pure function of its inputs and the CPU kernels are pinned
# (docs/reproducibility.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# This checkout's har, whatever `pip install -e` pointed at (a clone beside the dev tree).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

usage() { sed -n '7,9p' "$0" | sed 's/^# *//' >&2; exit 2; }
# Each DVC step with its wall time, so that the push and pull round trips can be read apart
# from the work (benchmarks/dvc_overhead.py --grid reads these lines).
step() {
    local start=$EPOCHREALTIME
    "$@"
    awk -v a="$start" -v b="$EPOCHREALTIME" -v what="${*:1:2}" \
        'BEGIN { printf "grid step: %.1f s: %s\n", b - a, what }'
}
[ $# -ge 1 ] || usage
command="$1"; shift
remote=()
push=""
case "$command" in
    list)
        exec python -m har.grid "$@" ;;
    run|assemble)
        while [ $# -gt 0 ]; do
            case "$1" in
                -r) remote=(-r "$2"); shift 2 ;;
                --push) [ "$command" = assemble ] || usage; push=1; shift ;;
                *) break ;;
            esac
        done ;;
    *) usage ;;
esac

if [ "$command" = run ]; then
    [ $# -ge 2 ] && [ $(($# % 2)) -eq 0 ] || usage
    targets=()
    while [ $# -gt 0 ]; do
        targets+=("train@$1-$2" "evaluate@$1-$2"); shift 2
    done
    echo "== grid run: ${targets[*]}"
    # Missing objects are not an error (--allow-missing): what cannot be restored runs here.
    step dvc pull "${remote[@]}" --run-cache --with-deps --allow-missing "${targets[@]}"
    step dvc repro --pull "${targets[@]}"
    step dvc push "${remote[@]}" --with-deps "${targets[@]}"   # the outputs first,
    step dvc push "${remote[@]}" --run-cache "${targets[@]}"   # then the entries naming them
    echo "grid run: pushed ${targets[*]} and their run-cache entries"
    exit 0
fi

[ $# -eq 0 ] || usage
echo "== grid assemble"
step dvc pull "${remote[@]}" --run-cache --allow-missing
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
step dvc repro --pull 2>&1 | tee "$log"
# The runs that no slice had pushed: trained here. Say which, so a failed job is not missed.
ran_here="$(sed -n "s/^Running stage '\(\(train\|evaluate\)@[^']*\)':.*/\1/p" "$log" | tr '\n' ' ')"
if [ -n "$ran_here" ]; then
    echo "grid assemble: not on the remote, so run here: ${ran_here}(a slice failed or never ran)" >&2
else
    echo "grid assemble: every run restored from the remote; none trained or evaluated here"
fi
if [ -n "$push" ]; then
    dvc push "${remote[@]}"
    dvc push "${remote[@]}" --run-cache
fi
