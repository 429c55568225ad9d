#!/usr/bin/env bash
# The synthetic-world experiment of docs/synthetic-experiment.md, end to end on CPUs:
# data -> VAE (the pixel preset's lossless codec needs none) -> base model without rewards -> four
# reward variants x seeds fine-tuned from it -> oracle evaluation -> comparison tables.
# Every stage is skipped when its output exists, so a stopped run resumes where it was. Each stage
# that ran appends its wall time to RUNS/timings.tsv (a resumed stage: one line per sitting).
#
#   scripts/synth_experiment.sh               # everything, into runs/synth
#   RUNS=/tmp/x SEEDS="0 1 2" JOBS=4 scripts/synth_experiment.sh
#   PRESET=small32 DEVICE=cuda JOBS=4 BATCH=64 VAE_BATCH=32 VAE_STEPS=10000 BASE_STEPS=15000 \
#       TRAIN_STEPS=2000 scripts/synth_experiment.sh    # on a GPU (docs/synthetic-experiment.md: sizing)
#   BASE=ckpt scripts/synth_experiment.sh      # fine-tune the variants from ckpt (and use its VAE)
#   BASE_STEPS=0 TRAIN_STEPS=5000 MIX=local=4,remove=4,add=4,background=3 scripts/synth_experiment.sh
#       # no stage 1: each variant trained from the start (synth-base.yaml) on re-weighted data (run 9)
#   BASE_STEPS=0 FIRST_MIX=local=1,remove=1,add=0,texture=0,background=0,global=0,style=0 \
#       FIRST_STEPS=2500 TRAIN_STEPS=2000 TRAIN_LR=5e-4 MIX=local=4,remove=4,add=4,background=3 \
#       scripts/synth_experiment.sh    # a curriculum: each variant first learns the object edits (run 10)
#   PRETRAIN_STEPS=2000 BASE_STEPS=0 TRAIN_STEPS=3000 TRAIN_LR=5e-4 MIX=local=4,remove=4,add=4,background=3 \
#       scripts/synth_experiment.sh    # the U-Net first learns to draw from captions, as SD before InstructPix2Pix (run 12)
#
# Writes RUNS/variants.md (every variant, mean ± sd over the seeds, and each paired by seed with
# no reward), RUNS/sliders-{following,preserving,quality}.md (each perspective asked 0-5, the
# others 5, of the first seed's score + text model) and RUNS/reward-guidance.md.
set -euo pipefail

RUNS=${RUNS:-runs/synth}
BASE=${BASE:-}                   # a checkpoint to start the variants from, instead of training VAE and base
PRESET=${PRESET:-pixel}          # pixel: lossless codec; small / small32: VAEs trained first
SEEDS=${SEEDS:-"0 1 2"}
JOBS=${JOBS:-2}                 # processes at once, one thread each
DATA_COUNT=${DATA_COUNT:-12000}
BENCH_COUNT=${BENCH_COUNT:-504}  # the benchmark's edits (fewer only for a quick try of the script)
MIX=${MIX:-}                     # synth-data --mix: category weights of the training data (empty: equal)
VAE_STEPS=${VAE_STEPS:-4000}     # ignored for pixel, whose codec has nothing to train
PRETRAIN_STEPS=${PRETRAIN_STEPS:-0}  # >0: text-to-image pretraining on captioned scenes before any edit
BASE_STEPS=${BASE_STEPS:-10000}  # stage 1: one run, all cores; 0: none, the variants start from scratch
TRAIN_STEPS=${TRAIN_STEPS:-800}  # stage 2: each variant and seed
TRAIN_LR=${TRAIN_LR:-}           # stage 2's learning rate (empty: its config's)
FIRST_MIX=${FIRST_MIX:-}         # with BASE_STEPS=0: each variant first trains on data of this mix
FIRST_STEPS=${FIRST_STEPS:-2500} # ... for this many steps, then on the main data from there
EVAL_STEPS=${EVAL_STEPS:-10}
# Guidance 3 / 1 beat InstructPix2Pix's 7.5 / 1.5 on every young pixel model compared (run 5); the
# region-loss bases of runs 16-17 follow most at 2 / 1.
EVAL_GUIDANCE=${EVAL_GUIDANCE:-2}
EVAL_IMAGE_GUIDANCE=${EVAL_IMAGE_GUIDANCE:-1}
VAE_BATCH=${VAE_BATCH:-8}
BATCH=${BATCH:+--batch-size $BATCH}  # both training stages; unset: the configs' 16
DEVICE=${DEVICE:-cpu}            # where eval samples; training takes the GPU whenever there is one
VARIANTS=(none score text score+text)
# The sliders, asked of the first seed's score+text model one perspective at a time (empty: only 5).
read -ra SLIDER_SCORES <<< "${SLIDER_SCORES-0 1 2 3 4}"
read -ra REWARD_GUIDANCE <<< "${REWARD_GUIDANCE-2 3}"
SLIDER_COUNT=${SLIDER_COUNT:-112}
PERSPECTIVE_NAMES=(following preserving quality)
export OMP_NUM_THREADS=1
[[ -z $FIRST_MIX || ( -z $BASE && $BASE_STEPS == 0 ) ]] || { echo "FIRST_MIX needs BASE_STEPS=0 and no BASE" >&2; exit 2; }
[[ $PRETRAIN_STEPS == 0 || -z $BASE ]] || { echo "PRETRAIN_STEPS needs no BASE" >&2; exit 2; }

