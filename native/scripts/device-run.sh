#!/usr/bin/env bash
# Runs the packed GPU checks on the device machine (docs/engine.md, "Checks on a GPU
# machine"): unpacks node, runs device-check.mjs, and leaves device-check.json and log.txt
# in $OUT. Arguments go to device-check.mjs (for example --bench-preset tiny).
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
"$node" native/.device-pack/device-check.mjs --out "$out" "$@" 2>&1 | tee "$out/log.txt"
