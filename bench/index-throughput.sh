#!/usr/bin/env bash
# Indexing throughput on a generated collection of long H.264 videos (docs/PERFORMANCE.md, "Indexing throughput").
#   bench/index-throughput.sh small            # reduced collection (5 files, 440 s of video)
#   bench/index-throughput.sh full             # the issue's: 720p and 1080p clips of 10 s to 5 min, one 60-minute 1080p file
#   bench/index-throughput.sh full --generate-only true   # only make (or check) the cached videos
# Extra arguments go to the bench (e.g. --models demo, --access auto,sequential, --out FILE.md).
# Debian's ffmpeg generates the videos; it is installed here, for the bench only: VidSeek itself never uses it.
set -euo pipefail
collection="${1:-small}"; shift || true
if ! command -v ffmpeg >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq ffmpeg; else sudo apt-get update -qq && sudo apt-get install -y -qq ffmpeg; fi
fi
cd "$(dirname "$0")/.."
exec dotnet run -c Release --project bench/VidSeek.Bench -- index-throughput --collection "$collection" "$@"
