#!/usr/bin/env bash
# The reward-training proof on the synthetic world (docs/reward-training.md): preference pairs whose
# truth is the oracle's, a `small` EditReward-shaped model trained on one CPU core, tie-calibrated
# accuracy for following and quality on held-out pairs (another seed) over training.
#
#   scripts/reward_proof.sh [RUNS_DIR]      # default runs/reward-proof; rerun it to resume
#
# Stages: the pairs; the vision tower pretrained on the training pairs' images alone
# (pretrain-reward-vision: a stand-in for a base VLM's tower; no labels); the main variant
# (per-dimension heads, Rao-Kupper ties) on that base with the tower frozen, for MAIN_STEPS; the
# other five loss variants on the same base and the main variant from scratch (the control), for
# SHORT_STEPS each. Every run resumes from its latest checkpoint, so the script can be stopped and
# started again. All warm up for 60 steps, then keep LR constant.
set -euo pipefail
RUNS=${1:-runs/reward-proof}
MAIN_STEPS=${MAIN_STEPS:-3000}
SHORT_STEPS=${SHORT_STEPS:-300}
VISION_STEPS=${VISION_STEPS:-3000}
LR=${LR:-5e-4}
# The heads at LR die: their 16-unit ReLU layer goes silent (docs/reward-training.md).
HEAD_LR=${HEAD_LR:-1e-4}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RE=${REWARDEDIT:-rewardedit}
PY=${PYTHON:-python}
BASE="$RUNS/vision-base"

[ -f "$RUNS/data/train/pairs.json" ] || $RE synth-pairs --out "$RUNS/data/train" --count 4000 --seed 0
[ -f "$RUNS/data/heldout/pairs.json" ] || $RE synth-pairs --out "$RUNS/data/heldout" --count 500 --seed 1
[ -f "$BASE/model.safetensors" ] ||
  $RE pretrain-reward-vision --images "$RUNS/data/train/images" --out "$BASE" --steps "$VISION_STEPS"

run() {  # NAME MODE LOSS STEPS EVAL_EVERY START...
  local name=$1 mode=$2 loss=$3 steps=$4 every=$5 warmup
  shift 5
  warmup=$($PY -c "print(60 / $steps)")
  $RE train-reward "$@" --train-pairs "$RUNS/data/train/pairs.json" \
    --eval-pairs "$RUNS/data/heldout/pairs.json" --eval-every "$every" \
    --out "$RUNS/$name" --max-steps "$steps" --mode "$mode" --loss "$loss" \
    --batch-size 8 --gradient-accumulation-steps 1 --learning-rate "$LR" \
    --head-learning-rate "$HEAD_LR" --warmup-ratio "$warmup" \
    --checkpoint-every 100 --checkpoints-total-limit 2 --seed 0 --resume --log-every 50
}
pretrained=(--base-model "$BASE" --freeze-vision-tower)

run per-dimension-bt-ties per-dimension bt-ties "$MAIN_STEPS" 250 "${pretrained[@]}"
for mode in per-dimension overall; do
  for loss in uncertainty bt bt-ties; do
    [ "$mode-$loss" = per-dimension-bt-ties ] && continue
    run "$mode-$loss" "$mode" "$loss" "$SHORT_STEPS" 100 "${pretrained[@]}"
  done
done
run scratch-per-dimension-bt-ties per-dimension bt-ties "$SHORT_STEPS" 100 --shape small
$PY scripts/reward_proof_table.py "$RUNS" "$SHORT_STEPS"
