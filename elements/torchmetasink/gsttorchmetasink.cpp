/* torchanalytics: torchmetasink, classification results as JSON Lines
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:element-torchmetasink
 * @title: torchmetasink
 * @see_also: torchclassify
 *
 * Writes one JSON object per line for every video buffer it receives: the stream name,
 * the frame number, the timestamp, the frame size and the classification metas
 * (#GstTorchClassificationMeta) that torchclassify attached, one entry per classified
 * region with its labels, highest score first. A buffer without a meta still gives a
 * line, with an empty "classifications" array, so the output has one line per frame.
 * Each line is written whole and flushed at once: a reader that follows the file
 * (`tail -f`) never sees half a line, and nothing is lost at EOS or at a stop.
 *
 * With #GstTorchMetaSink:mqtt-host set, the same object is also published, one MQTT
 * message per buffer, on #GstTorchMetaSink:mqtt-topic (default
 * `torchanalytics/<stream>`). The broker never stalls the pipeline: messages wait in a
 * bounded queue while the sink reconnects with backoff, and an outage is one warning.
 * With mqtt-host set and location unset nothing is written to stdout; `location=-`
 * writes there too.
 *
 * With #GstTorchMetaSink:kafka-brokers set, each object is also produced to the Kafka
 * topic #GstTorchMetaSink:kafka-topic, keyed by the stream name (one camera's results stay
 * in one partition, in order), through an idempotent librdkafka producer with a bounded
 * queue (#GstTorchMetaSink:kafka-queue-size). At EOS the sink waits up to
 * #GstTorchMetaSink:kafka-flush-timeout for the brokers to acknowledge what is queued.
 * As with MQTT, location unset is then no file and no stdout.
 *
 * #GstTorchMetaSink:stats tells what the sink did: lines and bytes, and per output the
 * messages sent, queued, dropped and the reconnections.
 *
 * The element is the adapter: the schema is ta::to_json_line (plugin/core/json_lines.h),
 * the outputs are ta::Transport classes (plugin/core/transports/).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! torchclassify ! torchmetasink location=out.jsonl
 * ]| Classifies every frame of in.mp4 and writes the results to out.jsonl.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://cam/stream latency=200 ! decodebin ! videoconvert ! torchclassify ! torchmetasink stream-name=cam0 mqtt-host=broker.local mqtt-qos=1
 * ]| Publishes the results of an RTSP camera on the MQTT topic torchanalytics/cam0.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://cam/stream ! decodebin ! videoconvert ! torchclassify ! torchmetasink stream-name=cam0 kafka-brokers=kafka1:9092,kafka2:9092 kafka-topic=camera-results
 * ]| Produces the results of an RTSP camera to the Kafka topic camera-results, key cam0.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchmetasink.h"
#include "gsttorcherror.h"
#include "gsttorchresults.h"

#include "error.h"
#include "transports/sink_transports.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_torch_meta_sink_debug);
#define GST_CAT_DEFAULT gst_torch_meta_sink_debug

#define DEFAULT_MQTT_PORT 1883
#define DEFAULT_MQTT_QOS 0
#define DEFAULT_MQTT_KEEPALIVE 30
#define DEFAULT_MQTT_MAX_QUEUED 1000
/* How long stop() waits for the broker to take what is still queued. */
#define MQTT_DRAIN_MS 2000
#define DEFAULT_KAFKA_ACKS "all"
#define DEFAULT_KAFKA_QUEUE_SIZE 1000
#define DEFAULT_KAFKA_FLUSH_TIMEOUT 5000

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_STREAM_NAME,
  PROP_MQTT_HOST,
  PROP_MQTT_PORT,
  PROP_MQTT_TOPIC,
  PROP_MQTT_CLIENT_ID,
  PROP_MQTT_QOS,
  PROP_MQTT_USERNAME,
  PROP_MQTT_PASSWORD,
  PROP_MQTT_CA_FILE,
  PROP_MQTT_KEEPALIVE,
  PROP_MQTT_MAX_QUEUED,
  PROP_DROPPED,
  PROP_KAFKA_BROKERS,
  PROP_KAFKA_TOPIC,
  PROP_KAFKA_ACKS,
  PROP_KAFKA_SECURITY_PROTOCOL,
  PROP_KAFKA_SASL_MECHANISM,
  PROP_KAFKA_SASL_USERNAME,
  PROP_KAFKA_SASL_PASSWORD,
  PROP_KAFKA_SSL_CA_LOCATION,
  PROP_KAFKA_CONFIG,
  PROP_KAFKA_QUEUE_SIZE,
  PROP_KAFKA_FLUSH_TIMEOUT,
  PROP_STATS,
  PROP_INCLUDE_MODEL_INFO,
};

namespace {

/* Properties (guarded by the object lock) and the state of the streaming thread. */
struct TorchMetaSinkPrivate
{
  std::optional<std::string> location;  /* unset, "" or "-": stdout */
  std::optional<std::string> stream_name;
  ta::MqttOptions mqtt;         /* host "": no MQTT; the password is never logged or readable */

  /* From start() to stop(): where the lines go, MQTT first (the list guarded by the
   * object lock for readers of "dropped"). */
  std::vector<std::unique_ptr<ta::Transport>> outputs;
  ta::Transport *mqtt_out = nullptr;    /* in outputs, or null */
  std::string mqtt_client_id_used;
  guint mqtt_max_queued_used = DEFAULT_MQTT_MAX_QUEUED;
  guint64 dropped = 0;          /* the count of the last run, after stop() */

