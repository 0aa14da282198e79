#!/usr/bin/env bash
# Evaluates the VLT ablation runs of scripts/vlt-ablation.sh one checkpoint at a time (so finished seeds can be evaluated
# while others train): test and test-novel, 8 frames, the top 16 of 80 videos re-ranked by ITM; one JSON per run and split.
# Usage: scripts/vlt-eval.sh [WORKDIR] [SEED...]   (default seeds 1 2 3; JSON files that exist are kept)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-results-shapes}
shift || true
if [ $# -gt 0 ]; then seeds=("$@"); else seeds=(1 2 3); fi
bin=${VIDSEEK_BIN:-src/VidSeek.Cli/bin/Release/net10.0}
[ -n "${VIDSEEK_BIN:-}" ] || dotnet build src/VidSeek.Cli -c Release -v q -nologo >/dev/null
for seed in "${seeds[@]}"; do
  for fusion in t2v2t v2t naive-t2v2t self-attention; do
    for split in test test-novel; do
      out="$work/vlt-$fusion-seed$seed-$split.json"
      [ -f "$out" ] && continue
      dotnet "$bin/vidseek.dll" eval --data "$work/data" --split "$split" --checkpoint "$work/vlt-$fusion-seed$seed/checkpoint" \
        --frames 8 --rerank-k 16 --json > "$out.tmp" && mv "$out.tmp" "$out"
      echo "evaluated $fusion seed $seed on $split"
    done
  done
done
