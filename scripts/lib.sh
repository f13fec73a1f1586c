# Shared by scripts/test, scripts/demo and scripts/bench: install what is missing and
# build into $BUILD_DIR (default build/).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

# nvcc for the CUDA path (meson's cuda=auto finds it on PATH).
[ -x /usr/local/cuda/bin/nvcc ] && case ":$PATH:" in *:/usr/local/cuda/bin:*) ;; *) PATH=$PATH:/usr/local/cuda/bin ;; esac

ta_setup() {
  TORCH_PY=$("$ROOT/scripts/install-deps" --print-python | tail -n 1)
  export TORCH_PY
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" "$ROOT" -Dtorch_python="$TORCH_PY" "$@"
  fi
  ninja -C "$BUILD_DIR"
}

# Environment for running the uninstalled plugin without touching the system registry.
ta_env() {
  export GST_PLUGIN_PATH="$BUILD_DIR/plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export GST_REGISTRY="$BUILD_DIR/registry.bin"
}