  ta::KafkaOptions kafka;       /* brokers "": no Kafka; the password is never logged or readable */
  guint kafka_flush_timeout_ms = DEFAULT_KAFKA_FLUSH_TIMEOUT;
  guint kafka_flush_used = DEFAULT_KAFKA_FLUSH_TIMEOUT;
  guint kafka_queue_used = DEFAULT_KAFKA_QUEUE_SIZE;
  ta::Transport *kafka_out = nullptr;   /* in outputs, or null */
  ta::Transport *file_out = nullptr;    /* in outputs, or null */
  std::atomic<bool> kafka_flushed{false};   /* EOS waited for Kafka: stop() need not wait again */
  /* Written by the streaming thread, read by "stats" from any thread. */
  std::atomic<guint64> lines{0};
  std::atomic<guint64> bytes{0};
  GstStructure *last_stats = nullptr;   /* "stats" of the last run, after stop() */
  /* Taken (inside the object lock where both are) by whoever changes `outputs` or
   * `last_stats`, and alone by "stats": a transport's stats() takes its own lock, under
   * which it may log, and logging an object can take object locks. */
  std::mutex stats_mu;

  GstTorchResults results;      /* the streaming thread's */
  gboolean include_model_info = FALSE;  /* property; read in start() */
};

/* The plain string property `prop_id` stands for ("" is unset); NULL for the others. */
std::string *
string_field (TorchMetaSinkPrivate * priv, guint prop_id)
{
  switch (prop_id) {
    case PROP_MQTT_HOST:
      return &priv->mqtt.host;
    case PROP_MQTT_TOPIC:
      return &priv->mqtt.topic;
    case PROP_MQTT_CLIENT_ID:
      return &priv->mqtt.client_id;
    case PROP_MQTT_USERNAME:
      return &priv->mqtt.username;
    case PROP_MQTT_PASSWORD:
      return &priv->mqtt.password;
    case PROP_MQTT_CA_FILE:
      return &priv->mqtt.ca_file;
    case PROP_KAFKA_BROKERS:
      return &priv->kafka.brokers;
    case PROP_KAFKA_TOPIC:
      return &priv->kafka.topic;
    case PROP_KAFKA_ACKS:
      return &priv->kafka.acks;
    case PROP_KAFKA_SECURITY_PROTOCOL:
      return &priv->kafka.security_protocol;
    case PROP_KAFKA_SASL_MECHANISM:
      return &priv->kafka.sasl_mechanism;
    case PROP_KAFKA_SASL_USERNAME:
      return &priv->kafka.sasl_username;
    case PROP_KAFKA_SASL_PASSWORD:
      return &priv->kafka.sasl_password;
    case PROP_KAFKA_SSL_CA_LOCATION:
      return &priv->kafka.ssl_ca_location;
    case PROP_KAFKA_CONFIG:
      return &priv->kafka.config;
    default:
      return nullptr;
  }
}

/* The integer property `prop_id` stands for; NULL for the others. */
int *
int_field (TorchMetaSinkPrivate * priv, guint prop_id)
{
  switch (prop_id) {
    case PROP_MQTT_PORT:
      return &priv->mqtt.port;
    case PROP_MQTT_QOS:
      return &priv->mqtt.qos;
    case PROP_MQTT_KEEPALIVE:
      return &priv->mqtt.keepalive_s;
    default:
      return nullptr;
  }
}

/* Not left in freed memory. */
void
wipe (std::string & s)
{
  std::fill (s.begin (), s.end (), '\0');
}

}  // namespace

struct _GstTorchMetaSink
{
  GstBaseSink parent;

  TorchMetaSinkPrivate *priv;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw(ANY)"));

#define gst_torch_meta_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstTorchMetaSink, gst_torch_meta_sink, GST_TYPE_BASE_SINK,
    GST_DEBUG_CATEGORY_INIT (gst_torch_meta_sink_debug, "torchmetasink", 0,
        "Classification results as JSON Lines"));
GST_ELEMENT_REGISTER_DEFINE (torchmetasink, "torchmetasink", GST_RANK_NONE,
    GST_TYPE_TORCH_META_SINK);

