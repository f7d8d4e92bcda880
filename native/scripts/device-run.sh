#!/usr/bin/env bash
# Runs the packed GPU checks on the device machine (docs/engine.md, "Checks on a GPU
# machine"): unpacks node, runs device-check.mjs, and leaves device-check.json and log.txt
# in $OUT. Arguments go to device-check.mjs (for example --bench-preset tiny). Exits with
# device-check.mjs's status: 1 when a test fails or when nvidia-smi sees a GPU that CUDA
# cannot start (device-verdict.ts); 124 when the run passes its time limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-$PWD/device-check-out}"
mkdir -p "$out"
node=/tmp/quiver-node
if [ ! -x "$node" ]; then
  python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    native/.device-pack/node.xz "$node"
  chmod +x "$node"
fi
nvidia-smi || true
# cuBLAS: the image has no CUDA toolkit libraries on the linker's path, but PyTorch's
# nvidia-cublas wheel brings libcublas; the checks run the CUDA suites with it and without.
if [ -z "${QUIVER_CUBLAS:-}" ]; then
  lib="$(find /opt /usr/local /usr/lib -name 'libcublas.so.1[23]' 2>/dev/null | head -n 1 || true)"
  if [ -n "$lib" ]; then export QUIVER_CUBLAS="$lib"; echo "cuBLAS: $lib"; else echo "cuBLAS: none found"; fi
fi
# Each test has its own time limit (device-check.ts, --test-timeout); the whole run has this
# one too (QUIVER_CHECK_SECONDS, default 560: a device command is cut at 600 s, and ending first
# leaves log.txt and device-check.json, written once the tests are done, in $OUT).
limit="${QUIVER_CHECK_SECONDS:-560}"
status=0
timeout --kill-after=10 "$limit" "$node" native/.device-pack/device-check.mjs --out "$out" "$@" 2>&1 | tee "$out/log.txt" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "device-run: the check ran past ${limit} s and was stopped" | tee -a "$out/log.txt"
fi
exit "$status"
