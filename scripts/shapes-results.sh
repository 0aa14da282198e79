#!/usr/bin/env bash
# Reproduces the Shapes table of docs/RESULTS.md: mean pooling vs X-Pool on the same CLIP backbone trained from
# scratch, 3 seeds, evaluated on test and test-novel, overall and per caption type.
#   stage 1: CLIP (shapes-small) trained from scratch with mean pooling, 10 epochs  -> the backbone of seed s
#   stage 2: on that backbone, 5 more epochs with each head: meanp (continued) and xpool (new head), same budget
# Usage: scripts/shapes-results.sh [WORKDIR]   (about 30 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-results-shapes}
mkdir -p "$work"
dotnet build src/VidSeek.Cli -c Release -v q -nologo >/dev/null
vidseek() { dotnet src/VidSeek.Cli/bin/Release/net10.0/vidseek.dll "$@"; }
common=(--data "$work/data" --val-split val --frames 8 --batch-size 32 --weight-decay 0.05)

[ -f "$work/data/MSRVTT_data.json" ] || vidseek synth --out "$work/data" --seed 1 --videos 800
for seed in 1 2 3; do
  base="$work/backbone-seed$seed"
  [ -f "$base/checkpoint/trainer_state.json" ] ||
    vidseek train --model meanp --clip-config shapes-small "${common[@]}" --out "$base" --epochs 10 --clip-lr 1e-3 --seed "$seed"
  for model in meanp xpool; do
    run="$work/$model-seed$seed"
    [ -f "$run/checkpoint/trainer_state.json" ] ||
      vidseek train --model "$model" --init "$base/checkpoint" "${common[@]}" --out "$run" --epochs 5 --clip-lr 1e-4 --head-lr 1e-3 --seed "$seed"
  done
done
for model in meanp xpool; do
  for split in test test-novel; do
    ckpts=("$work/$model-seed1/checkpoint" "$work/$model-seed2/checkpoint" "$work/$model-seed3/checkpoint")
    vidseek eval --data "$work/data" --split "$split" --checkpoint "${ckpts[@]}" --json > "$work/$model-$split.json"
    echo "== $model, $split"
    vidseek eval --data "$work/data" --split "$split" --checkpoint "${ckpts[@]}"
  done
done
