#!/usr/bin/env bash
# Reproduce the shipped denoisers: each command is also recorded in its model's card.json.
# Runs go to runs/NAME (checkpoints, history.csv; resumable: run the same line again), and the
# best model directory runs/NAME/model is then copied to trained_weights/NAME.
# dae-gaussian and dae-lowlight train on the recipe medical-v2, which reads the MNI152 template
# inside nilearn: `pip install --no-deps nilearn` first (without it the recipe skips those slices,
# with a warning). Validation scores beside the baselines are then written into the cards by
# benchmarks/validation_table.py --write-cards --self-ensemble and benchmarks/noise_levels.py --write-cards.
# Usage: bash trained_weights/train_all.sh [dncnn|dae|gan ...]   (default: all three families)
set -euo pipefail
cd "$(dirname "$0")/.."
families=("${@:-dncnn dae gan}")
run() {  # name, then enhance train options
  local name=$1; shift
  enhance train "$@" --out "runs/$name" -q
  rm -rf "trained_weights/$name" && cp -r "runs/$name/model" "trained_weights/$name"
  cp "runs/$name/history.csv" "trained_weights/$name/history.csv"
}
derive_vst() {  # source name, new name: the same weights for low light through the Anscombe transform
  python -c "from enhance.training.derive import derive_vst_model as d; d('trained_weights/$1', 'trained_weights/$2')"
}
for family in ${families[*]}; do
  case $family in
    dncnn)
      run dncnn-gaussian --arch dncnn --task gaussian --steps 3600 --seed 1 --val-every 300
      run dncnn-lowlight --arch dncnn --task lowlight --steps 3000 --seed 1
      run dncnn-speckle  --arch dncnn --task speckle  --steps 700 --seed 1 --val-every 100 ;;
    dae)
      run dae-gaussian --arch dae --task gaussian --arch-params '{"residual": true}' --steps 10000 --seed 1 --data medical-v2
      run dae-lowlight --arch dae --task lowlight --arch-params '{"residual": true}' --loss relative_mse --steps 10000 --seed 1 --data medical-v2
      run dae-speckle  --arch dae --task speckle --arch-params '{"residual": true}' --steps 3000 --seed 1
      # the speckle default, for real B-mode frames (issue 26): first the speckle fitted to real
      # frames (jitter table real-bmode) with the clean target, then the degraded image's mean as
      # the target (brightness kept, no deblurring), starting from those weights
      enhance train --arch dae --task speckle --arch-params '{"residual": true}' --steps 3000 --seed 1 --jitter-table real-bmode --out runs/dae-speckle-bmode -q
      run dae-speckle-bmode-mean --arch dae --task speckle --arch-params '{"residual": true}' --steps 1500 --seed 2 --jitter-table real-bmode --init-weights runs/dae-speckle-bmode/model --target-realizations 8
      # non-blind: told the noise level (a noise-level map as a second input channel)
      run dae-gaussian-sigma --arch dae --task gaussian --arch-params '{"noise_map": true, "residual": true}' --loss relative_mse --steps 10000 --seed 1 --data medical-v2
      derive_vst dae-gaussian-sigma dae-lowlight-vst
      # the same, twice as long (the Gaussian default: +0.23 dB at sigma 15 over the 10000-step run)
      run dae-gaussian-sigma-20k --arch dae --task gaussian --arch-params '{"noise_map": true, "residual": true}' --loss relative_mse --steps 20000 --seed 1 --data medical-v2
      run dae-lowlight-sigma --arch dae --task lowlight --arch-params '{"noise_map": true, "residual": true}' --loss relative_mse --steps 10000 --seed 1 --data medical-v2
      # the same, twice as long (the low-light default: +0.21 dB told over the 10000-step run)
      run dae-lowlight-sigma-20k --arch dae --task lowlight --arch-params '{"noise_map": true, "residual": true}' --loss relative_mse --steps 20000 --seed 1 --data medical-v2 ;;
    gan)
      small='{"width": 16, "levels": 3}'  # a 2.9 MB generator
      run gan-gaussian --arch gan --task gaussian --arch-params "$small" --lr 5e-4 --steps 2400 --seed 1 --val-every 300
      run gan-lowlight --arch gan --task lowlight --arch-params "$small" --lr 5e-4 --steps 800 --seed 1 --val-every 200
      run gan-speckle  --arch gan --task speckle  --arch-params "$small" --lr 5e-4 --steps 1500 --seed 1 --val-every 250 ;;
    *) echo "unknown family $family" >&2; exit 2 ;;
  esac
done
