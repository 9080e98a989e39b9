#!/usr/bin/env bash
# The few-shot benchmark of issue 27 on the four bundled labelled sets: three
# centred, glyph-like sets and one whose classes vary in pose and shape
# (animals). Four held-out classes per set, spread over its classes, held out
# together from one base (--per-base 4: one base per method and set, to fit
# 2 CPU cores); 5 shot seeds; FD ×floor against k = 1, 2, 4, 8, 16.
#
#   experiments/benchmark_datasets.sh OUT_DIR [METHODS]     # METHODS default: shotmorph,lofgan
#
# Everything is cached in OUT_DIR/<set>: run it again to resume, or with
# more methods to add rows. experiments/benchmark_tables.py then copies the
# raw results next to the docs and writes the combined table.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: $0 OUT_DIR [METHODS]}
methods=${2:-shotmorph,lofgan}
for data in animals digits fashion_mnist:all:5000 glyphs:greek::100; do
  tag=${data%%:*}
  python benchmark.py --data "$data" --methods "$methods" --num-classes 4 --per-base 4 \
    --seeds 0,1,2,3,4 --shot-sweep 1,2,8,16 --out-dir "$out/$tag"
done
