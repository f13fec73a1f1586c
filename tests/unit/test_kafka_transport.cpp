// ta::KafkaTransport against librdkafka's mock cluster (three brokers speaking the Kafka
// protocol on loopback, tests/common/kafka_cluster.h), read back by a real librdkafka
// consumer: every message once and in order per key, a broker down and back, the whole
// cluster gone longer than the queue holds, delivery failures, bad settings.
#include "transports/kafka_transport.h"

#include "error.h"
#include "kafka_cluster.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace ta;
using namespace std::chrono_literals;

namespace {

// The events a transport reported, for checks from the test's thread.
struct EventLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<TransportEvent, std::string>> events;  // event, message

  TransportCallbacks callbacks() {
    TransportCallbacks cb;
    cb.on_event = [this](TransportEvent ev, const std::string& msg, const std::string&) {
      std::lock_guard<std::mutex> lk(mu);
      events.emplace_back(ev, msg);
      cv.notify_all();
    };
    return cb;
  }
  size_t count_locked(TransportEvent ev) {
    size_t n = 0;
    for (const auto& e : events) n += e.first == ev;
    return n;
  }
  size_t count(TransportEvent ev) {
    std::lock_guard<std::mutex> lk(mu);
    return count_locked(ev);
  }
  // The count of `ev` once it reached `n`, or after `timeout`.
  size_t wait_count(TransportEvent ev, size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, timeout, [&] { return count_locked(ev) >= n; });
    return count_locked(ev);
  }
  // The message of the first `ev` within `timeout`, or "" when none came.
  std::string wait_for(TransportEvent ev, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(mu);
    std::string msg;
    cv.wait_for(lk, timeout, [&] {
      for (const auto& e : events)
        if (e.first == ev) {
          msg = e.second;
          return true;
        }
      return false;
    });
    return msg;
  }
};

KafkaOptions options_for(const ta_test::MockKafkaCluster& c, const std::string& topic) {
  KafkaOptions o;
  o.brokers = c.bootstraps();
  o.topic = topic;
  return o;
}

Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no ta::Error thrown";
  return Error(ErrorKind::Stream, "");
}

// Checks that each key's values are "<key>:0", "<key>:1", ... in order, `per_key` of
// them, all in one partition.
void expect_in_order(const std::vector<ta_test::KafkaRecord>& records, const std::vector<std::string>& keys,
                     int per_key) {
  const auto groups = ta_test::by_key(records);
  ASSERT_EQ(groups.size(), keys.size());
  for (const std::string& k : keys) {
    ASSERT_TRUE(groups.count(k)) << k;
    const auto& g = groups.at(k);
    ASSERT_EQ(g.size(), static_cast<size_t>(per_key)) << k;
    for (int i = 0; i < per_key; i++) {
      EXPECT_EQ(g[i].value, k + ":" + std::to_string(i)) << "key " << k << " position " << i;
      EXPECT_EQ(g[i].partition, g[0].partition) << "key " << k << " changed partition";
    }
  }
}

}  // namespace

TEST(KafkaTransport, EveryMessageOnceInOrderPerKey) {
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("results", 4);
  EventLog log;
  KafkaTransport t(options_for(cluster, "results"), log.callbacks());
  t.start();
  const std::vector<std::string> keys = {"cam0", "cam1", "cam2", "cam3", "cam4"};
  const int per_key = 60;
  for (int i = 0; i < per_key; i++)
    for (const auto& k : keys) t.publish(k, k + ":" + std::to_string(i));
  EXPECT_EQ(t.flush(20s), 0u);
  const TransportStats st = t.stats();
  EXPECT_EQ(st.published, keys.size() * per_key);
  EXPECT_EQ(st.dropped, 0u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.queued, 0u);
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(t.stop(1s), 0u);
  EXPECT_EQ(log.wait_count(TransportEvent::kConnected, 1, 10s), 1u);
  EXPECT_EQ(log.count(TransportEvent::kDeliveryFailed), 0u);

  const auto records = ta_test::consume_all(cluster.bootstraps(), "results", 4, keys.size() * per_key);
  EXPECT_EQ(records.size(), keys.size() * per_key);
  expect_in_order(records, keys, per_key);
}

