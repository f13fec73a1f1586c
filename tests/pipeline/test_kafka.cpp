// torchmetasink to Kafka in real pipelines, against librdkafka's mock cluster (three
// brokers speaking the Kafka protocol on loopback, in this process: tests/common/
// kafka_cluster.h), read back by a real librdkafka consumer. Eight cameras into one
// topic, keyed by camera: every line once, in order per key, totals exact; and a cluster
// that is away: the oldest dropped and counted, the warnings naming what to change.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kafka_cluster.h"
#include "test_env.h"

namespace {

guint64 stats_u64(const GstStructure* s, const char* field) {
  guint64 v = G_MAXUINT64;
  EXPECT_TRUE(gst_structure_get_uint64(s, field, &v)) << field;
  return v;
}

GstStructure* sink_stats(GstElement* pipe, const std::string& name) {
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), name.c_str());
  EXPECT_NE(sink, nullptr) << name;
  GstStructure* s = nullptr;
  if (sink) g_object_get(sink, "stats", &s, nullptr);
  if (sink) gst_object_unref(sink);
  return s;
}

// Plays `pipe` to EOS (bounded), collecting the warnings; fails on an error.
std::vector<std::string> play_to_eos(GstElement* pipe, GstClockTime timeout = 60 * GST_SECOND) {
  std::vector<std::string> warnings;
  GstBus* bus = gst_element_get_bus(pipe);
  EXPECT_NE(gst_element_set_state(pipe, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, timeout, (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    if (!msg) {
      ADD_FAILURE() << "no EOS in time";
      break;
    }
    const GstMessageType type = GST_MESSAGE_TYPE(msg);
    if (type == GST_MESSAGE_WARNING || type == GST_MESSAGE_ERROR) {
      GError* e = nullptr;
      gchar* dbg = nullptr;
      if (type == GST_MESSAGE_WARNING)
        gst_message_parse_warning(msg, &e, &dbg);
      else
        gst_message_parse_error(msg, &e, &dbg);
      if (type == GST_MESSAGE_ERROR) ADD_FAILURE() << e->message << " (" << (dbg ? dbg : "") << ")";
      if (type == GST_MESSAGE_WARNING) warnings.push_back(e->message);
      g_clear_error(&e);
      g_free(dbg);
    }
    gst_message_unref(msg);
    if (type != GST_MESSAGE_WARNING) break;
  }
  gst_object_unref(bus);
  return warnings;
}

bool any_contains(const std::vector<std::string>& texts, const std::string& part) {
  for (const auto& t : texts)
    if (t.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

// A fleet in small: eight cameras (videotestsrc), one shared tiny model, each camera's
// results into one Kafka topic keyed by the camera's name.
TEST(KafkaPipeline, EightCamerasIntoOneTopicKeepOrderPerCamera) {
#ifndef TA_HAVE_KAFKA
  GTEST_SKIP() << "the plugin was built without librdkafka (install librdkafka-dev and reconfigure)";
#endif
  TA_REQUIRE_FIXTURE(model, "tiny.ts");
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  const int partitions = 6, cameras = 8, frames = 25;
  cluster.create_topic("fleet", partitions);

  std::string desc;
  for (int c = 0; c < cameras; c++)
    desc += "videotestsrc num-buffers=" + std::to_string(frames) + " pattern=" + std::to_string(c) +
            " ! video/x-raw,width=64,height=48 ! torchclassify model-location=\"" + model +
            "\" model-instance-id=fleet device=cpu ! torchmetasink name=sink" + std::to_string(c) +
            " stream-name=cam" + std::to_string(c) + " kafka-brokers=" + cluster.bootstraps() +
            " kafka-topic=fleet  ";
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(desc.c_str(), &err);
  ASSERT_NE(pipe, nullptr) << (err ? err->message : "");
  ASSERT_EQ(err, nullptr) << err->message;

  const auto warnings = play_to_eos(pipe);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  // EOS on the bus came after every sink's flush: all acknowledged.
  for (int c = 0; c < cameras; c++) {
    GstStructure* s = sink_stats(pipe, "sink" + std::to_string(c));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(stats_u64(s, "lines"), (guint64)frames);
    EXPECT_EQ(stats_u64(s, "kafka-sent"), (guint64)frames);
    EXPECT_EQ(stats_u64(s, "kafka-queued"), 0u);
    EXPECT_EQ(stats_u64(s, "kafka-dropped"), 0u);
    EXPECT_EQ(stats_u64(s, "kafka-failed"), 0u);
    EXPECT_FALSE(gst_structure_has_field(s, "file-sent"));  // location unset: no stdout
    gst_structure_free(s);
  }
  EXPECT_EQ(gst_element_set_state(pipe, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(pipe);

  const auto records = ta_test::consume_all(cluster.bootstraps(), "fleet", partitions, cameras * frames);
  EXPECT_EQ(records.size(), (size_t)(cameras * frames));
  const auto groups = ta_test::by_key(records);
  ASSERT_EQ(groups.size(), (size_t)cameras);
  for (int c = 0; c < cameras; c++) {
    const std::string key = "cam" + std::to_string(c);
    SCOPED_TRACE(key);
    ASSERT_TRUE(groups.count(key));
    const auto& g = groups.at(key);
    ASSERT_EQ(g.size(), (size_t)frames);
    for (int i = 0; i < frames; i++) {
      const auto j = nlohmann::json::parse(g[i].value);
      EXPECT_EQ(j["stream"], key);
      EXPECT_EQ(j["frame"].get<int>(), i);  // in order, none missing, none twice
      EXPECT_EQ(j["classifications"].size(), 1u);
      EXPECT_EQ(g[i].partition, g[0].partition);
    }
  }
}

// The cluster away for the whole run: a warning naming kafka-brokers, the oldest results
// dropped beyond kafka-queue-size and counted, EOS bounded by kafka-flush-timeout with a
// warning, and what was left discarded at the stop, with a warning.
TEST(KafkaPipeline, ClusterAwayDropsTheOldestAndSaysSo) {
#ifndef TA_HAVE_KAFKA
  GTEST_SKIP() << "the plugin was built without librdkafka (install librdkafka-dev and reconfigure)";
#endif
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("results", 1);
  cluster.all_down();
  const std::string desc = "videotestsrc num-buffers=100 ! video/x-raw,width=32,height=24 "
                           "! torchmetasink name=sink stream-name=cam kafka-brokers=" +
                           cluster.bootstraps() + " kafka-topic=results kafka-queue-size=20 kafka-flush-timeout=300";
  GError* err = nullptr;
  GstElement* pipe = gst_parse_launch(desc.c_str(), &err);
  ASSERT_NE(pipe, nullptr) << (err ? err->message : "");
  ASSERT_EQ(err, nullptr) << err->message;
  const auto t0 = std::chrono::steady_clock::now();
  const auto warnings = play_to_eos(pipe);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_TRUE(any_contains(warnings, "kafka-flush-timeout")) << warnings.size();
  EXPECT_TRUE(any_contains(warnings, "80 results were not produced to Kafka"));

  GstStructure* s = sink_stats(pipe, "sink");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(stats_u64(s, "lines"), 100u);
  EXPECT_EQ(stats_u64(s, "kafka-sent"), 0u);
  EXPECT_EQ(stats_u64(s, "kafka-queued"), 20u);
  EXPECT_EQ(stats_u64(s, "kafka-dropped"), 80u);
  EXPECT_EQ(stats_u64(s, "dropped"), 80u);
  gst_structure_free(s);
  guint64 dropped = 0;
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
  g_object_get(sink, "dropped", &dropped, nullptr);
  EXPECT_EQ(dropped, 80u);

  // The outage: one warning naming the property to check (librdkafka reports every
  // broker down after its first attempts, possibly after EOS came).
  GstBus* bus = gst_element_get_bus(pipe);
  std::vector<std::string> all = warnings;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!any_contains(all, "check kafka-brokers") && std::chrono::steady_clock::now() < deadline) {
    GstMessage* msg = gst_bus_timed_pop_filtered(bus, 200 * GST_MSECOND, GST_MESSAGE_WARNING);
    if (!msg) continue;
    GError* e = nullptr;
    gst_message_parse_warning(msg, &e, nullptr);
    all.push_back(e->message);
    g_clear_error(&e);
    gst_message_unref(msg);
  }
  EXPECT_TRUE(any_contains(all, "check kafka-brokers")) << "no outage warning";
  // The stop (READY to NULL) discards the 20 left, and says so. The pipeline's bus drops
  // what is posted while it goes to NULL: a sync handler sees it as it is posted.
  std::vector<std::string> later;
  gst_bus_set_sync_handler(
      bus,
      [](GstBus*, GstMessage* msg, gpointer data) {
        if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_WARNING) {
          GError* e = nullptr;
          gst_message_parse_warning(msg, &e, nullptr);
          static_cast<std::vector<std::string>*>(data)->push_back(e->message);
          g_clear_error(&e);
        }
        return GST_BUS_PASS;
      },
      &later, nullptr);
  EXPECT_EQ(gst_element_set_state(pipe, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_bus_set_sync_handler(bus, nullptr, nullptr, nullptr);
  gst_object_unref(bus);
  EXPECT_TRUE(any_contains(later, "20 results could not be delivered to Kafka")) << later.size();

  // The last run's numbers stay readable after the stop.
  g_object_get(sink, "stats", &s, nullptr);
  EXPECT_EQ(stats_u64(s, "kafka-dropped"), 80u);
  gst_structure_free(s);
  gst_object_unref(sink);
  gst_object_unref(pipe);
}
