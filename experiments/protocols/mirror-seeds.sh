#!/bin/bash
# Per-layer magnitude and SparseGPT at 80 % over seeds, trained by PyTorch two ways (issue 10's
# "SparseGPT ≥ 15 points above per-layer magnitude" claim):
#   replay: our initial weights and our batch order (export-trajectory.ts), torch.optim.Adam;
#   mirror: PyTorch's own draws (torch_reference.py --seed s).
# Both train on the embedded split exported by export-embedded.ts. Output: <out>/replay.jsonl, <out>/mirror.jsonl;
# summarize with  /usr/bin/python3 experiments/protocols/summarize_mirror.py <out>
#
#   experiments/protocols/mirror-seeds.sh <first seed> <last seed> [out dir, default /tmp/bp_mirror]
#
# About 15-60 s per seed and side on one core (load-dependent); run it under nice.
set -euo pipefail
cd "$(dirname "$0")/../.."
first=${1:?first seed}
last=${2:?last seed}
out=${3:-/tmp/bp_mirror}
mkdir -p "$out"
[ -f /tmp/bp_torch/train_x.f32 ] || npx tsx experiments/protocols/export-embedded.ts /tmp/bp_torch
for s in $(seq "$first" "$last"); do
  npx tsx experiments/protocols/export-trajectory.ts configs/protocols-sparsegpt-lenet300.yaml "$out/traj-s$s" --seed "$s" >/dev/null
  /usr/bin/python3 experiments/protocols/torch_reference.py --replay "$out/traj-s$s" >>"$out/replay.jsonl"
  /usr/bin/python3 experiments/protocols/torch_reference.py --seed "$s" >>"$out/mirror.jsonl"
done