// Without idempotence (acks 1 and 0) the producer still starts, delivers and keeps the
// order per key.
TEST(KafkaTransport, AcksOneAndZeroDeliverInOrder) {
  for (const char* acks : {"1", "0"}) {
    SCOPED_TRACE(acks);
    ta_test::MockKafkaCluster cluster(3);
    ASSERT_TRUE(cluster.ok());
    cluster.create_topic("results", 2);
    KafkaOptions o = options_for(cluster, "results");
    o.acks = acks;
    KafkaTransport t(o, {});
    t.start();
    const std::vector<std::string> keys = {"x", "y", "z"};
    for (int i = 0; i < 30; i++)
      for (const auto& k : keys) t.publish(k, k + ":" + std::to_string(i));
    EXPECT_EQ(t.flush(20s), 0u);
    EXPECT_EQ(t.stats().published, 90u);
    t.stop(1s);
    const auto records = ta_test::consume_all(cluster.bootstraps(), "results", 2, 90);
    EXPECT_EQ(records.size(), 90u);
    expect_in_order(records, keys, 30);
  }
}

TEST(KafkaTransport, BrokerDownMidStreamLosesNothingWithAcksAll) {
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("results", 3);
  for (int p = 0; p < 3; p++) cluster.set_leader("results", p, p + 1);
  EventLog log;
  KafkaOptions o = options_for(cluster, "results");
  o.acks = "all";
  KafkaTransport t(o, log.callbacks());
  t.start();
  const std::vector<std::string> keys = {"a", "b", "c", "d", "e", "f"};
  const int per_key = 80;
  for (int i = 0; i < per_key; i++) {
    if (i == 20) {
      EXPECT_EQ(t.flush(20s), 0u);
      cluster.set_down(2);  // the leader of one partition: its keys wait
    }
    if (i == 50) {
      std::this_thread::sleep_for(300ms);
      cluster.set_up(2);
    }
    for (const auto& k : keys) t.publish(k, k + ":" + std::to_string(i));
  }
  EXPECT_EQ(t.flush(30s), 0u);
  EXPECT_EQ(t.stats().published, keys.size() * per_key);
  EXPECT_EQ(t.stats().dropped, 0u);
  t.stop(1s);
  const auto records = ta_test::consume_all(cluster.bootstraps(), "results", 3, keys.size() * per_key);
  EXPECT_EQ(records.size(), keys.size() * per_key);
  expect_in_order(records, keys, per_key);
}

TEST(KafkaTransport, ClusterGoneLongerThanTheQueueDropsTheOldest) {
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("results", 1);
  EventLog log;
  KafkaOptions o = options_for(cluster, "results");
  o.max_queued = 200;
  KafkaTransport t(o, log.callbacks());
  ASSERT_EQ(t.window(), 100u);
  t.start();
  int seq = 0;
  for (; seq < 10; seq++) t.publish("cam", std::to_string(seq));
  ASSERT_EQ(t.flush(20s), 0u);
  ASSERT_FALSE(log.wait_for(TransportEvent::kConnected, 5s).empty());

  cluster.all_down();
  const std::string lost = log.wait_for(TransportEvent::kConnectionLost, 15s);
  EXPECT_NE(lost.find("kafka-queue-size"), std::string::npos) << lost;
  const auto t0 = std::chrono::steady_clock::now();
  for (; seq < 1010; seq++) t.publish("cam", std::to_string(seq));
  // Publishing never waits for the network.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  TransportStats st = t.stats();
  EXPECT_EQ(st.dropped, 800u);
  EXPECT_EQ(t.dropped(), 800u);
  EXPECT_EQ(st.queued, 200u);
  EXPECT_FALSE(st.connected);

  cluster.all_up();
  EXPECT_EQ(t.flush(30s), 0u);
  st = t.stats();
  EXPECT_EQ(st.published, 210u);
  EXPECT_EQ(st.reconnects, 1u);
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(log.wait_count(TransportEvent::kReconnected, 1, 10s), 1u);
  t.stop(1s);

  // The first 10, then the first window of the outage (inside librdkafka, kept), then the
  // newest that fit in the rest of the queue: the oldest waiting ones were dropped.
  std::vector<std::string> want;
  for (int i = 0; i < 110; i++) want.push_back(std::to_string(i));
  for (int i = 910; i < 1010; i++) want.push_back(std::to_string(i));
  const auto records = ta_test::consume_all(cluster.bootstraps(), "results", 1, want.size());
  std::vector<std::string> got;
  for (const auto& r : records) got.push_back(r.value);
  EXPECT_EQ(got, want);
}

