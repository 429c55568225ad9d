#!/usr/bin/env bash
# The reward-training proof on the synthetic world (docs/reward-training.md): preference pairs whose
# truth is the oracle's, a `small` EditReward-shaped model trained on one CPU core, tie-calibrated
# accuracy for following and quality on held-out pairs (another seed) over training.
#
#   scripts/reward_proof.sh [RUNS_DIR]      # default runs/reward-proof; rerun it to resume
#
# Every run resumes from its latest checkpoint, so the script can be stopped and started again.
# The main variant (per-dimension heads, Rao-Kupper ties) trains for MAIN_STEPS; the five others
# for SHORT_STEPS each. All warm up for 60 steps, then keep LR constant.
set -euo pipefail
RUNS=${1:-runs/reward-proof}
MAIN_STEPS=${MAIN_STEPS:-1500}
SHORT_STEPS=${SHORT_STEPS:-150}
LR=${LR:-5e-4}
# The heads at LR die: their 16-unit ReLU layer goes silent (docs/reward-training.md).
HEAD_LR=${HEAD_LR:-1e-4}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RE=${REWARDEDIT:-rewardedit}
PY=${PYTHON:-python}

[ -f "$RUNS/data/train/pairs.json" ] || $RE synth-pairs --out "$RUNS/data/train" --count 4000 --seed 0
[ -f "$RUNS/data/heldout/pairs.json" ] || $RE synth-pairs --out "$RUNS/data/heldout" --count 500 --seed 1

run() {  # NAME MODE LOSS STEPS EVAL_EVERY
  local warmup
  warmup=$($PY -c "print(60 / $4)")
  $RE train-reward --shape small --train-pairs "$RUNS/data/train/pairs.json" \
    --eval-pairs "$RUNS/data/heldout/pairs.json" --eval-every "$5" \
    --out "$RUNS/$1" --max-steps "$4" --mode "$2" --loss "$3" \
    --batch-size 8 --gradient-accumulation-steps 1 --learning-rate "$LR" \
    --head-learning-rate "$HEAD_LR" --warmup-ratio "$warmup" \
    --checkpoint-every 100 --checkpoints-total-limit 2 --seed 0 --resume --log-every 50
}

run per-dimension-bt-ties per-dimension bt-ties "$MAIN_STEPS" 200
for mode in per-dimension overall; do
  for loss in uncertainty bt bt-ties; do
    [ "$mode-$loss" = per-dimension-bt-ties ] && continue
    run "$mode-$loss" "$mode" "$loss" "$SHORT_STEPS" 75
  done
done
$PY scripts/reward_proof_table.py "$RUNS" "$SHORT_STEPS"
