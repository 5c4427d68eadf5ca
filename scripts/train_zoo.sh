#!/usr/bin/env bash
# The zoo's recipe for one width multiplier: training, then every input size converted to
# int8 (and float with --float), scored and written to models/.
#
#   scripts/train_zoo.sh 0.75 [--float] [--steps N]
#
# Alpha 0.75 is the reference SSD's own width: its backbone, extra layers and predictors
# load into ours (--backbone reference --head reference; pi_vision/training/head_transfer.py),
# and one stage fine-tunes the whole network. Alpha 1.0 and 0.5 start from that trained
# 0.75 run, carried to their width (--init-from; widened exactly, or narrowed with the 1x1
# layers refitted: pi_vision/training/width_transfer.py), so train 0.75 first. Alpha 0.25
# keeps the older two-stage recipe from the ImageNet classifier: stage A trains the head on
# the frozen backbone, stage B fine-tunes everything.
# Alpha 0.5-1.0 were first trained with anchors that are fractions of each input size
# (--anchors-at 0), which left boxes too large at 224 and too small at 128; a last stage
# (runs/zoo_<alpha>_px) moves each to anchors of one pixel size at every input size. That
# is the history of the shipped files, kept so that this script reproduces them.
# ssd_mbv1_0.5_160 comes from a line of its own (see the end).
# The backbone trains with SGD (Adam rewrites pretrained weights), the head with Adam. Every
# stage distils from the fused teachers with 80% of the draws from the COCO scene photos.
# Re-running resumes each stage from its last checkpoint and skips finished ones.
# Runs go to runs/zoo_<alpha>[_a|_b|_px].
set -euo pipefail
cd "$(dirname "$0")/.."
alpha=${1:?usage: scripts/train_zoo.sh ALPHA [--float] [--steps N]}
shift
precision=(int8)
steps=
while [ $# -gt 0 ]; do
  case "$1" in
    --float) precision=(int8 float); shift ;;
    --steps) steps=$2; shift 2 ;;
    *) echo "train_zoo.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-.venv/bin/python}
common=(--alpha "$alpha" --teacher fused --scene-share 0.8 --mosaic 0 --zoom-out 0.1 --paste 0.5)
fine_tune=(--frozen-blocks 0 --backbone-optimizer sgd --backbone-lr-scale 10 --warmup 100)
# A stage whose last checkpoint exists is done: skip it rather than load its data again.
done_at() { [ -d "$1/checkpoints/$(printf 'step_%07d' "$2")" ]; }
train() { "$python" -m pi_vision.commands.train "${common[@]}" "$@"; }
case "$alpha" in
  0.75)
    done_at runs/zoo_0.75 2000 || train --backbone reference --head reference "${fine_tune[@]}" --anchors-at 0 \
        --box-loss-weight 0.5 --lr 3e-4 --steps 2000 --out runs/zoo_0.75
    lr=3e-4; : "${steps:=1000}" ;;
  1.0|0.5)
    [ -d runs/zoo_0.75/checkpoints ] || { echo "train_zoo.sh: alpha $alpha starts from runs/zoo_0.75: run scripts/train_zoo.sh 0.75 first" >&2; exit 2; }
    # Narrowing loses more than widening: the narrow network gets more steps at a higher rate.
    if [ "$alpha" = 1.0 ]; then lr=3e-4; first=800; : "${steps:=600}"; else lr=5e-4; first=1500; : "${steps:=1000}"; fi
    done_at "runs/zoo_$alpha" "$first" || train --init-from runs/zoo_0.75 "${fine_tune[@]}" --anchors-at 0 \
        --box-loss-weight 0.5 --lr "$lr" --steps "$first" --out "runs/zoo_$alpha" ;;
  *)
    : "${steps:=1500}"
    done_at "runs/zoo_${alpha}_a" "$steps" || train --backbone imagenet --frozen-blocks 13 --steps "$steps" \
        --lr 1.5e-3 --warmup 150 --out "runs/zoo_${alpha}_a"
    run=runs/zoo_${alpha}_b
    done_at "$run" "$steps" || train --init-from "runs/zoo_${alpha}_a" "${fine_tune[@]}" --box-loss-weight 0.25 \
        --lr 5e-4 --steps "$steps" --out "$run" ;;
esac
if [ -z "${run:-}" ]; then
  run=runs/zoo_${alpha}_px
  done_at "$run" "$steps" || train --init-from "runs/zoo_$alpha" "${fine_tune[@]}" --box-loss-weight 0.5 \
      --lr "$lr" --steps "$steps" --out "$run"
fi
"$python" -m pi_vision.commands.convert "$run" --sizes 128 160 192 224 --precision "${precision[@]}"
# 0.5_160 has its own line, which replaces the multi-size run's 160 files: a 0.75 run on
# pixel anchors from the start (runs/zoo_0.75_p), narrowed and trained at 160 alone
# (runs/zoo_0.5_160p), then 2,500 steps that also learn that 0.75 run's dense outputs
# (runs/zoo_0.5_160d). Without them the same 2,500 steps reached coco128 0.055, with them 0.068.
if [ "$alpha" = 0.5 ]; then
  done_at runs/zoo_0.75_p 2000 || train --alpha 0.75 --backbone reference --head reference "${fine_tune[@]}" \
      --box-loss-weight 0.5 --lr 3e-4 --steps 2000 --out runs/zoo_0.75_p
  done_at runs/zoo_0.5_160p 3500 || train --init-from runs/zoo_0.75_p "${fine_tune[@]}" --box-loss-weight 1.0 \
      --sizes 160 --lr 5e-4 --steps 3500 --out runs/zoo_0.5_160p
  done_at runs/zoo_0.5_160d 2500 || train --init-from runs/zoo_0.5_160p "${fine_tune[@]}" --warmup 50 \
      --box-loss-weight 1.0 --sizes 160 --lr 3e-4 --steps 2500 --distil-from runs/zoo_0.75_p --out runs/zoo_0.5_160d
  "$python" -m pi_vision.commands.convert runs/zoo_0.5_160d --sizes 160 --precision int8 float
fi
