#!/bin/sh
# Run the command (the worker) on one GPU that no other worker container on this host holds.
#
# Docker gives every replica of `--scale worker=N` the same device request, so a `count: 1`
# reservation would put all N workers on the same GPU (docker/compose#11863). Instead each worker
# container is given the host's GPUs, and the replicas share a lock folder (a volume): each takes
# the first GPU whose lock it can hold, and holds it for as long as its process lives (the open
# descriptor passes through exec; the kernel drops the lock when the process ends).
set -eu

if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    exec "$@"  # the operator chose the GPU
fi
locks="${GPU_LOCK_DIR:-/var/lock/rewardedit}"
count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
mkdir -p "$locks"
gpu=0
while [ "$gpu" -lt "$count" ]; do
    exec 9>"$locks/gpu$gpu"
    if flock --nonblock 9; then
        echo "pick-gpu: GPU $gpu of $count" >&2
        export CUDA_VISIBLE_DEVICES="$gpu"
        exec "$@"
    fi
    gpu=$((gpu + 1))
done
exec 9>&-
echo "pick-gpu: no free GPU: $count visible, each held by another worker; run at most one worker per GPU" >&2
exit 1
