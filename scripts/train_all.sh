#!/usr/bin/env bash
# Train (or resume) registry models with one profile and one or more seeds, one after the other.
# Usage: scripts/train_all.sh PROFILE [--seeds "0 1 2"] [MODEL ...]   (data from LUNGSEG_DATA)
#        scripts/train_all.sh PROFILE --plan    (the runs the profile's protocol asks for:
#                                                `lungseg models --plan PROFILE`)
# Models default to every registry model (`lungseg models --names`); run folders are
# runs/PROFILE/MODEL/seedK. Safe to stop at any time and to run again: each run resumes from
# its last finished epoch, and finished runs are skipped.
set -u
profile=${1:?usage: scripts/train_all.sh PROFILE [--seeds "0 1 2"] [MODEL...] | --plan}
shift
cd "$(dirname "$0")/.."
lungseg=${LUNGSEG:-.venv/bin/lungseg}
if [ "${1:-}" = "--plan" ]; then
  runs=$($lungseg models --plan "$profile" | grep -v '^#') || exit 2
else
  seeds=0
  if [ "${1:-}" = "--seeds" ]; then seeds=${2:?--seeds needs a list, e.g. \"0 1 2\"}; shift 2; fi
  models=${*:-$($lungseg models --names)}
  runs=$(for seed in $seeds; do for m in $models; do echo "$seed $m"; done; done)
fi
while read -r seed m; do
  echo "=== $(date -Is) $profile/$m seed $seed"
  $lungseg train --model "$m" --profile "$profile" --seed "$seed" </dev/null || echo "=== FAILED $profile/$m seed $seed"
done <<< "$runs"
echo "=== $(date -Is) all done"