TEST(KafkaTransport, StopIsBoundedWithTheClusterGone) {
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("results", 2);
  EventLog log;
  KafkaTransport t(options_for(cluster, "results"), log.callbacks());
  t.start();
  t.publish("k", "first");
  ASSERT_EQ(t.flush(20s), 0u);
  cluster.all_down();
  for (int i = 0; i < 50; i++) t.publish("k", std::to_string(i));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(t.stop(300ms), 50u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(KafkaTransport, UnreachableBrokerIsReportedNotWaitedFor) {
  EventLog log;
  KafkaOptions o;
  o.brokers = "127.0.0.1:1";  // nothing listens on port 1
  o.topic = "results";
  KafkaTransport t(o, log.callbacks());
  t.start();
  t.publish("k", "x");
  const std::string msg = log.wait_for(TransportEvent::kConnectFailed, 20s);
  EXPECT_NE(msg.find("kafka-brokers"), std::string::npos) << msg;
  EXPECT_EQ(t.flush(0ms), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(t.stop(100ms), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(KafkaTransport, RefusedDeliveriesAreCountedAndReported) {
  ta_test::MockKafkaCluster cluster(3);
  ASSERT_TRUE(cluster.ok());
  cluster.create_topic("secret", 1);
  EventLog log;
  KafkaOptions o = options_for(cluster, "secret");
  o.config = "message.max.bytes=2000";
  KafkaTransport t(o, log.callbacks());
  t.start();
  t.publish("k", "first");
  ASSERT_EQ(t.flush(20s), 0u);
  // Refused by librdkafka at once: too large.
  t.publish("k", std::string(5000, 'x'));
  EXPECT_EQ(t.stats().failed, 1u);
  // Refused by the broker, for good: a record it will not take.
  cluster.push_produce_errors({RD_KAFKA_RESP_ERR_INVALID_RECORD});
  t.publish("k", "refused");
  EXPECT_EQ(t.flush(20s), 0u);
  const TransportStats st = t.stats();
  EXPECT_EQ(st.published, 1u);
  EXPECT_EQ(st.failed, 2u);
  EXPECT_EQ(st.queued, 0u);
  // One report per error, each naming the property to check.
  EXPECT_EQ(log.wait_count(TransportEvent::kDeliveryFailed, 2, 10s), 2u);
  EXPECT_NE(log.wait_for(TransportEvent::kDeliveryFailed, 0ms).find("kafka-topic"), std::string::npos);
  // And a good one goes through after them.
  t.publish("k", "after");
  EXPECT_EQ(t.flush(20s), 0u);
  EXPECT_EQ(t.stats().published, 2u) << "failed " << t.stats().failed;
  t.stop(100ms);
  const auto records = ta_test::consume_all(cluster.bootstraps(), "secret", 1, 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].value, "first");
  EXPECT_EQ(records[1].value, "after");
}

TEST(KafkaTransport, BadSettingsNameThePropertyAndTheFix_n) {
  auto bad = [](const std::function<void(KafkaOptions&)>& change) {
    KafkaOptions o;
    o.brokers = "127.0.0.1:9092";
    o.topic = "results";
    change(o);
    return error_of([&] { KafkaTransport t(o, {}); });
  };
  struct Case {
    const char* what;
    std::function<void(KafkaOptions&)> change;
    const char* names;
  };
  const std::vector<Case> cases = {
      {"no brokers", [](KafkaOptions& o) { o.brokers = " , "; }, "kafka-brokers"},
      {"port not a number", [](KafkaOptions& o) { o.brokers = "kafka1:90x2"; }, "kafka-brokers"},
      {"port 0", [](KafkaOptions& o) { o.brokers = "kafka1:9092,kafka2:0"; }, "kafka-brokers"},
      {"empty port", [](KafkaOptions& o) { o.brokers = "kafka1:"; }, "kafka-brokers"},
      {"no topic", [](KafkaOptions& o) { o.topic = ""; }, "kafka-topic"},
      {"space in topic", [](KafkaOptions& o) { o.topic = "my results"; }, "kafka-topic"},
      {"topic ..", [](KafkaOptions& o) { o.topic = ".."; }, "kafka-topic"},
      {"long topic", [](KafkaOptions& o) { o.topic = std::string(250, 't'); }, "kafka-topic"},
      {"acks 2", [](KafkaOptions& o) { o.acks = "2"; }, "kafka-acks"},
      {"unknown option", [](KafkaOptions& o) { o.config = "linger.ms=5,no.such.option=1"; }, "kafka-config"},
      {"bad value", [](KafkaOptions& o) { o.config = "linger.ms=soon"; }, "kafka-config"},
      {"entry without =", [](KafkaOptions& o) { o.config = "linger.ms"; }, "kafka-config"},
      {"bad protocol", [](KafkaOptions& o) { o.security_protocol = "tls"; }, "kafka-security-protocol"},
      {"queue 0", [](KafkaOptions& o) { o.max_queued = 0; }, "kafka-queue-size"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Error e = bad(c.change);
    EXPECT_EQ(e.kind(), ErrorKind::Settings);
    EXPECT_NE(std::string(e.what()).find(c.names), std::string::npos) << e.what();
  }
}

TEST(KafkaTransport, ConflictingSettingsFailTheStart_n) {
  {
    KafkaOptions o;
    o.brokers = "127.0.0.1:9092";
    o.topic = "results";
    o.config = "acks=1";  // with the idempotence that kafka-acks=all brings
    KafkaTransport t(o, {});
    const Error e = error_of([&] { t.start(); });
    EXPECT_EQ(e.kind(), ErrorKind::Settings);
    EXPECT_NE(std::string(e.what()).find("kafka-config"), std::string::npos) << e.what();
    EXPECT_EQ(t.stop(0ms), 0u);
  }
  {
    KafkaOptions o;
    o.brokers = "127.0.0.1:9092";
    o.topic = "results";
    o.security_protocol = "sasl_plaintext";
    o.sasl_mechanism = "MAGIC";
    o.sasl_password = "hunter2";
    KafkaTransport t(o, {});
    const Error e = error_of([&] { t.start(); });
    EXPECT_EQ(e.kind(), ErrorKind::Settings);
    EXPECT_NE(std::string(e.what()).find("kafka-sasl-mechanism"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(KafkaTransport, GoodSettingsAreAccepted) {
  KafkaOptions o;
  o.brokers = " kafka1:9092, [::1]:9093 ,PLAINTEXT://kafka3 ";
  o.topic = "cameras.results_v-1";
  o.acks = "1";
  o.config = "linger.ms=20, compression.codec=lz4";
  KafkaTransport t(o, {});
  EXPECT_EQ(t.where(), "kafka1:9092,[::1]:9093,PLAINTEXT://kafka3/cameras.results_v-1");
  EXPECT_EQ(t.window(), 100u);
  o.max_queued = 1;
  EXPECT_EQ(KafkaTransport(o, {}).window(), 1u);
  o.max_queued = 50;
  EXPECT_EQ(KafkaTransport(o, {}).window(), 25u);
}

TEST(KafkaTransport, ParseConfig) {
  const auto kv = KafkaTransport::parse_config(" a=1 ,b = x\\,y,, c=,d=e=f");
  ASSERT_EQ(kv.size(), 4u);
  EXPECT_EQ(kv[0], std::make_pair(std::string("a"), std::string("1")));
  EXPECT_EQ(kv[1], std::make_pair(std::string("b"), std::string("x,y")));
  EXPECT_EQ(kv[2], std::make_pair(std::string("c"), std::string("")));
  EXPECT_EQ(kv[3], std::make_pair(std::string("d"), std::string("e=f")));
  EXPECT_TRUE(KafkaTransport::parse_config("").empty());
  EXPECT_EQ(error_of([] { KafkaTransport::parse_config("=1"); }).kind(), ErrorKind::Settings);
}
