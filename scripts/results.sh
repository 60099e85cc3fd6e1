#!/usr/bin/env bash
# Regenerate the results and check that what the repository publishes is honest.
# The logic of .github/workflows/results.yml, so it runs the same anywhere:
#
#   scripts/results.sh [--preset NAME] [--base REV] [--out DIR]
#
#   --preset NAME  run on a preset's profile (`har preset apply NAME`; .ci/run uses tiny).
#                  This edits params.yaml: run it in a clone you can throw away.
#   --base REV     the revision `dvc metrics diff` compares with (default: main, else HEAD)
#   --out DIR      where the table, curves, metrics diff and PR comment go (default ci-results)
#
# Steps, each failing the run if it fails:
#   1. The committed results are what the pipeline wrote from this commit's code and params
#      (python -m har.results_check): dvc.lock records this commit's source files and params,
#      metrics/ and reports/results.md have the hashes it records, and README's results
#      block is what the report code renders from those metrics.
#   2. Data and models come from the DVC remote where one is reachable; `dvc repro` then
#      builds whatever the remote did not have (everything, with no remote), and
#      `har prune-lock` drops the entries of stages dvc.yaml no longer defines.
#   3. The regenerated reports/results.md is what the report code renders from the
#      regenerated metrics, and those match the new dvc.lock. And the numbers reproduce:
#      every seed's accuracies, loss and best epoch equal the committed ones bit for bit
#      (metrics/ for the default profile, presets/<NAME>.metrics/ for a preset that has
#      them), whatever the CPU (har/cpu_kernels.py). README is not compared again: step 1
#      already tied README to the committed metrics.
#   4. DIR gets results.md, curves.png, metrics-diff.md (`dvc metrics diff BASE --md`) and
#      comment.md (both, for a pull request comment).
set -euo pipefail

preset="" base="" out="ci-results"
while [ $# -gt 0 ]; do
    case "$1" in
        --preset) preset="$2"; shift 2 ;;
        --base) base="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "usage: $0 [--preset NAME] [--base REV] [--out DIR]" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
# This checkout's har, whatever `pip install -e` pointed at (a clone beside the dev tree).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -z "$base" ]; then
    if git rev-parse --verify -q main >/dev/null; then base=main; else base=HEAD; fi
fi

echo "== 1. committed results against dvc.lock and the report code"
python -m har.results_check

# The numbers the rerun must reproduce, taken before anything is regenerated.
expected="$(mktemp -d)"
trap 'rm -rf "$expected"' EXIT
profile="default profile"
if [ -n "$preset" ]; then
    if [ -d "presets/$preset.metrics" ]; then
        cp "presets/$preset.metrics"/*.json "$expected/"
    else
        echo "no presets/$preset.metrics/: the regenerated numbers are not compared"
        rm -rf "$expected"; expected=""
    fi
    har preset apply "$preset"
    profile="preset $preset"
else
    cp metrics/*.json "$expected/"  # the committed results, checked in step 1
fi

echo "== 2. dvc pull (where a remote is reachable), then dvc repro ($profile)"
# A missing or unreachable remote is not an error: dvc repro builds what is missing, and
# says so stage by stage. Any failure of dvc repro itself fails the run.
if dvc pull --allow-missing; then
    echo "dvc pull: done (stages whose outputs came from the remote will not rerun)"
else
    echo "dvc pull: remote not reachable or incomplete; dvc repro builds what is missing"
fi
dvc repro
har prune-lock  # another profile's models or seeds leave entries dvc.yaml no longer defines

echo "== 3. regenerated results against the new metrics and dvc.lock, numbers against the committed ones"
python -m har.results_check --no-readme ${expected:+--expected "$expected"}

echo "== 4. table, curves, metrics diff against $base -> $out/"
mkdir -p "$out"
cp reports/results.md reports/curves.png "$out/"
dvc metrics diff "$base" --md > "$out/metrics-diff.md"
{
    echo "## Results: \`dvc repro\`, $profile, at $(git rev-parse --short HEAD)"
    echo
    echo "### Metrics against \`$base\`"
    echo
    if [ -s "$out/metrics-diff.md" ]; then cat "$out/metrics-diff.md"; else echo "No metric changed."; fi
    echo
    tail -n +2 reports/results.md   # without its "# Results" title
} > "$out/comment.md"
echo "wrote $out/results.md, curves.png, metrics-diff.md, comment.md"
