#!/usr/bin/env bash
# The pneumonia study's cross-set evaluations (params/cpu-pneumonia.yaml): every seed-0 model
# trained on one data set scored on the other's test split and on the external-site split, and
# every pneumonia run on the external-site split (no perturbation grid). Results:
# RUN/evaluations/<data>-<split>/.
# Usage: scripts/evaluate_cross.sh [MODEL...]   (data from LUNGSEG_DATA and its sibling folders)
set -u
cd "$(dirname "$0")/.."
lungseg=${LUNGSEG:-.venv/bin/lungseg}
models=${*:-$($lungseg models --names)}
evaluate() {  # RUN DATA SPLIT: once (skipped when its metrics.json exists)
  [ -f "$1/model.keras" ] || { echo "=== skip $1: no weights"; return; }
  [ -f "$1/evaluations/$2-$3/metrics.json" ] && return
  echo "=== $(date -Is) $1 on $2 $3"
  $lungseg evaluate "$1" --data "$2" --split "$3" --no-robustness </dev/null || echo "=== FAILED $1 $2 $3"
}
for m in $models; do
  for sm in runs/cpu-rerun/$m/seed0 $(ls -d runs/cpu-lr-*/$m/seed0 runs/cpu-steps5/$m/seed0 2>/dev/null); do
    evaluate "$sm" covid_pneumonia_512 test
    evaluate "$sm" covid_pneumonia_512 external
  done
  for pn in runs/cpu-pneumonia/$m/seed*; do
    evaluate "$pn" covid_pneumonia_512 external
  done
  evaluate "runs/cpu-pneumonia/$m/seed0" shenzhen_montgomery_512 test
done
echo "=== $(date -Is) all done"