static void
gst_torch_meta_sink_init (GstTorchMetaSink * self)
{
  self->priv = new TorchMetaSinkPrivate ();
  self->priv->mqtt.port = DEFAULT_MQTT_PORT;
  self->priv->mqtt.qos = DEFAULT_MQTT_QOS;
  self->priv->mqtt.keepalive_s = DEFAULT_MQTT_KEEPALIVE;
  self->priv->mqtt.max_queued = DEFAULT_MQTT_MAX_QUEUED;
  self->priv->kafka.acks = DEFAULT_KAFKA_ACKS;
  self->priv->kafka.max_queued = DEFAULT_KAFKA_QUEUE_SIZE;
  /* Like filesink: writing metadata need not wait for the clock. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_torch_meta_sink_finalize (GObject * object)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);

  /* stop() stopped the transports; this covers a sink disposed while started. */
  self->priv->outputs.clear ();
  wipe (self->priv->mqtt.password);
  wipe (self->priv->kafka.sasl_password);
  if (self->priv->last_stats)
    gst_structure_free (self->priv->last_stats);
  delete self->priv;
  self->priv = nullptr;

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_torch_meta_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;
  std::string *str;
  int *num;

  /* Read in start(): a new value takes effect the next time the sink starts. */
  GST_OBJECT_LOCK (self);
  if ((str = string_field (priv, prop_id))) {
    const gchar *s = g_value_get_string (value);
    wipe (*str);                /* the old password */
    *str = s ? s : "";
  } else if ((num = int_field (priv, prop_id))) {
    *num = G_VALUE_HOLDS_INT (value) ? g_value_get_int (value) :
        static_cast<int> (g_value_get_uint (value));
  } else if (prop_id == PROP_LOCATION || prop_id == PROP_STREAM_NAME) {
    const gchar *s = g_value_get_string (value);
    auto & field = prop_id == PROP_LOCATION ? priv->location : priv->stream_name;
    field = s ? std::optional<std::string> (s) : std::nullopt;
  } else if (prop_id == PROP_MQTT_MAX_QUEUED) {
    priv->mqtt.max_queued = g_value_get_uint (value);
  } else if (prop_id == PROP_KAFKA_QUEUE_SIZE) {
    priv->kafka.max_queued = g_value_get_uint (value);
  } else if (prop_id == PROP_KAFKA_FLUSH_TIMEOUT) {
    priv->kafka_flush_timeout_ms = g_value_get_uint (value);
  } else if (prop_id == PROP_INCLUDE_MODEL_INFO) {
    priv->include_model_info = g_value_get_boolean (value);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

/* The fields of one output in "stats", prefixed with its kind (file, mqtt, kafka). */
static void
gst_torch_meta_sink_add_transport_stats (GstStructure * s, const char *kind,
    const ta::Transport * t)
{
  const ta::TransportStats st = t->stats ();
  const std::string k (kind);

  gst_structure_set (s,
      (k + "-where").c_str (), G_TYPE_STRING, t->where ().c_str (),
      (k + "-sent").c_str (), G_TYPE_UINT64, (guint64) st.published,
      (k + "-queued").c_str (), G_TYPE_UINT64, (guint64) st.queued,
      (k + "-dropped").c_str (), G_TYPE_UINT64, (guint64) st.dropped,
      (k + "-failed").c_str (), G_TYPE_UINT64, (guint64) st.failed,
      (k + "-reconnects").c_str (), G_TYPE_UINT64, (guint64) st.reconnects,
      (k + "-connected").c_str (), G_TYPE_BOOLEAN, (gboolean) st.connected, NULL);
  if (k == "mqtt")
    gst_structure_set (s, "mqtt-lost", G_TYPE_UINT64, (guint64) st.lost,
        "mqtt-restarts", G_TYPE_UINT64, (guint64) st.restarts, NULL);
}

/* "stats" now: the running outputs', or those of the last run. stats_mu held. */
static GstStructure *
gst_torch_meta_sink_make_stats (GstTorchMetaSink * self)
{
  TorchMetaSinkPrivate *priv = self->priv;

  if (priv->outputs.empty () && priv->last_stats)
    return gst_structure_copy (priv->last_stats);
  GstStructure *s = gst_structure_new ("torchmetasink-stats",
      "lines", G_TYPE_UINT64, priv->lines.load (),
      "bytes", G_TYPE_UINT64, priv->bytes.load (), NULL);
  guint64 dropped = 0;
  for (const auto & t : priv->outputs) {
    const char *kind = t.get () == priv->mqtt_out ? "mqtt" :
        t.get () == priv->kafka_out ? "kafka" : "file";
    gst_torch_meta_sink_add_transport_stats (s, kind, t.get ());
    dropped += t->dropped ();
  }
  gst_structure_set (s, "dropped", G_TYPE_UINT64, dropped, NULL);
  return s;
}

/* Our "stats" shadows GstBaseSink's: keep its fields, so that what applications read from
 * any sink ("rendered", "average-rate") is still there. Its "dropped" (buffers dropped for
 * lateness) becomes "buffers-dropped"; our "dropped" counts results the outputs dropped. */
static void
gst_torch_meta_sink_add_base_stats (GObject * object, GstStructure * s)
{
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_CLASS (parent_class), "stats");
  if (!ps || ps->owner_type == GST_TYPE_TORCH_META_SINK)
    return;
  GValue v = G_VALUE_INIT;
  g_value_init (&v, GST_TYPE_STRUCTURE);
  G_OBJECT_CLASS (parent_class)->get_property (object, ps->param_id, &v, ps);
  const GstStructure *base = gst_value_get_structure (&v);
  guint64 n;
  gdouble rate;
  if (base && gst_structure_get_uint64 (base, "rendered", &n))
    gst_structure_set (s, "rendered", G_TYPE_UINT64, n, NULL);
  if (base && gst_structure_get_uint64 (base, "dropped", &n))
    gst_structure_set (s, "buffers-dropped", G_TYPE_UINT64, n, NULL);
  if (base && gst_structure_get_double (base, "average-rate", &rate))
    gst_structure_set (s, "average-rate", G_TYPE_DOUBLE, rate, NULL);
  g_value_unset (&v);
}

static void
gst_torch_meta_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;
  const std::string *str;
  const int *num;

  if (prop_id == PROP_STATS) {
    GstStructure *s;
    {
      std::lock_guard<std::mutex> lk (priv->stats_mu);
      s = gst_torch_meta_sink_make_stats (self);
    }
    gst_torch_meta_sink_add_base_stats (object, s);
    g_value_take_boxed (value, s);
    return;
  }
  GST_OBJECT_LOCK (self);
  if (prop_id == PROP_MQTT_CLIENT_ID && priv->mqtt.client_id.empty ()) {
    /* Unset: the generated one while the sink runs. */
    str = &priv->mqtt_client_id_used;
    g_value_set_string (value, str->empty ()? NULL : str->c_str ());
  } else if ((str = string_field (priv, prop_id))) {
    g_value_set_string (value, str->empty ()? NULL : str->c_str ());
  } else if ((num = int_field (priv, prop_id))) {
    if (G_VALUE_HOLDS_INT (value))
      g_value_set_int (value, *num);
    else
      g_value_set_uint (value, static_cast<guint> (*num));
  } else if (prop_id == PROP_LOCATION || prop_id == PROP_STREAM_NAME) {
    const auto & field = prop_id == PROP_LOCATION ? priv->location : priv->stream_name;
    g_value_set_string (value, field ? field->c_str () : NULL);
  } else if (prop_id == PROP_MQTT_MAX_QUEUED) {
    g_value_set_uint (value, static_cast<guint> (priv->mqtt.max_queued));
  } else if (prop_id == PROP_DROPPED) {
    g_value_set_uint64 (value, priv->mqtt_out || priv->kafka_out ?
        (priv->mqtt_out ? priv->mqtt_out->dropped () : 0) +
        (priv->kafka_out ? priv->kafka_out->dropped () : 0) : priv->dropped);
  } else if (prop_id == PROP_KAFKA_QUEUE_SIZE) {
    g_value_set_uint (value, static_cast<guint> (priv->kafka.max_queued));
  } else if (prop_id == PROP_KAFKA_FLUSH_TIMEOUT) {
    g_value_set_uint (value, priv->kafka_flush_timeout_ms);
  } else if (prop_id == PROP_INCLUDE_MODEL_INFO) {
    g_value_set_boolean (value, priv->include_model_info);
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

/* What a connection did, from the transport's threads (or from start()), in the words
 * of the transport. An outage is one warning: its first failure, not every retry. */
static void
gst_torch_meta_sink_on_event (GstTorchMetaSink * self, ta::TransportEvent ev,
    const std::string & text, const std::string & detail)
{
  GstMessageType type = GST_MESSAGE_WARNING;
  gint code = GST_RESOURCE_ERROR_OPEN_WRITE;

  switch (ev) {
    case ta::TransportEvent::kConnected:
      GST_INFO_OBJECT (self, "%s (%s)", text.c_str (), detail.c_str ());
      return;
    case ta::TransportEvent::kReconnected:
      type = GST_MESSAGE_INFO;
      break;
    case ta::TransportEvent::kConnectFailed:
    case ta::TransportEvent::kRefused:
      break;
    case ta::TransportEvent::kNotAuthorized:
      code = GST_RESOURCE_ERROR_NOT_AUTHORIZED;
      break;
    case ta::TransportEvent::kConnectionLost:
    case ta::TransportEvent::kDeliveryFailed:
      code = GST_RESOURCE_ERROR_WRITE;
      break;
  }
  /* What GST_ELEMENT_WARNING and GST_ELEMENT_INFO do, with the code chosen above. */
  gst_element_message_full (GST_ELEMENT (self), type, GST_RESOURCE_ERROR, code,
      g_strdup (text.c_str ()), g_strdup (detail.c_str ()), __FILE__, GST_FUNCTION,
      __LINE__);
}

static void
gst_torch_meta_sink_on_log (GstTorchMetaSink * self, const char *who,
    ta::TransportLogLevel level, const std::string & msg)
{
  static const GstDebugLevel levels[] = {       /* in ta::TransportLogLevel's order */
    GST_LEVEL_WARNING, GST_LEVEL_WARNING, GST_LEVEL_INFO, GST_LEVEL_DEBUG,
    GST_LEVEL_LOG               /* libmosquitto's one line per packet */
  };
  GST_CAT_LEVEL_LOG (GST_CAT_DEFAULT, levels[static_cast<int> (level)], self,
      "%s: %s", who, msg.c_str ());
}

/* Stops the transports (MQTT: a bounded wait for what is queued), saying what was
 * lost. Does nothing when none runs. */
static void
gst_torch_meta_sink_stop_outputs (GstTorchMetaSink * self)
{
  TorchMetaSinkPrivate *priv = self->priv;
  std::vector<std::unique_ptr<ta::Transport>> outputs;

  ta::Transport *kafka_out, *mqtt_out;
  guint64 dropped = 0;

  GST_OBJECT_LOCK (self);
  /* The last run's numbers stay readable in "stats" once it stopped. */
  {
    std::lock_guard<std::mutex> lk (priv->stats_mu);
    if (!priv->outputs.empty ()) {
      if (priv->last_stats)
        gst_structure_free (priv->last_stats);
      priv->last_stats = nullptr;
    }
    outputs.swap (priv->outputs);
  }
  kafka_out = priv->kafka_out;
  mqtt_out = priv->mqtt_out;
  GST_OBJECT_UNLOCK (self);

  GstStructure *last = gst_structure_new ("torchmetasink-stats",
      "lines", G_TYPE_UINT64, priv->lines.load (),
      "bytes", G_TYPE_UINT64, priv->bytes.load (), NULL);
  for (auto & t : outputs) {
    size_t left = 0;
    const bool is_kafka = t.get () == kafka_out;
    /* Kafka: the wait of kafka-flush-timeout, unless EOS already waited. */
    const guint drain_ms = !is_kafka ? MQTT_DRAIN_MS :
        priv->kafka_flushed ? 0 : priv->kafka_flush_used;
    try {
      /* Returns only after the last callback: none can post on our behalf later. */
      left = t->stop (std::chrono::milliseconds (drain_ms));
    } catch (const ta::Error & e) {
      /* Like filesink, the sink still stops: the file is gone either way. */
      gst_torch_post_core_error (GST_ELEMENT (self), e);
    }
    const ta::TransportStats st = t->stats ();
    GST_INFO_OBJECT (self, "%s: %" G_GUINT64_FORMAT " done, %" G_GUINT64_FORMAT
        " dropped (queue full), %" G_GUINT64_FORMAT " lost in a disconnection (QoS 0), %"
        G_GSIZE_FORMAT " discarded at stop, %" G_GUINT64_FORMAT " client restarts",
        t->where ().c_str (), (guint64) st.published, (guint64) st.dropped,
        (guint64) st.lost, left, (guint64) st.restarts);
    gst_torch_meta_sink_add_transport_stats (last, t.get () == mqtt_out ? "mqtt" :
        is_kafka ? "kafka" : "file", t.get ());
    dropped += st.dropped;
    if (is_kafka) {
      GST_OBJECT_LOCK (self);
      priv->kafka_out = nullptr;
      GST_OBJECT_UNLOCK (self);
      if (left > 0)
        GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
            ("%" G_GSIZE_FORMAT " results could not be delivered to Kafka (%s) "
                "before the sink stopped, and were discarded: raise kafka-flush-timeout "
                "to wait longer.", left, t->where ().c_str ()),
            ("waited up to %u ms", drain_ms));
      continue;
    }
    if (t.get () != mqtt_out)
      continue;
    GST_OBJECT_LOCK (self);
    priv->mqtt_out = nullptr;
    priv->mqtt_client_id_used.clear ();
    GST_OBJECT_UNLOCK (self);
    if (left > 0)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("%" G_GSIZE_FORMAT " results could not be delivered to the MQTT broker at %s "
              "before the sink stopped, and were discarded.", left,
              t->where ().c_str ()), ("waited up to %d ms", MQTT_DRAIN_MS));
  }
  gst_structure_set (last, "dropped", G_TYPE_UINT64, dropped, NULL);
  GST_OBJECT_LOCK (self);
  priv->file_out = nullptr;
  if (!outputs.empty ()) {
    priv->dropped = dropped;
    std::lock_guard<std::mutex> lk (priv->stats_mu);
    if (priv->last_stats)
      gst_structure_free (priv->last_stats);
    priv->last_stats = last;
    last = nullptr;
  }
  GST_OBJECT_UNLOCK (self);
  if (last)
    gst_structure_free (last);
}

