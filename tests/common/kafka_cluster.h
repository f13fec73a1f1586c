// A Kafka cluster for the tests: librdkafka's mock cluster (rd_kafka_mock_cluster_new),
// brokers that speak the real Kafka protocol on loopback sockets, inside this process;
// and a real librdkafka consumer that reads a topic back from the beginning.
//
// No Kafka broker can be installed on the CI machines; the mock cluster is what
// librdkafka's own test suite uses. A producer pointed at bootstraps() cannot tell it
// from a cluster of `brokers` nodes (ids 1..brokers) with the topics made here.
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace ta_test {

class MockKafkaCluster {
 public:
  explicit MockKafkaCluster(int brokers = 3) : brokers_(brokers) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The handle only hosts the cluster; it produces nothing.
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!host_) {
      rd_kafka_conf_destroy(conf);
      ADD_FAILURE() << "rd_kafka_new for the mock cluster: " << errstr;
      return;
    }
    mock_ = rd_kafka_mock_cluster_new(host_, brokers);
    if (!mock_) ADD_FAILURE() << "rd_kafka_mock_cluster_new failed";
  }
  ~MockKafkaCluster() {
    if (mock_) rd_kafka_mock_cluster_destroy(mock_);
    if (host_) rd_kafka_destroy(host_);
  }
  MockKafkaCluster(const MockKafkaCluster&) = delete;
  MockKafkaCluster& operator=(const MockKafkaCluster&) = delete;

  bool ok() const { return mock_ != nullptr; }
  int brokers() const { return brokers_; }
  std::string bootstraps() const { return mock_ ? rd_kafka_mock_cluster_bootstraps(mock_) : ""; }

  // A topic of `partitions` partitions, each replicated on every broker.
  void create_topic(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(mock_, topic.c_str(), partitions, brokers_), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  // The broker's connections are closed and new ones refused (leaders do not move).
  void set_down(int broker_id) { EXPECT_EQ(rd_kafka_mock_broker_set_down(mock_, broker_id), RD_KAFKA_RESP_ERR_NO_ERROR); }
  void set_up(int broker_id) { EXPECT_EQ(rd_kafka_mock_broker_set_up(mock_, broker_id), RD_KAFKA_RESP_ERR_NO_ERROR); }
  void all_down() {
    for (int id = 1; id <= brokers_; id++) set_down(id);
  }
  void all_up() {
    for (int id = 1; id <= brokers_; id++) set_up(id);
  }
  // Every request about `topic` answered with `err` from now on (NO_ERROR: clears it).
  void set_topic_error(const std::string& topic, rd_kafka_resp_err_t err) {
    rd_kafka_mock_topic_set_error(mock_, topic.c_str(), err);
  }
  // The next Produce requests (one each) answered with these errors.
  void push_produce_errors(const std::vector<rd_kafka_resp_err_t>& errs) {
    rd_kafka_mock_push_request_errors_array(mock_, 0 /* Produce */, errs.size(), errs.data());
  }
  // Puts the leader of `partition` on `broker_id`.
  void set_leader(const std::string& topic, int partition, int broker_id) {
    EXPECT_EQ(rd_kafka_mock_partition_set_leader(mock_, topic.c_str(), partition, broker_id),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

 private:
  int brokers_;
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
};

struct KafkaRecord {
  std::string key;
  std::string value;
  int32_t partition;
  int64_t offset;
};

// Everything on `topic` from the beginning of each of its `partitions`, read by a real
// librdkafka consumer: until `expected` records came (then `settle` more, to catch any
// extra), or `timeout`. In each partition's order, partitions interleaved as they came.
inline std::vector<KafkaRecord> consume_all(const std::string& bootstraps, const std::string& topic, int partitions,
                                            size_t expected,
                                            std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                            std::chrono::milliseconds settle = std::chrono::milliseconds(500)) {
  std::vector<KafkaRecord> out;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const char* k, const char* v) {
    EXPECT_EQ(rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr), RD_KAFKA_CONF_OK) << k << ": " << errstr;
  };
  set("bootstrap.servers", bootstraps.c_str());
  set("group.id", "ta-test-reader");
  set("enable.auto.commit", "false");
  set("enable.partition.eof", "false");
  set("log_level", "3");
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    ADD_FAILURE() << "consumer: " << errstr;
    return out;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  EXPECT_EQ(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(parts);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto settle_end = std::chrono::steady_clock::time_point::max();
  while (std::chrono::steady_clock::now() < std::min(deadline, settle_end)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.push_back({m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : std::string(),
                     std::string(static_cast<const char*>(m->payload), m->len), m->partition, m->offset});
      if (out.size() >= expected && settle_end == std::chrono::steady_clock::time_point::max())
        settle_end = std::chrono::steady_clock::now() + settle;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

// The records grouped by key, each group in the order it was read.
inline std::map<std::string, std::vector<KafkaRecord>> by_key(const std::vector<KafkaRecord>& records) {
  std::map<std::string, std::vector<KafkaRecord>> out;
  for (const KafkaRecord& r : records) out[r.key].push_back(r);
  return out;
}

}  // namespace ta_test