CONFIGS=$(dirname "$0")/../training/configs

parallel() {  # run each line of stdin as a command, JOBS at a time; fail if any fails
    local failed=0
    while read -r line; do
        while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || failed=1; done
        bash -c "$line" &
    done
    while (($(jobs -rp | wc -l) > 0)); do wait -n || failed=1; done
    return $failed
}

timed() {  # STAGE COMMAND...: run it and append "STAGE<TAB>seconds" to RUNS/timings.tsv
    local stage=$1 start=$SECONDS
    shift
    "$@"
    printf '%s\t%d\n' "$stage" $((SECONDS - start)) >> "$RUNS/timings.tsv"
}

mkdir -p "$RUNS"
[[ -f $RUNS/data/manifest.jsonl ]] || timed data rewardedit synth-data --out "$RUNS/data" --count "$DATA_COUNT" --seed 1 \
    --workers "$(nproc --all)" ${MIX:+--mix "$MIX"}
[[ -z $FIRST_MIX || -f $RUNS/data-first/manifest.jsonl ]] || timed "data first" rewardedit synth-data \
    --out "$RUNS/data-first" --count "$DATA_COUNT" --seed 1 --workers "$(nproc --all)" --mix "$FIRST_MIX"
[[ -f $RUNS/bench/benchmark.json ]] || timed benchmark rewardedit synth-benchmark --out "$RUNS/bench" --count "$BENCH_COUNT" \
    --seed 99
[[ -z $BASE || -f $BASE/model_index.json ]] || { echo "BASE=$BASE holds no checkpoint" >&2; exit 2; }
VAE=${BASE:-$RUNS/vae}
INIT=$VAE  # where edit training starts: the VAE's folder, or the captions' pretraining
((PRETRAIN_STEPS == 0)) || INIT=$RUNS/train/pretrain/final
START=${BASE:-$RUNS/train/base/final}
STAGE2=(--config "$CONFIGS/synth.yaml")
FROM_START=(--config "$CONFIGS/synth-base.yaml" --reward-dropout 0.1)  # the base's recipe, the null reward learnt too
BASE_ROW="base, before fine-tuning=$RUNS/eval/base"  # variants.md's row for the base; none without one
if [[ -z $BASE && $BASE_STEPS == 0 ]]; then  # from the start: the base's recipe with the reward dropout
    START=$INIT
    STAGE2=("${FROM_START[@]}")
    BASE_ROW=""
