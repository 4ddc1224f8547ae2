#!/usr/bin/env bash
# Train (or resume) every registry model with one profile, one after the other.
# Usage: scripts/train_all.sh cpu [model ...]   (data from LUNGSEG_DATA)
# Safe to stop at any time and to run again: each run resumes from its last finished epoch,
# and finished runs are skipped.
set -u
profile=${1:?usage: scripts/train_all.sh PROFILE [MODEL...]}
shift
models=${*:-unet nasnet_decoder unet3_compact segnet unet22 resnet50_unet resnet101_unet deeplabv3plus}
cd "$(dirname "$0")/.."
for m in $models; do
  echo "=== $(date -Is) $profile/$m"
  .venv/bin/lungseg train --model "$m" --profile "$profile" || echo "=== FAILED $profile/$m"
done
echo "=== $(date -Is) all done"
