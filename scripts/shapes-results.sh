#!/usr/bin/env bash
# Reproduces the Shapes table of docs/RESULTS.md: mean pooling vs X-Pool on the same CLIP architecture trained
# from scratch, 3 training seeds each, evaluated on test and test-novel, per caption type.
# Usage: scripts/shapes-results.sh [WORKDIR]   (about 30 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-results-shapes}
mkdir -p "$work"
dotnet build src/VidSeek.Cli -c Release -v q -nologo >/dev/null
vidseek() { dotnet src/VidSeek.Cli/bin/Release/net10.0/vidseek.dll "$@"; }

[ -f "$work/data/MSRVTT_data.json" ] || vidseek synth --out "$work/data" --seed 1 --videos 800
for model in meanp xpool; do
  for seed in 1 2 3; do
    run="$work/$model-seed$seed"
    [ -f "$run/checkpoint/trainer_state.json" ] && continue
    vidseek train --model "$model" --clip-config shapes-small --data "$work/data" --val-split val --out "$run" \
      --epochs 10 --frames 8 --batch-size 32 --clip-lr 1e-3 --head-lr 1e-3 --weight-decay 0.05 --seed "$seed"
  done
done
for model in meanp xpool; do
  for split in test test-novel; do
    echo "== $model, $split"
    vidseek eval --data "$work/data" --split "$split" \
      --checkpoint "$work/$model-seed1/checkpoint" "$work/$model-seed2/checkpoint" "$work/$model-seed3/checkpoint" \
      --json > "$work/$model-$split.json"
    vidseek eval --data "$work/data" --split "$split" \
      --checkpoint "$work/$model-seed1/checkpoint" "$work/$model-seed2/checkpoint" "$work/$model-seed3/checkpoint"
  done
done