static gboolean
gst_torch_meta_sink_start (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  std::string location;
  ta::MqttOptions mqtt;
  ta::KafkaOptions kafka;

  GST_OBJECT_LOCK (self);
  location = priv->location.value_or ("");
  mqtt = priv->mqtt;
  kafka = priv->kafka;
  priv->kafka_flush_used = priv->kafka_flush_timeout_ms;
  priv->kafka_queue_used = static_cast<guint> (priv->kafka.max_queued);
  priv->kafka_flushed = false;
  priv->dropped = 0;
  priv->lines = 0;
  priv->bytes = 0;
  {
    std::lock_guard<std::mutex> lk (priv->stats_mu);
    if (priv->last_stats)
      gst_structure_free (priv->last_stats);
    priv->last_stats = nullptr;
  }
  const bool include_model_info = priv->include_model_info;
  GST_OBJECT_UNLOCK (self);

  priv->results.reset ();
  priv->results.set_include_model_info (include_model_info);

  ta::TransportCallbacks cb;
  cb.on_event =[self](ta::TransportEvent ev, const std::string & text,
      const std::string & detail) {
    gst_torch_meta_sink_on_event (self, ev, text, detail);
  };
  ta::TransportCallbacks kafka_cb = cb;
  cb.on_log =[self](ta::TransportLogLevel level, const std::string & msg) {
    gst_torch_meta_sink_on_log (self, "mqtt", level, msg);
  };
  kafka_cb.on_log =[self](ta::TransportLogLevel level, const std::string & msg) {
    gst_torch_meta_sink_on_log (self, "kafka", level, msg);
  };
  try {
    ta::SinkTransports t = ta::make_sink_transports (location, mqtt, kafka, cb,
        kafka_cb);
    GST_OBJECT_LOCK (self);
    {
      std::lock_guard<std::mutex> lk (priv->stats_mu);
      priv->outputs = std::move (t.all);
    }
    priv->mqtt_out = t.mqtt;
    priv->kafka_out = t.kafka;
    priv->file_out = t.file;
    priv->mqtt_client_id_used = t.mqtt ? mqtt.client_id : "";
    priv->mqtt_max_queued_used = mqtt.max_queued;
    GST_OBJECT_UNLOCK (self);
    /* Last to first (see ta::SinkTransports). MQTT: events are posted from now on. */
    for (auto it = priv->outputs.rbegin (); it != priv->outputs.rend (); ++it) {
      (*it)->start ();
      GST_INFO_OBJECT (self, "output %s started", (*it)->where ().c_str ());
    }
  } catch (const ta::Error & e) {
    gst_torch_meta_sink_stop_outputs (self);
    gst_torch_post_core_error (GST_ELEMENT (self), e);
  } catch (const std::exception & e) {
    gst_torch_meta_sink_stop_outputs (self);
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not set up the output."),
        ("%s", e.what ()));
  }
  wipe (mqtt.password);
  wipe (kafka.sasl_password);
  return !priv->outputs.empty ();
}

