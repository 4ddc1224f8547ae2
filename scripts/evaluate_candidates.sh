#!/usr/bin/env bash
# The default model's selection (params/select.yaml): every candidate's seed-0 run scored on
# the validation split of each data set, clean and under the perturbation grid, into
# RUN/evaluations/<data>-val/ (report/selection.py reads them). Validation images only.
set -u
cd "$(dirname "$0")/.."
lungseg=${LUNGSEG:-.venv/bin/lungseg}
python=${PYTHON:-.venv/bin/python}
candidates=$($python -c "from lungseg_lib.report.selection import rule; print(' '.join(f'{p}/{m}' for p, m in rule()['candidates']))")
sets=$($python -c "from lungseg_lib.report.selection import rule; print(' '.join(rule()['validation']))")
for c in $candidates; do
  run=runs/$c/seed0
  [ -f "$run/model.keras" ] || { echo "=== skip $run: not trained"; continue; }
  for data in $sets; do
    [ -f "$run/evaluations/$data-val/robustness.csv" ] && continue
    echo "=== $(date -Is) $run on $data val"
    $lungseg evaluate "$run" --data "$data" --split val </dev/null || echo "=== FAILED $run $data"
  done
done
echo "=== $(date -Is) all done"
