#!/usr/bin/env bash
# Reproduces the VLT fusion ablation of docs/RESULTS.md: V2T, naive T2V2T, T2V2T (Bypass CA) and self-attention fusion,
# each trained from scratch with ITC + ITM on the same Shapes corpus as the X-Pool table, same budget (10 epochs, batch 32,
# 4 frames per training clip, lr 3e-4), 3 seeds; then scripts/vlt-eval.sh (test and test-novel, 8 frames, ITC-only and
# with the top 16 of each caption's 80 videos re-ranked by ITM) and scripts/vlt-table.py (the table).
# Usage: scripts/vlt-ablation.sh [WORKDIR]   (about 80 minutes on 2 cores; finished runs are skipped, interrupted ones resumed)
# SEEDS="1 2" limits the seeds; VLT_TRAIN_ONLY=1 skips the evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-results-shapes}
mkdir -p "$work"
# VIDSEEK_BIN: a built CLI folder to use as is (so that rebuilding the tree meanwhile does not touch the running one).
bin=${VIDSEEK_BIN:-src/VidSeek.Cli/bin/Release/net10.0}
[ -n "${VIDSEEK_BIN:-}" ] || dotnet build src/VidSeek.Cli -c Release -v q -nologo >/dev/null
export VIDSEEK_BIN=$bin
vidseek() { dotnet "$bin/vidseek.dll" "$@"; }

[ -f "$work/data/MSRVTT_data.json" ] || vidseek synth --out "$work/data" --seed 1 --videos 800
fusions=(t2v2t v2t naive-t2v2t self-attention)
seeds=(${SEEDS:-1 2 3})
for seed in "${seeds[@]}"; do
  for fusion in "${fusions[@]}"; do
    run="$work/vlt-$fusion-seed$seed"
    # A finished run resumes to nothing; an interrupted one continues where it stopped.
    if [ -f "$run/checkpoint/trainer_state.json" ]; then vidseek train --resume "$run"; continue; fi
    vidseek train --model vlt --fusion "$fusion" --vlt-config shapes-small --data "$work/data" --out "$run" \
      --epochs 10 --batch-size 32 --frames 4 --eval-frames 8 --clip-lr 3e-4 --head-lr 3e-4 --weight-decay 0.05 --seed "$seed"
  done
done
if [ "${VLT_TRAIN_ONLY:-0}" = 1 ]; then exit 0; fi
scripts/vlt-eval.sh "$work" "${seeds[@]}"
python3 scripts/vlt-table.py "$work"
