#!/usr/bin/env bash
# The zoo's recipe for one width multiplier: two training stages, then every input size
# converted to int8 (and float with --float), scored and written to models/.
#
#   scripts/train_zoo.sh 0.5 [--float] [--steps-a 1500] [--steps-b 1500]
#
# Stage A trains the SSDLite head and extra layers on the frozen pretrained backbone: the
# reference SSD's COCO-trained feature extractor at alpha 0.75 and 1.0 (widened, see
# pi_vision/training/width_transfer.py), the ImageNet classifier at 0.25 and 0.5. Stage B
# goes on from its weights and fine-tunes the whole backbone with SGD (Adam rewrites the
# pretrained weights), the box loss weighted down so the shared features keep the classes.
# Both distil from the fused teachers with 80% of the draws from the COCO scene photos.
# Re-running resumes each stage from its last checkpoint and skips finished ones. Runs go to runs/zoo_<alpha>_{a,b}.
set -euo pipefail
cd "$(dirname "$0")/.."
alpha=${1:?usage: scripts/train_zoo.sh ALPHA [--float] [--steps-a N] [--steps-b N]}
shift
precision=(int8)
steps_a=1500
steps_b=1500
while [ $# -gt 0 ]; do
  case "$1" in
    --float) precision=(int8 float); shift ;;
    --steps-a) steps_a=$2; shift 2 ;;
    --steps-b) steps_b=$2; shift 2 ;;
    *) echo "train_zoo.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-.venv/bin/python}
common=(--alpha "$alpha" --teacher fused --scene-share 0.8 --mosaic 0 --zoom-out 0.1 --paste 0.5)
# Narrowed to 0.5, the reference's backbone scored below ImageNet's (models/README.md).
case "$alpha" in 0.75|1.0) backbone=reference ;; *) backbone=imagenet ;; esac
# A stage whose last checkpoint exists is done: skip it rather than load its data again.
done_at() { [ -d "$1/checkpoints/$(printf 'step_%07d' "$2")" ]; }
done_at "runs/zoo_${alpha}_a" "$steps_a" ||
"$python" -m pi_vision.commands.train "${common[@]}" --backbone "$backbone" --frozen-blocks 13 --steps "$steps_a" --lr 1.5e-3 --warmup 150 \
    --out "runs/zoo_${alpha}_a"
done_at "runs/zoo_${alpha}_b" "$steps_b" ||
"$python" -m pi_vision.commands.train "${common[@]}" --init-from "runs/zoo_${alpha}_a" --frozen-blocks 0 \
    --backbone-optimizer sgd --backbone-lr-scale 10 --box-loss-weight 0.25 --steps "$steps_b" --lr 5e-4 \
    --warmup 100 --out "runs/zoo_${alpha}_b"
"$python" -m pi_vision.commands.convert "runs/zoo_${alpha}_b" --sizes 128 160 192 224 --precision "${precision[@]}"