static gboolean
gst_torch_meta_sink_stop (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);

  gst_torch_meta_sink_stop_outputs (self);
  GST_INFO_OBJECT (self, "rendered %" G_GUINT64_FORMAT " frames", self->priv->results.frames ());
  return TRUE;
}

static gboolean
gst_torch_meta_sink_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  /* A size missing in the caps is null in the output. */
  GST_TORCH_META_SINK (sink)->priv->results.set_caps (caps);
  GST_DEBUG_OBJECT (sink, "caps %" GST_PTR_FORMAT, caps);
  return TRUE;
}

static gboolean
gst_torch_meta_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  if (GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START) {
    priv->results.set_stream_start (event);
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    /* No wait for MQTT here (stop() drains it); Kafka: up to kafka-flush-timeout, so
     * that EOS on the bus means delivered (or a warning says how many were not). A word
     * on what was dropped. */
    for (auto & t : priv->outputs) {
      const bool is_kafka = t.get () == priv->kafka_out;
      try {
        const size_t left = t->flush (std::chrono::milliseconds (is_kafka ?
                priv->kafka_flush_used : 0));
        if (is_kafka) {
          priv->kafka_flushed = true;
          if (left > 0)
            GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
                ("%" G_GSIZE_FORMAT " results were not yet acknowledged by Kafka (%s) "
                    "at EOS after kafka-flush-timeout (%u ms): check that the brokers "
                    "are reachable, or raise kafka-flush-timeout.", left,
                    t->where ().c_str (), priv->kafka_flush_used), ("queued=%"
                    G_GSIZE_FORMAT, left));
        }
      } catch (const ta::Error & e) {
        gst_torch_post_core_error (GST_ELEMENT (self), e);
      }
    }
    if (priv->kafka_out && priv->kafka_out->dropped () > 0)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("%" G_GUINT64_FORMAT " results were not produced to Kafka: more than "
              "kafka-queue-size (%u) waited for the brokers at %s, and the oldest "
              "were dropped.", priv->kafka_out->dropped (),
              priv->kafka_queue_used, priv->kafka_out->where ().c_str ()),
          ("dropped=%" G_GUINT64_FORMAT, priv->kafka_out->dropped ()));
    const guint64 dropped = priv->mqtt_out ? priv->mqtt_out->dropped () : 0;
    if (dropped > 0)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("%" G_GUINT64_FORMAT " results were not published: more than "
              "mqtt-max-queued (%u) waited for the MQTT broker at %s, and the oldest "
              "were dropped.", dropped, priv->mqtt_max_queued_used,
              priv->mqtt_out->where ().c_str ()), ("dropped=%" G_GUINT64_FORMAT,
              dropped));
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

