// Draws one frame the way torchoverlay does and writes it as PNG (docs/torchoverlay-720p.png):
//   overlay_png OUT.png [WIDTH HEIGHT FORMAT [TORCHOVERLAY-PROPERTIES]]
// videotestsrc's SMPTE bars, one full-frame result and one region with UTF-8 labels
// (attached by a pad probe, as torchclassify would), then torchoverlay, videoconvert, pngenc.
#include <gst/gst.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gsttorchclassificationmeta.h"

namespace {

GstPadProbeReturn add_results(GstPad*, GstPadProbeInfo* info, gpointer data) {
  const int* size = static_cast<const int*>(data);
  GstBuffer* buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GstTorchClassificationMeta* m =
      gst_buffer_add_torch_classification_meta(buf, "resnet50", 0, 0, (guint)size[0], (guint)size[1]);
  gst_torch_classification_meta_add_label(m, 285, "Egyptian cat", 0.62f);
  gst_torch_classification_meta_add_label(m, 281, "tabby", 0.21f);
  gst_torch_classification_meta_add_label(m, 282, "Tigerkatze", 0.08f);
  gst_torch_classification_meta_add_label(m, 829, "Straßenbahn", 0.04f);
  gst_torch_classification_meta_add_label(m, 383, "猫 (ねこ)", 0.02f);
  // A region (a third of the frame, from its centre): its results box sits at the
  // region's corner, not the frame's.
  GstTorchClassificationMeta* r = gst_buffer_add_torch_classification_meta(
      buf, "resnet50", (guint)size[0] / 2, (guint)size[1] / 2, (guint)size[0] / 3, (guint)size[1] / 3);
  gst_torch_classification_meta_add_label(r, 829, "Straßenbahn", 0.91f);
  gst_torch_classification_meta_add_label(r, 383, "电车", 0.05f);
  GST_PAD_PROBE_INFO_DATA(info) = buf;
  return GST_PAD_PROBE_OK;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  if (argc != 2 && argc < 5) {
    std::fprintf(stderr, "usage: %s OUT.png [WIDTH HEIGHT FORMAT [TORCHOVERLAY-PROPERTIES]]\n", argv[0]);
    return 2;
  }
  int size[2] = {1280, 720};
  std::string format = "I420", props = "top-k=5";
  if (argc >= 5) {
    size[0] = std::atoi(argv[2]);
    size[1] = std::atoi(argv[3]);
    format = argv[4];
  }
  if (argc >= 6) props = argv[5];
  const std::string launch = "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=" + format +
                             ",width=" + std::to_string(size[0]) + ",height=" + std::to_string(size[1]) +
                             " ! identity name=tag ! torchoverlay " + props +
                             " ! videoconvert ! pngenc ! filesink location=\"" + argv[1] + "\"";
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  if (!p) {
    std::fprintf(stderr, "%s\n", err->message);
    g_error_free(err);
    return 1;
  }
  GstElement* tag = gst_bin_get_by_name(GST_BIN(p), "tag");
  GstPad* pad = gst_element_get_static_pad(tag, "src");
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, add_results, size, nullptr);
  gst_object_unref(pad);
  gst_object_unref(tag);
  gst_element_set_state(p, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(p);
  GstMessage* msg =
      gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  int rc = 0;
  if (!msg || GST_MESSAGE_TYPE(msg) != GST_MESSAGE_EOS) {
    rc = 1;
    if (msg) {
      gst_message_parse_error(msg, &err, nullptr);
      std::fprintf(stderr, "error: %s\n", err->message);
      g_error_free(err);
    } else {
      std::fprintf(stderr, "no EOS within 30 s\n");
    }
  }
  if (msg) gst_message_unref(msg);
  gst_object_unref(bus);
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return rc;
}
