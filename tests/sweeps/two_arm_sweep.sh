#!/usr/bin/env bash
# Writes a tiny two-arm training sweep (a 1-block ViT on synthetic 16-px data, 8 steps unless told, evaluated every
# 4): arm `ref` and arm `other` with one more model override, the tests' common fixture (share_runs.sh,
# extend_plan.sh, stop_resume.sh).
# usage: two_arm_sweep.sh <file> <sweep name> <seeds as a JSON list> <other's override> [steps]
set -euo pipefail
cat > "$1" <<JSON
{
  "sweep": "$2",
  "base": {"model": "vit_tiny_patch4_32", "overrides": ["img_size=16", "depth=1"], "dataset":
           "synthetic:train=256,test=64,classes=4,size=16", "val_size": 64, "batch": 32, "eval_batch": 64,
           "steps": ${5:-8}, "eval_every": 4, "warmup_steps": 2, "test_every_epoch": false},
  "arms": [{"name": "ref"}, {"name": "other", "overrides": ["$4"]}],
  "axes": {"seed": $3},
  "tiers": {"smoke": {}},
  "seconds_per_step": {"vit_tiny_patch4_32": {"seconds": 0.01, "batch": 32}}
}
JSON