static GstFlowReturn
gst_torch_meta_sink_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  const guint64 frame = priv->results.frames ();

  try {
    const ta::FrameResults r = priv->results.next (GST_ELEMENT (self),
        GST_BASE_SINK_PAD (self), priv->stream_name, buffer);
    const std::string line = ta::to_json_line (r);
    GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": %s", frame, line.c_str ());
    /* MQTT queues and never waits for the network; a file writes the whole line. */
    for (auto & t : priv->outputs)
      t->publish (r.stream, line);
    priv->lines++;
    priv->bytes += line.size () + 1;    /* with its newline, as in a file */
  } catch (const ta::Error & e) {
    gst_torch_post_core_error (GST_ELEMENT (self), e);
    return GST_FLOW_ERROR;
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not write the results of frame %" G_GUINT64_FORMAT ".", frame),
        ("%s", e.what ()));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static void
gst_torch_meta_sink_class_init (GstTorchMetaSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);
  /* Read when the sink starts (NULL to READY). */
  const GParamFlags flags = (GParamFlags) (G_PARAM_READWRITE |
      G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  gobject_class->finalize = gst_torch_meta_sink_finalize;
  gobject_class->set_property = gst_torch_meta_sink_set_property;
  gobject_class->get_property = gst_torch_meta_sink_get_property;

  /**
   * GstTorchMetaSink:location:
   *
   * The file the JSON Lines go to, created or truncated when the element starts.
   * Unset, empty or "-" is stdout; but with #GstTorchMetaSink:mqtt-host set, unset or
   * empty is no file at all (MQTT only), and only "-" still writes to stdout.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write the JSON Lines to (truncated on start; unset, empty or \"-\": stdout; "
          "with mqtt-host set, only \"-\" is stdout and unset is no output)", NULL, flags));
  /**
   * GstTorchMetaSink:stream-name:
   *
   * The value of the "stream" member of every line. Unset (or empty): the upstream
   * stream-id of the STREAM_START event, or the element name when there is none.
   */
  g_object_class_install_property (gobject_class, PROP_STREAM_NAME,
      g_param_spec_string ("stream-name", "Stream name",
          "Value of the \"stream\" member of each line (unset: the upstream stream-id)",
          NULL, (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstTorchMetaSink:mqtt-host:
   *
   * The MQTT broker to publish each JSON object to, one message per buffer. Unset: no
   * MQTT. Needs a plugin built with libmosquitto; otherwise the sink fails to start.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_HOST,
      g_param_spec_string ("mqtt-host", "MQTT host",
          "MQTT broker to publish the results to, one message per buffer (unset: no MQTT)",
          NULL, flags));
  g_object_class_install_property (gobject_class, PROP_MQTT_PORT,
      g_param_spec_int ("mqtt-port", "MQTT port",
          "TCP port of the MQTT broker (8883 is usual with mqtt-ca-file)",
          1, 65535, DEFAULT_MQTT_PORT, flags));
  /**
   * GstTorchMetaSink:mqtt-topic:
   *
   * Unset: `torchanalytics/<stream>`, the "stream" member with '/', '+' and '#' made
   * '_'. It must not contain the wildcards '+' or '#'.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_TOPIC,
      g_param_spec_string ("mqtt-topic", "MQTT topic",
          "Topic to publish on (unset: torchanalytics/<stream name>)", NULL, flags));
  /**
   * GstTorchMetaSink:mqtt-client-id:
   *
   * Unset: a unique `torchmetasink-xxxxxxxx` made at each start (readable while the
   * sink runs). Two clients with the same id take turns disconnecting each other.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_CLIENT_ID,
      g_param_spec_string ("mqtt-client-id", "MQTT client id",
          "MQTT client identifier (unset: a unique one made at start)", NULL, flags));
  /**
   * GstTorchMetaSink:mqtt-qos:
   *
   * 0: at most once, messages in flight when the connection breaks may be lost. 1: at
   * least once, each message kept until the broker acknowledged it (PUBACK) and sent
   * again after a reconnection: duplicates are possible, losses are not while the
   * queue has room.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_QOS,
      g_param_spec_int ("mqtt-qos", "MQTT QoS",
          "MQTT quality of service: 0 at most once, 1 at least once (kept until acknowledged)",
          0, 1, DEFAULT_MQTT_QOS, flags));
  g_object_class_install_property (gobject_class, PROP_MQTT_USERNAME,
      g_param_spec_string ("mqtt-username", "MQTT user name",
          "User name for the MQTT broker (unset: no authentication)", NULL, flags));
  /**
   * GstTorchMetaSink:mqtt-password:
   *
   * Write-only: it cannot be read back, and it never appears in logs or messages. Use
   * #GstTorchMetaSink:mqtt-ca-file so that it does not travel in clear text.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_PASSWORD,
      g_param_spec_string ("mqtt-password", "MQTT password",
          "Password for the MQTT broker (write-only, never logged)", NULL,
          (GParamFlags) (G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY)));
  /**
   * GstTorchMetaSink:mqtt-ca-file:
   *
   * Set: the connection uses TLS, and the broker's certificate must verify against
   * these CAs and match #GstTorchMetaSink:mqtt-host. Unset: plain TCP.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_CA_FILE,
      g_param_spec_string ("mqtt-ca-file", "MQTT CA file",
          "PEM file of CA certificates: connect with TLS and check the broker against them (unset: no TLS)",
          NULL, flags));
  g_object_class_install_property (gobject_class, PROP_MQTT_KEEPALIVE,
      g_param_spec_uint ("mqtt-keepalive", "MQTT keepalive",
          "MQTT keepalive in seconds: a broker that does not answer a ping in that time is taken as gone",
          5, 65535, DEFAULT_MQTT_KEEPALIVE, flags));
  /**
   * GstTorchMetaSink:mqtt-max-queued:
   *
   * Messages waiting plus sent and not yet acknowledged. When the queue is full the
   * oldest waiting one is dropped and counted in #GstTorchMetaSink:dropped.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_MAX_QUEUED,
      g_param_spec_uint ("mqtt-max-queued", "MQTT max queued",
          "Most messages kept for the broker (waiting or unacknowledged); beyond it the oldest are dropped",
          1, G_MAXINT, DEFAULT_MQTT_MAX_QUEUED, flags));
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "MQTT and Kafka messages dropped because a queue was full (since start; after a stop: that run's)",
          0, G_MAXUINT64, 0, (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstTorchMetaSink:include-model-info:
   *
   * Provenance: each classification entry also carries "model-sha256", "preprocess"
   * (resize-size, crop-size, resize-mode, mean, std) and "latency" (ns), where its meta
   * has them. Read in start().
   */
  g_object_class_install_property (gobject_class, PROP_INCLUDE_MODEL_INFO,
      g_param_spec_boolean ("include-model-info", "Include model info",
          "Also write each classification's model SHA-256, preprocessing settings and latency",
          FALSE, flags));

  /**
   * GstTorchMetaSink:kafka-brokers:
   *
   * The bootstrap brokers of the Kafka cluster to produce each JSON object to, one
   * message per buffer keyed by the stream name: `host:port` separated by commas.
   * Unset: no Kafka. Needs a plugin built with librdkafka; otherwise the sink fails to
   * start.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_BROKERS,
      g_param_spec_string ("kafka-brokers", "Kafka brokers",
          "Kafka bootstrap brokers, host:port separated by commas (unset: no Kafka)",
          NULL, flags));
  g_object_class_install_property (gobject_class, PROP_KAFKA_TOPIC,
      g_param_spec_string ("kafka-topic", "Kafka topic",
          "Kafka topic the results go to (needed with kafka-brokers; letters, digits, '.', '_', '-')",
          NULL, flags));
  /**
   * GstTorchMetaSink:kafka-acks:
   *
   * "all" (default): a message counts as sent once every in-sync replica has it, and
   * the producer is idempotent (no duplicates, no reordering across retries). "1": the
   * leader only; "0": no acknowledgement (at most once). With 0 or 1 the producer keeps
   * one request in flight per broker to keep the order.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_ACKS,
      g_param_spec_string ("kafka-acks", "Kafka acks",
          "Acknowledgements to wait for: all (every in-sync replica, idempotent), 1 (the leader), 0 (none)",
          DEFAULT_KAFKA_ACKS, flags));
  g_object_class_install_property (gobject_class, PROP_KAFKA_SECURITY_PROTOCOL,
      g_param_spec_string ("kafka-security-protocol", "Kafka security protocol",
          "plaintext, ssl, sasl_plaintext or sasl_ssl (unset: plaintext)", NULL, flags));
  g_object_class_install_property (gobject_class, PROP_KAFKA_SASL_MECHANISM,
      g_param_spec_string ("kafka-sasl-mechanism", "Kafka SASL mechanism",
          "SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI, OAUTHBEARER", NULL, flags));
  g_object_class_install_property (gobject_class, PROP_KAFKA_SASL_USERNAME,
      g_param_spec_string ("kafka-sasl-username", "Kafka SASL user name",
          "SASL user name (PLAIN, SCRAM)", NULL, flags));
  /**
   * GstTorchMetaSink:kafka-sasl-password:
   *
   * Write-only: it cannot be read back, and it never appears in logs or messages. Use
   * kafka-security-protocol=sasl_ssl so that it does not travel in clear text.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_SASL_PASSWORD,
      g_param_spec_string ("kafka-sasl-password", "Kafka SASL password",
          "SASL password (write-only, never logged)", NULL,
          (GParamFlags) (G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (gobject_class, PROP_KAFKA_SSL_CA_LOCATION,
      g_param_spec_string ("kafka-ssl-ca-location", "Kafka CA location",
          "PEM file (or directory) of CA certificates to verify the brokers with (ssl, sasl_ssl)",
          NULL, flags));
  /**
   * GstTorchMetaSink:kafka-config:
   *
   * More librdkafka settings, `key=value,key=value` (a backslash escapes a comma in a
   * value), applied after all the others, so they can override them: for example
   * `linger.ms=20,compression.codec=lz4` or `message.timeout.ms=60000`. A key or value
   * librdkafka does not know fails the start, naming it.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_CONFIG,
      g_param_spec_string ("kafka-config", "Kafka config",
          "More librdkafka settings as key=value,key=value, applied last", NULL, flags));
  /**
   * GstTorchMetaSink:kafka-queue-size:
   *
   * Messages kept for Kafka: waiting plus handed to librdkafka and not yet
   * acknowledged. Up to half of it (at most 100) are inside librdkafka at a time and
   * are never dropped; when the queue is full the oldest waiting message is dropped and
   * counted in #GstTorchMetaSink:dropped.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_QUEUE_SIZE,
      g_param_spec_uint ("kafka-queue-size", "Kafka queue size",
          "Most messages kept for Kafka (waiting or unacknowledged); beyond it the oldest are dropped",
          1, G_MAXINT, DEFAULT_KAFKA_QUEUE_SIZE, flags));
  /**
   * GstTorchMetaSink:kafka-flush-timeout:
   *
   * At EOS the streaming thread waits at most this long for Kafka to acknowledge what
   * is queued (a warning says how many were not); a stop without EOS waits as long
   * before it discards them. 0: no wait.
   */
  g_object_class_install_property (gobject_class, PROP_KAFKA_FLUSH_TIMEOUT,
      g_param_spec_uint ("kafka-flush-timeout", "Kafka flush timeout",
          "Most milliseconds EOS (or a stop) waits for Kafka to acknowledge what is queued",
          0, 600000, DEFAULT_KAFKA_FLUSH_TIMEOUT, flags));
  /**
   * GstTorchMetaSink:stats:
   *
   * A `torchmetasink-stats` structure: `lines` and `bytes` (newlines included) the sink
   * made, `dropped` (all outputs), and per output, prefixed `file-`, `mqtt-` or
   * `kafka-`: `where`, `sent` (written, or acknowledged by the broker), `queued`,
   * `dropped`, `failed` (refused for good), `reconnects`, `connected`; MQTT also `lost`
   * and `restarts`. After a stop: the last run's numbers.
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Stats",
          "What the sink did: lines, bytes, and per output sent/queued/dropped/failed/reconnects",
          GST_TYPE_STRUCTURE, (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "Torch classification metadata sink", "Sink/Metadata",
      "Writes the classification metas of each video frame as one JSON object per line",
      "torchanalytics developers");

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_set_caps);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_event);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_torch_meta_sink_render);
}
