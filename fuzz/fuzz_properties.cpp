// libFuzzer target: torchclassify's property strings, as a gst-launch line gives them:
// `mean` and `std` (GstValueArray strings such as "<0.485,0.456,0.406>", deserialized by
// GStreamer and read by our setter) and `device` ("auto", "cpu", "cuda", "cuda:N"),
// then the start that validates them. The input is three strings separated by '\n'.
//
// Checked: setting never crashes; whatever GStreamer accepted reads back as that many
// doubles; the start fails (the model file does not exist, so no model is loaded) with
// exactly one error message on the bus, in a GStreamer error domain, and never crashes.
#include <glib.h>
#include <gst/gst.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

GstElement* pipeline = nullptr;
GstElement* classify = nullptr;
GstBus* bus = nullptr;

void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_properties: %s\n", what.c_str());
  std::abort();
}

guint array_size(const char* prop) {
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_ARRAY);
  g_object_get_property(G_OBJECT(classify), prop, &v);
  const guint n = gst_value_array_get_size(&v);
  for (guint i = 0; i < n; i++)
    if (!G_VALUE_HOLDS_DOUBLE(gst_value_array_get_value(&v, i))) fail(std::string(prop) + " reads back a non-double");
  g_value_unset(&v);
  return n;
}

// Sets `prop` from the string `s` as gst-launch-1.0 does (gst_util_set_object_arg:
// deserialize for the property's spec, then set), returning the number of items, or -1
// when GStreamer refuses the string (then the property keeps its value). Written out
// because GStreamer 1.22's gst_util_set_object_arg leaks its GValue on a refused string.
int set_from_string(const char* prop, const std::string& s) {
  // GStreamer 1.22 itself crashes on a nested array or list in an array of doubles
  // (mean="<1,<0.5,0.5>>": gst_value_deserialize_with_pspec casts the double element spec
  // to an array spec; gst-launch-1.0 crashes the same way). Not ours to find again here.
  if (s.find_first_of("<{", s.find_first_of("<{") == std::string::npos ? 0 : s.find_first_of("<{") + 1) !=
      std::string::npos)
    return -2;
  GParamSpec* ps = g_object_class_find_property(G_OBJECT_GET_CLASS(classify), prop);
  GValue v = G_VALUE_INIT;
  g_value_init(&v, GST_TYPE_ARRAY);
  const bool ok = gst_value_deserialize_with_pspec(&v, s.c_str(), ps);
  if (ok) g_object_set_property(G_OBJECT(classify), prop, &v);
  const int n = ok ? (int)gst_value_array_get_size(&v) : -1;
  g_value_unset(&v);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  gst_init(argc, argv);
  pipeline = gst_pipeline_new("fuzz");
  GstElement* src = gst_element_factory_make("fakesrc", nullptr);
  classify = gst_element_factory_make("torchclassify", nullptr);
  GstElement* sink = gst_element_factory_make("fakesink", nullptr);
  if (!src || !classify || !sink) fail("no torchclassify: set GST_PLUGIN_PATH to the build's plugin/");
  gst_bin_add_many(GST_BIN(pipeline), src, classify, sink, nullptr);
  gst_element_link_many(src, classify, sink, nullptr);
  g_object_set(classify, "model-location", "/nonexistent/ta-fuzz-model.ts", nullptr);
  bus = gst_element_get_bus(pipeline);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::string part[3];
  size_t at = 0;
  for (int i = 0; i < 3; i++) {
    const size_t nl = i < 2 ? in.find('\n', at) : std::string::npos;
    part[i] = in.substr(std::min(at, in.size()), nl == std::string::npos ? std::string::npos : nl - at);
    part[i] = part[i].substr(0, part[i].find('\0'));
    at = nl == std::string::npos ? in.size() : nl + 1;
  }

  const char* props[2] = {"mean", "std"};
  for (int i = 0; i < 2; i++) {
    const guint before = array_size(props[i]);
    const int n = set_from_string(props[i], part[i]);
    const guint after = array_size(props[i]);
    if (n >= 0 && after != (guint)n) fail(std::string(props[i]) + ": set " + std::to_string(n) + " values, read " +
                                          std::to_string(after) + " from \"" + part[i] + "\"");
    if (n == -2) continue;
    if (n < 0 && after != before) fail(std::string(props[i]) + " changed by a string GStreamer refused");
  }
  g_object_set(classify, "device", part[2].c_str(), nullptr);

  // The start validates mean, std and device, then fails on the missing model.
  if (gst_element_set_state(pipeline, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE)
    fail("the start succeeded without a model");
  int errors = 0;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    if (e->domain != GST_RESOURCE_ERROR && e->domain != GST_LIBRARY_ERROR) fail(std::string("domain: ") + e->message);
    if (!e->message || !*e->message) fail("an empty error message");
    g_error_free(e);
    gst_message_unref(m);
    errors++;
  }
  if (errors != 1) fail(std::to_string(errors) + " error messages for one failed start");
  gst_element_set_state(pipeline, GST_STATE_NULL);
  return 0;
}
