#!/usr/bin/env bash
# Train (or resume) registry models with one profile and one or more seeds, one after the other.
# Usage: scripts/train_all.sh PROFILE [--seeds "0 1 2"] [MODEL ...]   (data from LUNGSEG_DATA)
# Models default to every registry model (`lungseg models --names`); run folders are
# runs/PROFILE/MODEL/seedK. Safe to stop at any time and to run again: each run resumes from
# its last finished epoch, and finished runs are skipped.
set -u
profile=${1:?usage: scripts/train_all.sh PROFILE [--seeds "0 1 2"] [MODEL...]}
shift
seeds=0
if [ "${1:-}" = "--seeds" ]; then seeds=${2:?--seeds needs a list, e.g. \"0 1 2\"}; shift 2; fi
cd "$(dirname "$0")/.."
lungseg=${LUNGSEG:-.venv/bin/lungseg}
models=${*:-$($lungseg models --names)}
for seed in $seeds; do
  for m in $models; do
    echo "=== $(date -Is) $profile/$m seed $seed"
    $lungseg train --model "$m" --profile "$profile" --seed "$seed" || echo "=== FAILED $profile/$m seed $seed"
  done
done
echo "=== $(date -Is) all done"