fi
STAGE2+=(${TRAIN_LR:+--learning-rate $TRAIN_LR})
# vae/ is also written every 1000 steps on the way, so only this marker says the VAE is done.
if [[ -z $BASE && ! -f $RUNS/vae.done && $PRESET == pixel ]]; then
    rewardedit make-model --preset pixel "$RUNS/vae" && touch "$RUNS/vae.done"
fi
[[ -n $BASE || -f $RUNS/vae.done ]] || { OMP_NUM_THREADS=$JOBS timed vae rewardedit train-vae --preset "$PRESET" \
    --data "$RUNS/data/manifest.jsonl" --eval-data "$RUNS/bench/images" --out "$RUNS/vae" \
    --max-steps "$VAE_STEPS" --batch-size "$VAE_BATCH" --learning-rate 1e-3 --log-every 250 --save-every 1000 \
    && touch "$RUNS/vae.done"; }

# The ceiling (exact edits through the VAE), then the bounds: a model that learned the noisy
# targets perfectly, untold (eval/noisy) and asked for 5/5/5 (eval/noisy-5).
for targets in exact noisy noisy-5; do
    name=${targets/exact/ceiling}
    [[ -f $RUNS/eval/$name/results.json ]] || timed "bounds $targets" rewardedit synth-ceiling --model "$VAE" \
        --benchmark "$RUNS/bench" --out "$RUNS/eval/$name" --targets "$targets" > /dev/null
done

mkdir -p "$RUNS/train"
if [[ $INIT != "$VAE" && ! -f $INIT/model_index.json ]]; then  # one run, all cores, as the base
    [[ -f $RUNS/captions/manifest.jsonl ]] || timed captions rewardedit synth-captions --out "$RUNS/captions" \
        --count "$DATA_COUNT" --seed 1 --workers "$(nproc --all)"
    OMP_NUM_THREADS=$(nproc --all) timed pretrain rewardedit train --config "$CONFIGS/synth-base.yaml" \
        --init "$VAE" --manifest "$RUNS/captions/manifest.jsonl" --out "$RUNS/train/pretrain" \
        --max-steps "$PRETRAIN_STEPS" $BATCH --encoding-cache-file "$RUNS/train/encodings-captions.pt" \
        --resume > "$RUNS/train/pretrain.log" 2>&1
fi
ENCODINGS=$RUNS/train/encodings.pt  # the frozen encoders' outputs, written by the first run, read by the rest
[[ -f $START/model_index.json ]] || OMP_NUM_THREADS=$(nproc --all) timed base rewardedit train \
    --config "$CONFIGS/synth-base.yaml" --init "$INIT" --manifest "$RUNS/data/manifest.jsonl" \
    --out "$RUNS/train/base" --max-steps "$BASE_STEPS" $BATCH --encoding-cache-file "$ENCODINGS" \
    --resume > "$RUNS/train/base.log" 2>&1

train_line() {  # VARIANT SEED INIT DATA OUT STEPS ENCODINGS [FLAGS...]: a variant's train command, logged to OUT.log
    local variant=$1 seed=$2 init=$3 data=$4 out=$5 steps=$6 encodings=$7
    shift 7
    echo "rewardedit train $* --init $init --manifest $data/manifest.jsonl --out $out --reward-inputs $variant" \
        "--seed $seed --max-steps $steps $BATCH --encoding-cache-file $encodings --resume > $out.log 2>&1"
}
for seed in $SEEDS; do
    for variant in "${VARIANTS[@]}"; do
        out=$RUNS/train/$variant-$seed
        [[ ! -f $out/final/model_index.json ]] || continue
        start=$START first=""
        if [[ -n $FIRST_MIX ]]; then  # the curriculum's first stage, then the main data from its end
            start=$out-first/final
            [[ -f $start/model_index.json ]] || first="$(train_line "$variant" "$seed" "$START" "$RUNS/data-first" \
                "$out-first" "$FIRST_STEPS" "$RUNS/train/encodings-first.pt" "${FROM_START[@]}") && "
        fi
        echo "$first$(train_line "$variant" "$seed" "$start" "$RUNS/data" "$out" "$TRAIN_STEPS" "$ENCODINGS" \
            "${STAGE2[@]}")"
    done
