# shellcheck shell=bash disable=SC2034  # (the variables set here are used by the scripts that source it)
# Sourced by the pipeline scripts of this folder; not run on its own.
#
# 1. Finds the plugin. From a source checkout, when GST_PLUGIN_PATH is not set and
#    $BUILD_DIR/plugin holds libgsttorchanalytics.so (BUILD_DIR defaults to build/ at the
#    top of the checkout), GST_PLUGIN_PATH is set to it, so the scripts run against the
#    uninstalled plugin. Otherwise the installed plugin (or your GST_PLUGIN_PATH) is used.
# 2. Turns the model variables into torchclassify properties, in the array TC_PROPS:
#      MODEL=model.ts          model-location (a TorchScript classifier)
#      WEIGHTS=resnet50.pth    weights-location (a torchvision state dict)
#      ARCH=resnet18           architecture (for WEIGHTS; default resnet50)
#      NUM_CLASSES=10          num-classes (for WEIGHTS)
#      LABELS=labels.txt       labels-location
#      TORCH_DEVICE=cpu        device: auto (default), cpu, cuda, cuda:N
#      TOP_K=5                 top-k
#      MODE=live               mode: auto (default: live on cameras, sync on files), sync, live
#      INTERVAL=5              interval: classify one frame in N (the others get the last result)
#    With neither MODEL nor WEIGHTS, torchclassify uses the ResNet50 weights that
#    torchvision cached in ~/.cache/torch/hub/checkpoints/.
#    TC_EXTRA="threshold=0.2 resize-mode=letterbox" adds any other properties.
# 3. GST_LAUNCH (default gst-launch-1.0) is the launcher; set GST_LAUNCH="echo" to print
#    the pipeline instead of running it.

ta_script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ta_repo_dir=$(dirname "$ta_script_dir")
BUILD_DIR=${BUILD_DIR:-$ta_repo_dir/build}
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -f "$BUILD_DIR/plugin/libgsttorchanalytics.so" ]; then
  export GST_PLUGIN_PATH="$BUILD_DIR/plugin"
fi
GST_LAUNCH=${GST_LAUNCH:-gst-launch-1.0}

ta_die() {
  echo "$(basename "$0"): $*" >&2
  exit 2
}

# Fails early, with the fix, when the plugin cannot be found.
ta_check_plugin() {
  [ "$GST_LAUNCH" = gst-launch-1.0 ] || return 0
  if ! gst-inspect-1.0 torchclassify > /dev/null 2>&1; then
    ta_die "GStreamer does not find torchclassify. Build the plugin (meson setup build && ninja -C build)" \
      "and run from the checkout, set BUILD_DIR=<your build dir>, set GST_PLUGIN_PATH, or install it."
  fi
}

TC_PROPS=()
[ -n "${MODEL:-}" ] && TC_PROPS+=("model-location=$MODEL")
[ -n "${WEIGHTS:-}" ] && TC_PROPS+=("weights-location=$WEIGHTS")
[ -n "${ARCH:-}" ] && TC_PROPS+=("architecture=$ARCH")
[ -n "${NUM_CLASSES:-}" ] && TC_PROPS+=("num-classes=$NUM_CLASSES")
[ -n "${LABELS:-}" ] && TC_PROPS+=("labels-location=$LABELS")
[ -n "${TORCH_DEVICE:-}" ] && TC_PROPS+=("device=$TORCH_DEVICE")
[ -n "${TOP_K:-}" ] && TC_PROPS+=("top-k=$TOP_K")
[ -n "${MODE:-}" ] && TC_PROPS+=("mode=$MODE")
[ -n "${INTERVAL:-}" ] && TC_PROPS+=("interval=$INTERVAL")
if [ -n "${TC_EXTRA:-}" ]; then
  # shellcheck disable=SC2206  # word splitting wanted: one property per word
  TC_PROPS+=($TC_EXTRA)
fi
