#!/usr/bin/env bash
# Train the RIM, the parameter network and the DAE side by side on one GPU.
#   bash training/gpu_job.sh BASE_NPZ OUTDIR [quick]
# Needs: python3 with torch and numpy (no Sherpa: the responses come from BASE_NPZ).
set -u
BASE=${1:?base components npz}
OUT=${2:?output folder}
QUICK=${3:-}
mkdir -p "$OUT/ck"
export PYTHONPATH=$(pwd) PYTHONUNBUFFERED=1
R=() ; P=() ; D=()
if [ -n "$QUICK" ]; then
  R=(optim.max_steps=40 optim.val_every=20 data.n_train=4000 data.n_val=400)
  P=(optim.max_steps=40 data.n_train=4000 data.n_val=1000)
  D=(optim.max_steps=40 data.n_train=4000 data.n_val=400)
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__)" >> "$OUT/gpu.txt" 2>&1
python3 -m training.train_rim --config training/configs/rim_gpu.json --fresh \
   --set data.base="\"$BASE\"" out="\"$OUT/rim_gpu\"" "${R[@]}" > "$OUT/rim.log" 2>&1 &
P1=$!
python3 -m training.amortised param --config training/configs/param_gpu.json --base "$BASE" \
   --set out="\"$OUT/param_gpu\"" "${P[@]}" > "$OUT/param.log" 2>&1 &
P2=$!
python3 -m training.amortised dae --config training/configs/dae_gpu.json --base "$BASE" \
   --set out="\"$OUT/dae_gpu\"" "${D[@]}" > "$OUT/dae.log" 2>&1 &
P3=$!
wait $P2 $P3 $P1
cp "$OUT/param_gpu/best.pt" "$OUT/ck/param.pt" 2>/dev/null
cp "$OUT/dae_gpu/best.pt" "$OUT/ck/dae.pt" 2>/dev/null
cp "$OUT/rim_gpu/best.pt" "$OUT/ck/rim.pt" 2>/dev/null
cp "$OUT/rim_gpu/history.json" "$OUT/ck/rim_history.json" 2>/dev/null
rm -rf "$OUT/rim_gpu" "$OUT/param_gpu" "$OUT/dae_gpu"
python3 -m training.gpu_bench "$OUT/ck/rim.pt" > "$OUT/bench.txt" 2>&1
tail -4 "$OUT"/*.log "$OUT/bench.txt" "$OUT/gpu.txt"