done | timed variants parallel

evaluate() {  # NAME MODEL [eval flags...]: print the command, unless its result exists (BENCH: another benchmark)
    local name=$1 model=$2
    shift 2
    [[ -f $RUNS/eval/$name/results.json ]] || echo "rewardedit eval --judge oracle --model $model" \
        "--benchmark ${BENCH:-$RUNS/bench} --out $RUNS/eval/$name --steps $EVAL_STEPS --guidance-scale $EVAL_GUIDANCE" \
        "--image-guidance-scale $EVAL_IMAGE_GUIDANCE --device $DEVICE $* > /dev/null 2>&1"
}
first=${SEEDS%% *}
best=$RUNS/train/score+text-$first/final
# The sliders (each perspective asked 0-5, the others 5) and reward guidance, on the benchmark's
# first SLIDER_COUNT items (the same seed, so the same edits).
[[ -f $RUNS/bench-sliders/benchmark.json ]] || rewardedit synth-benchmark --out "$RUNS/bench-sliders" \
    --count "$SLIDER_COUNT" --seed 99 > /dev/null
slider() {  # NAME MODEL [eval flags...]: evaluate on the sliders' benchmark
    local name=$1 model=$2
    shift 2
    BENCH=$RUNS/bench-sliders evaluate "sliders/$name" "$model" "$@"
}
scores_asking() {  # PERSPECTIVE-INDEX SCORE: "F P Q" with SCORE in that place, 5 elsewhere
    local scores=(5 5 5)
    scores[$1]=$2
    echo "${scores[*]}"
}
{
    [[ -z $BASE_ROW ]] || evaluate base "$START"
    for seed in $SEEDS; do
        for variant in "${VARIANTS[@]}"; do evaluate "$variant-$seed" "$RUNS/train/$variant-$seed/final"; done
    done
    slider 5 "$best"
    slider noreward "$best" --no-reward
    for p in 0 1 2; do
        for score in "${SLIDER_SCORES[@]}"; do
            slider "${PERSPECTIVE_NAMES[p]}$score" "$best" --score $(scores_asking "$p" "$score")
        done
    done
    for scale in "${REWARD_GUIDANCE[@]}"; do slider "rg$scale" "$best" --reward-guidance-scale "$scale"; done
} | timed evaluations parallel

runs_of() { local v=$1 list=""; for s in $SEEDS; do list+="${list:+,}$RUNS/eval/$v-$s"; done; echo "$list"; }
rewardedit compare --out "$RUNS/variants.md" --paired-with "no reward" \
    "VAE round trip of the truth=$RUNS/eval/ceiling" \
    "noisy data learned perfectly, no reward=$RUNS/eval/noisy" \
    "noisy data learned perfectly, 5/5/5 asked=$RUNS/eval/noisy-5" \
    ${BASE_ROW:+"$BASE_ROW"} "no reward=$(runs_of none)" "score only=$(runs_of score)" \
    "text only=$(runs_of text)" "score + text=$(runs_of score+text)"
sliders=$RUNS/eval/sliders
for p in 0 1 2; do
    name=${PERSPECTIVE_NAMES[p]}
    rows=()
    for score in "${SLIDER_SCORES[@]}"; do rows+=("$name $score=$sliders/$name$score"); done
    rewardedit compare --out "$RUNS/sliders-$name.md" "${rows[@]}" "$name 5=$sliders/5" \
        "no reward asked=$sliders/noreward"
done
if ((${#REWARD_GUIDANCE[@]})); then
    guidance=("reward guidance 1=$sliders/5")
    for scale in "${REWARD_GUIDANCE[@]}"; do guidance+=("reward guidance $scale=$sliders/rg$scale"); done
    rewardedit compare --out "$RUNS/reward-guidance.md" "${guidance[@]}"
fi
