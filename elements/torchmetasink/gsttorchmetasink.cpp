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
 *
 * Each line is written whole and flushed at once, so a reader that follows the file
 * (`tail -f`) never sees half a line, and nothing is lost at EOS or when the pipeline
 * stops.
 *
 * With #GstTorchMetaSink:mqtt-host set, the same object is also published, one MQTT
 * message per buffer, on #GstTorchMetaSink:mqtt-topic (default
 * `torchanalytics/<stream>`). The broker never stalls the pipeline: messages wait in a
 * bounded queue (#GstTorchMetaSink:mqtt-max-queued) while the sink reconnects with
 * backoff, the oldest are dropped when it is full (#GstTorchMetaSink:dropped), and an
 * outage is reported once as a warning on the bus. With mqtt-host set and location
 * unset nothing is written to stdout; `location=-` writes there too.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! torchclassify ! torchmetasink location=out.jsonl
 * ]| Classifies every frame of in.mp4 and writes the results to out.jsonl.
 * |[
 * gst-launch-1.0 -q v4l2src ! videoconvert ! torchclassify ! torchmetasink stream-name=cam0
 * ]| Prints the results of a camera on stdout.
 * |[
 * gst-launch-1.0 rtspsrc location=rtsp://cam/stream latency=200 ! decodebin ! videoconvert ! torchclassify ! torchmetasink stream-name=cam0 mqtt-host=broker.local mqtt-qos=1
 * ]| Publishes the results of an RTSP camera on the MQTT topic torchanalytics/cam0.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gsttorchmetasink.h"
#include "gsttorcherror.h"

#include "gsttorchclassificationmeta.h"

#ifdef TA_HAVE_MQTT
#include "error.h"
#include "mqtt_publisher.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdio_ext.h>
#include <sys/types.h>
#include <unistd.h>
#include <exception>
#include <memory>
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
};

namespace {

/* Properties (guarded by the object lock) and the state of the streaming thread. */
struct TorchMetaSinkPrivate
{
  /* properties */
  std::string location;         /* "" or "-": stdout */
  bool location_set = false;
  std::string stream_name;
  bool stream_name_set = false;
  std::string mqtt_host;        /* "": no MQTT */
  gint mqtt_port = DEFAULT_MQTT_PORT;
  std::string mqtt_topic;       /* "": torchanalytics/<stream> */
  std::string mqtt_client_id;   /* "": generated at start */
  gint mqtt_qos = DEFAULT_MQTT_QOS;
  std::string mqtt_username;
  std::string mqtt_password;    /* never logged, never readable */
  std::string mqtt_ca_file;
  guint mqtt_keepalive = DEFAULT_MQTT_KEEPALIVE;
  guint mqtt_max_queued = DEFAULT_MQTT_MAX_QUEUED;

  /* streaming state: set up in start(), used by the streaming thread only */
  FILE *file = nullptr;         /* null: MQTT only */
  bool owns_file = false;       /* false for stdout, which we flush but never close */
  std::string path;             /* what error messages call the output */
  std::string stream_id;        /* from the last STREAM_START event */
  guint64 frame = 0;
  off_t complete_bytes = 0;     /* file size after the last whole line (owned files) */
  gint width = -1;              /* -1: not in the caps */
  gint height = -1;

  /* MQTT: the publisher lives from start() to stop(); the pointer is guarded by the
   * object lock for readers of "dropped" outside the streaming thread. */
#ifdef TA_HAVE_MQTT
  std::unique_ptr<ta::MqttPublisher> mqtt;
#endif
  bool mqtt_on = false;
  std::string mqtt_where;       /* host:port, for messages */
  guint mqtt_max_queued_used = DEFAULT_MQTT_MAX_QUEUED;
  std::string mqtt_client_id_used;
  std::string topic;            /* the topic in use... */
  std::string topic_stream;     /* ...made for this stream name (default topic) */
  bool topic_fixed = false;     /* mqtt-topic was set */
  guint64 dropped = 0;          /* the count of the last run, after stop() */
};

bool
is_stdout (const std::string & location)
{
  return location.empty () || location == "-";
}

/* Scores are floats: their shortest double spelling is noise (0.8123f is
 * 0.81230002641677856), so keep six decimals, ample for a probability. */
double
round_score (gfloat score)
{
  return std::round (static_cast<double> (score) * 1e6) / 1e6;
}

nlohmann::ordered_json
meta_to_json (const GstTorchClassificationMeta * m)
{
  nlohmann::ordered_json c;
  c["model"] = m->model ? m->model : "";
  if (GST_CLOCK_TIME_IS_VALID (m->source_pts))
    c["source-pts"] = static_cast<guint64> (m->source_pts);
  c["roi"] = nlohmann::ordered_json {
    {"x", m->x}, {"y", m->y}, {"w", m->width}, {"h", m->height}
  };

  /* The meta API asks for highest score first, but the schema promises it: do not
   * trust the producer, sort a copy (stable, so equal scores keep their order).
   * NaN compares as -inf: the order stays strict-weak, and NaN goes last. */
  std::vector<const GstTorchClassLabel *> labels;
  labels.reserve (m->n_labels);
  for (guint i = 0; i < m->n_labels; i++)
    labels.push_back (&m->labels[i]);
  std::stable_sort (labels.begin (), labels.end (),
      [](const GstTorchClassLabel * a, const GstTorchClassLabel * b) {
        auto key =[](gfloat s) {
          return std::isnan (s) ? -INFINITY : s;
        };
        return key (a->score) > key (b->score);
      });

  nlohmann::ordered_json arr = nlohmann::ordered_json::array ();
  for (const GstTorchClassLabel *l : labels) {
    arr.push_back (nlohmann::ordered_json {
          {"id", l->class_id},
          {"label", l->label ? l->label : ""},
          {"score", round_score (l->score)}
        });
  }
  c["labels"] = std::move (arr);
  return c;
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

static void gst_torch_meta_sink_finalize (GObject * object);
static void gst_torch_meta_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_torch_meta_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_torch_meta_sink_start (GstBaseSink * sink);
static gboolean gst_torch_meta_sink_stop (GstBaseSink * sink);
static gboolean gst_torch_meta_sink_set_caps (GstBaseSink * sink, GstCaps * caps);
static gboolean gst_torch_meta_sink_event (GstBaseSink * sink, GstEvent * event);
static GstFlowReturn gst_torch_meta_sink_render (GstBaseSink * sink, GstBuffer * buffer);

static void
gst_torch_meta_sink_class_init (GstTorchMetaSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

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
          "with mqtt-host set, only \"-\" is stdout and unset is no output)",
          NULL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY)));

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

  const GParamFlags mqtt_flags = (GParamFlags) (G_PARAM_READWRITE |
      G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  /**
   * GstTorchMetaSink:mqtt-host:
   *
   * The MQTT broker to publish each JSON object to (host name or address). Unset: no
   * MQTT. When it is set and #GstTorchMetaSink:location is not, nothing is written to
   * stdout. Needs a plugin built with libmosquitto; otherwise the sink fails to start.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_HOST,
      g_param_spec_string ("mqtt-host", "MQTT host",
          "MQTT broker to publish the results to, one message per buffer (unset: no MQTT)",
          NULL, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-port:
   *
   * The broker's TCP port: 1883, or 8883 by convention with TLS.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_PORT,
      g_param_spec_int ("mqtt-port", "MQTT port",
          "TCP port of the MQTT broker (8883 is usual with mqtt-ca-file)",
          1, 65535, DEFAULT_MQTT_PORT, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-topic:
   *
   * The topic of the messages. Unset: `torchanalytics/<stream>`, where `<stream>` is
   * the "stream" member of the object with '/', '+' and '#' replaced by '_'. It must
   * not contain the wildcards '+' or '#'.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_TOPIC,
      g_param_spec_string ("mqtt-topic", "MQTT topic",
          "Topic to publish on (unset: torchanalytics/<stream name>)",
          NULL, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-client-id:
   *
   * The MQTT client identifier. Unset: a unique `torchmetasink-xxxxxxxx` made at each
   * start (readable while the sink runs). Two clients with the same id take turns
   * disconnecting each other.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_CLIENT_ID,
      g_param_spec_string ("mqtt-client-id", "MQTT client id",
          "MQTT client identifier (unset: a unique one made at start)",
          NULL, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-qos:
   *
   * 0: at most once, messages in flight when the connection breaks may be lost. 1: at
   * least once, each message is kept until the broker acknowledged it (PUBACK) and sent
   * again after a reconnection, so duplicates are possible but losses are not while
   * the queue has room.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_QOS,
      g_param_spec_int ("mqtt-qos", "MQTT QoS",
          "MQTT quality of service: 0 at most once, 1 at least once (kept until acknowledged)",
          0, 1, DEFAULT_MQTT_QOS, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-username:
   *
   * The user name to authenticate with. Unset: none.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_USERNAME,
      g_param_spec_string ("mqtt-username", "MQTT user name",
          "User name for the MQTT broker (unset: no authentication)",
          NULL, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-password:
   *
   * The password that goes with #GstTorchMetaSink:mqtt-username. Write-only: it cannot
   * be read back, and it never appears in logs or messages. Use #GstTorchMetaSink:mqtt-ca-file
   * so that it does not travel in clear text.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_PASSWORD,
      g_param_spec_string ("mqtt-password", "MQTT password",
          "Password for the MQTT broker (write-only, never logged)",
          NULL, (GParamFlags) (G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY)));

  /**
   * GstTorchMetaSink:mqtt-ca-file:
   *
   * A PEM file of the certificate authorities to check the broker's certificate
   * against. Set: the connection uses TLS, and the broker's certificate must match
   * #GstTorchMetaSink:mqtt-host. Unset: plain TCP.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_CA_FILE,
      g_param_spec_string ("mqtt-ca-file", "MQTT CA file",
          "PEM file of CA certificates: connect with TLS and check the broker against them (unset: no TLS)",
          NULL, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-keepalive:
   *
   * Seconds between MQTT pings when there is no other traffic. A broker that does not
   * answer a ping within that time is taken as gone, and reconnected to.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_KEEPALIVE,
      g_param_spec_uint ("mqtt-keepalive", "MQTT keepalive",
          "MQTT keepalive interval in seconds",
          5, 65535, DEFAULT_MQTT_KEEPALIVE, mqtt_flags));

  /**
   * GstTorchMetaSink:mqtt-max-queued:
   *
   * The most messages kept while the broker is away or slow: the ones waiting and the
   * ones sent but not yet acknowledged. When the queue is full the oldest waiting one
   * is dropped and counted in #GstTorchMetaSink:dropped.
   */
  g_object_class_install_property (gobject_class, PROP_MQTT_MAX_QUEUED,
      g_param_spec_uint ("mqtt-max-queued", "MQTT max queued",
          "Most messages kept for the broker (waiting or unacknowledged); beyond it the oldest are dropped",
          1, G_MAXINT, DEFAULT_MQTT_MAX_QUEUED, mqtt_flags));

  /**
   * GstTorchMetaSink:dropped:
   *
   * Messages dropped because #GstTorchMetaSink:mqtt-max-queued were already waiting,
   * since the sink started (after it stopped: the count of the last run).
   */
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "MQTT messages dropped because the queue was full (since start)",
          0, G_MAXUINT64, 0,
          (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

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

static void
gst_torch_meta_sink_init (GstTorchMetaSink * self)
{
  self->priv = new TorchMetaSinkPrivate ();
  /* Like filesink: writing metadata need not wait for the clock. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}

static void
gst_torch_meta_sink_finalize (GObject * object)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);

  /* stop() closes the file; this only guards against a sink disposed while started. */
  if (self->priv->file && self->priv->owns_file)
    fclose (self->priv->file);
  /* Not left in freed memory. */
  std::fill (self->priv->mqtt_password.begin (), self->priv->mqtt_password.end (), '\0');
  delete self->priv;
  self->priv = nullptr;

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* String properties: NULL and "" both mean unset. */
static void
set_string (GstTorchMetaSink * self, std::string & field, const GValue * value)
{
  const gchar *s = g_value_get_string (value);
  GST_OBJECT_LOCK (self);
  field = s ? s : "";
  GST_OBJECT_UNLOCK (self);
}

static void
get_string (GstTorchMetaSink * self, const std::string & field, GValue * value)
{
  GST_OBJECT_LOCK (self);
  g_value_set_string (value, field.empty () ? NULL : field.c_str ());
  GST_OBJECT_UNLOCK (self);
}

static void
gst_torch_meta_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (prop_id) {
    case PROP_LOCATION:{
      const gchar *s = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      /* Read in start(): a new value takes effect the next time the sink starts. */
      priv->location_set = s != NULL;
      priv->location = s ? s : "";
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_STREAM_NAME:{
      const gchar *s = g_value_get_string (value);
      GST_OBJECT_LOCK (self);
      priv->stream_name_set = s != NULL;
      priv->stream_name = s ? s : "";
      GST_OBJECT_UNLOCK (self);
      break;
    }
    case PROP_MQTT_HOST:
      set_string (self, priv->mqtt_host, value);
      break;
    case PROP_MQTT_PORT:
      GST_OBJECT_LOCK (self);
      priv->mqtt_port = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_TOPIC:
      set_string (self, priv->mqtt_topic, value);
      break;
    case PROP_MQTT_CLIENT_ID:
      set_string (self, priv->mqtt_client_id, value);
      break;
    case PROP_MQTT_QOS:
      GST_OBJECT_LOCK (self);
      priv->mqtt_qos = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_USERNAME:
      set_string (self, priv->mqtt_username, value);
      break;
    case PROP_MQTT_PASSWORD:
      GST_OBJECT_LOCK (self);
      std::fill (priv->mqtt_password.begin (), priv->mqtt_password.end (), '\0');
      GST_OBJECT_UNLOCK (self);
      set_string (self, priv->mqtt_password, value);
      break;
    case PROP_MQTT_CA_FILE:
      set_string (self, priv->mqtt_ca_file, value);
      break;
    case PROP_MQTT_KEEPALIVE:
      GST_OBJECT_LOCK (self);
      priv->mqtt_keepalive = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_MAX_QUEUED:
      GST_OBJECT_LOCK (self);
      priv->mqtt_max_queued = g_value_get_uint (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_torch_meta_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (object);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (prop_id) {
    case PROP_LOCATION:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value, priv->location_set ? priv->location.c_str () : NULL);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_STREAM_NAME:
      GST_OBJECT_LOCK (self);
      g_value_set_string (value,
          priv->stream_name_set ? priv->stream_name.c_str () : NULL);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_HOST:
      get_string (self, priv->mqtt_host, value);
      break;
    case PROP_MQTT_PORT:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, priv->mqtt_port);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_TOPIC:
      get_string (self, priv->mqtt_topic, value);
      break;
    case PROP_MQTT_CLIENT_ID:
      GST_OBJECT_LOCK (self);
      /* Unset: the generated one while the sink runs. */
      if (!priv->mqtt_client_id.empty ())
        g_value_set_string (value, priv->mqtt_client_id.c_str ());
      else if (!priv->mqtt_client_id_used.empty ())
        g_value_set_string (value, priv->mqtt_client_id_used.c_str ());
      else
        g_value_set_string (value, NULL);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_QOS:
      GST_OBJECT_LOCK (self);
      g_value_set_int (value, priv->mqtt_qos);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_USERNAME:
      get_string (self, priv->mqtt_username, value);
      break;
    case PROP_MQTT_CA_FILE:
      get_string (self, priv->mqtt_ca_file, value);
      break;
    case PROP_MQTT_KEEPALIVE:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, priv->mqtt_keepalive);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_MQTT_MAX_QUEUED:
      GST_OBJECT_LOCK (self);
      g_value_set_uint (value, priv->mqtt_max_queued);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_DROPPED:{
      guint64 dropped;
      GST_OBJECT_LOCK (self);
      dropped = priv->dropped;
#ifdef TA_HAVE_MQTT
      if (priv->mqtt)
        dropped = priv->mqtt->dropped ();
#endif
      GST_OBJECT_UNLOCK (self);
      g_value_set_uint64 (value, dropped);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

#ifdef TA_HAVE_MQTT
/* What the connection did, from libmosquitto's thread (or from start()). An outage is
 * one warning: the publisher reports its first failure, not every retry. */
static void
gst_torch_meta_sink_mqtt_event (GstTorchMetaSink * self, ta::MqttEvent ev,
    const std::string & detail)
{
  TorchMetaSinkPrivate *priv = self->priv;
  const char *where = priv->mqtt_where.c_str ();
  const guint max_queued = priv->mqtt_max_queued_used;

  switch (ev) {
    case ta::MqttEvent::kConnected:
      GST_INFO_OBJECT (self, "connected to the MQTT broker at %s as %s (%s)", where,
          priv->mqtt_client_id_used.c_str (), detail.c_str ());
      break;
    case ta::MqttEvent::kReconnected:
      GST_INFO_OBJECT (self, "reconnected to the MQTT broker at %s (%s)", where,
          detail.c_str ());
      GST_ELEMENT_INFO (self, RESOURCE, OPEN_WRITE,
          ("Connected to the MQTT broker at %s; publishing again.", where),
          ("%s", detail.c_str ()));
      break;
    case ta::MqttEvent::kConnectFailed:
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
          ("Could not connect to the MQTT broker at %s. Retrying in the background; "
              "up to %u results are kept meanwhile.", where, max_queued),
          ("%s", detail.c_str ()));
      break;
    case ta::MqttEvent::kRefused:
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
          ("The MQTT broker at %s refused the connection. Retrying in the "
              "background; up to %u results are kept meanwhile.", where, max_queued),
          ("CONNACK: %s", detail.c_str ()));
      break;
    case ta::MqttEvent::kNotAuthorized:
      GST_ELEMENT_WARNING (self, RESOURCE, NOT_AUTHORIZED,
          ("The MQTT broker at %s refused the connection: check mqtt-username and "
              "mqtt-password. Retrying in the background.", where),
          ("CONNACK: %s", detail.c_str ()));
      break;
    case ta::MqttEvent::kConnectionLost:
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Lost the connection to the MQTT broker at %s. Reconnecting in the "
              "background; up to %u results are kept meanwhile.", where, max_queued),
          ("%s", detail.c_str ()));
      break;
  }
}

static void
gst_torch_meta_sink_mqtt_log (GstTorchMetaSink * self, ta::MqttLogLevel level,
    const std::string & msg)
{
  GstDebugLevel l = GST_LEVEL_LOG;
  switch (level) {
    case ta::MqttLogLevel::kError:
    case ta::MqttLogLevel::kWarning:
      l = GST_LEVEL_WARNING;
      break;
    case ta::MqttLogLevel::kInfo:
      l = GST_LEVEL_INFO;
      break;
    case ta::MqttLogLevel::kDebug:
      l = GST_LEVEL_DEBUG;
      break;
    case ta::MqttLogLevel::kLog:
      l = GST_LEVEL_LOG;        /* libmosquitto's one line per packet */
      break;
  }
  GST_CAT_LEVEL_LOG (GST_CAT_DEFAULT, l, self, "mqtt: %s", msg.c_str ());
}
#endif

/* Sets up the MQTT publisher (the properties were copied in start()). */
static gboolean
gst_torch_meta_sink_start_mqtt (GstTorchMetaSink * self)
{
  TorchMetaSinkPrivate *priv = self->priv;

#ifndef TA_HAVE_MQTT
  GST_ELEMENT_ERROR (self, CORE, NOT_IMPLEMENTED,
      ("This torchmetasink was built without MQTT support: unset mqtt-host, or "
          "rebuild the plugin with libmosquitto (install libmosquitto-dev, "
          "meson setup -Dmqtt=enabled)."),
      ("mqtt-host is set, but the plugin was built without libmosquitto (meson "
          "option mqtt disabled, or libmosquitto not found)"));
  (void) priv;
  return FALSE;
#else
  ta::MqttOptions o;
  std::string topic;

  GST_OBJECT_LOCK (self);
  o.host = priv->mqtt_host;
  o.port = priv->mqtt_port;
  o.client_id = priv->mqtt_client_id;
  o.username = priv->mqtt_username;
  o.password = priv->mqtt_password;
  o.ca_file = priv->mqtt_ca_file;
  o.keepalive_s = static_cast<int> (priv->mqtt_keepalive);
  o.qos = priv->mqtt_qos;
  o.max_queued = priv->mqtt_max_queued;
  topic = priv->mqtt_topic;
  GST_OBJECT_UNLOCK (self);

  priv->topic_fixed = !topic.empty ();
  priv->topic = topic;
  priv->topic_stream.clear ();
  if (priv->topic_fixed && !ta::MqttPublisher::valid_topic (topic)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("The MQTT topic \"%s\" is not valid for publishing: it must not be empty or "
            "contain the wildcards '+' or '#'.", topic.c_str ()), (NULL));
    return FALSE;
  }
  priv->mqtt_where = o.host + ":" + std::to_string (o.port);
  priv->mqtt_max_queued_used = o.max_queued;

  ta::MqttCallbacks cb;
  cb.on_event =[self](ta::MqttEvent ev, const std::string & detail) {
    gst_torch_meta_sink_mqtt_event (self, ev, detail);
  };
  cb.on_log =[self](ta::MqttLogLevel level, const std::string & msg) {
    gst_torch_meta_sink_mqtt_log (self, level, msg);
  };

  std::unique_ptr<ta::MqttPublisher> pub;
  try {
    pub.reset (new ta::MqttPublisher (std::move (o), std::move (cb)));
    GST_OBJECT_LOCK (self);
    priv->mqtt_client_id_used = pub->options ().client_id;
    GST_OBJECT_UNLOCK (self);
    GST_INFO_OBJECT (self, "publishing to MQTT broker %s as %s, QoS %d%s%s",
        priv->mqtt_where.c_str (), pub->options ().client_id.c_str (),
        pub->options ().qos, pub->options ().ca_file.empty ()? "" : ", TLS",
        pub->options ().username.empty ()? "" : ", with a user name");
    pub->start ();
  } catch (const ta::Error & e) {
    pub.reset ();
    GST_OBJECT_LOCK (self);
    priv->mqtt_client_id_used.clear ();
    GST_OBJECT_UNLOCK (self);
    gst_torch_post_core_error (GST_ELEMENT (self), e);
    return FALSE;
  } catch (const std::exception & e) {
    pub.reset ();
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not set up the MQTT client."),
        ("%s", e.what ()));
    return FALSE;
  }

  GST_OBJECT_LOCK (self);
  priv->mqtt = std::move (pub);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
#endif
}

/* Stops the publisher: a bounded wait for what is queued, then disconnect. */
static void
gst_torch_meta_sink_stop_mqtt (GstTorchMetaSink * self)
{
#ifdef TA_HAVE_MQTT
  TorchMetaSinkPrivate *priv = self->priv;
  std::unique_ptr<ta::MqttPublisher> pub;

  GST_OBJECT_LOCK (self);
  pub = std::move (priv->mqtt);
  GST_OBJECT_UNLOCK (self);
  if (!pub)
    return;

  /* stop() returns only after the last callback: none can post on our behalf later. */
  const size_t left = pub->stop (std::chrono::milliseconds (MQTT_DRAIN_MS));
  const ta::MqttStats st = pub->stats ();
  pub.reset ();

  GST_OBJECT_LOCK (self);
  priv->dropped = st.dropped;
  priv->mqtt_client_id_used.clear ();
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "MQTT: %" G_GUINT64_FORMAT " published, %" G_GUINT64_FORMAT
      " dropped (queue full), %" G_GUINT64_FORMAT " QoS 0 lost in a disconnection, %"
      G_GSIZE_FORMAT " discarded at stop, %" G_GUINT64_FORMAT " client restarts",
      (guint64) st.published, (guint64) st.dropped, (guint64) st.lost, left,
      (guint64) st.restarts);
  if (left > 0) {
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("%" G_GSIZE_FORMAT " results could not be delivered to the MQTT broker at %s "
            "before the sink stopped, and were discarded.", left,
            priv->mqtt_where.c_str ()),
        ("waited up to %d ms", MQTT_DRAIN_MS));
  }
#else
  (void) self;
#endif
}

static gboolean
gst_torch_meta_sink_start (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  std::string location;
  bool mqtt_on;

  GST_OBJECT_LOCK (self);
  location = priv->location;
  mqtt_on = !priv->mqtt_host.empty ();
  priv->dropped = 0;
  GST_OBJECT_UNLOCK (self);

  priv->frame = 0;
  priv->complete_bytes = 0;
  priv->width = priv->height = -1;
  priv->stream_id.clear ();
  priv->mqtt_on = mqtt_on;

  /* Without MQTT, unset means stdout. With MQTT, a file only when one is named, and
   * stdout only when asked for with "-". */
  const bool want_output = !mqtt_on || !location.empty ();

  if (!want_output) {
    priv->file = nullptr;
    priv->owns_file = false;
    priv->path.clear ();
  } else if (is_stdout (location)) {
    priv->file = stdout;
    priv->owns_file = false;
    priv->path = "stdout";
  } else {
    FILE *f = fopen (location.c_str (), "w");
    if (!f) {
      const int errsv = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not open \"%s\" for writing: %s.", location.c_str (),
              g_strerror (errsv)), ("fopen (\"%s\", \"w\") failed: %s",
              location.c_str (), g_strerror (errsv)));
      return FALSE;
    }
    priv->file = f;
    priv->owns_file = true;
    priv->path = location;
  }

  if (mqtt_on && !gst_torch_meta_sink_start_mqtt (self)) {
    if (priv->file && priv->owns_file)
      fclose (priv->file);
    priv->file = nullptr;
    priv->owns_file = false;
    return FALSE;
  }

  if (priv->file)
    GST_INFO_OBJECT (self, "writing JSON Lines to %s", priv->path.c_str ());
  return TRUE;
}

static gboolean
gst_torch_meta_sink_stop (GstBaseSink * sink)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  gst_torch_meta_sink_stop_mqtt (self);

  if (priv->file) {
    /* Lines are flushed as they are written: a failure here is the close itself
     * (e.g. a network file system reporting a delayed write error). It is reported,
     * but like filesink the sink still stops: the file is gone either way. */
    int rc = priv->owns_file ? fclose (priv->file) : fflush (priv->file);
    if (rc != 0) {
      const int errsv = errno;
      GST_ELEMENT_ERROR (self, RESOURCE, CLOSE,
          ("Could not close \"%s\": %s.", priv->path.c_str (), g_strerror (errsv)),
          (NULL));
    }
    priv->file = nullptr;
    priv->owns_file = false;
  }
  GST_INFO_OBJECT (self, "rendered %" G_GUINT64_FORMAT " frames", priv->frame);
  return TRUE;
}

static gboolean
gst_torch_meta_sink_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint w, h;

  /* The template takes any video/x-raw, even caps without a size: "width" and
   * "height" are then null in the output. */
  priv->width = gst_structure_get_int (s, "width", &w) ? w : -1;
  priv->height = gst_structure_get_int (s, "height", &h) ? h : -1;
  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT ": %dx%d", caps, priv->width,
      priv->height);
  return TRUE;
}

static gboolean
gst_torch_meta_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:{
      /* A sink pad stores a sticky event only after this handler accepted it, so
       * take the id from the event rather than from gst_pad_get_stream_id(). */
      const gchar *id = NULL;
      gst_event_parse_stream_start (event, &id);
      priv->stream_id = id ? id : "";
      GST_DEBUG_OBJECT (self, "stream-id %s", priv->stream_id.c_str ());
      break;
    }
    case GST_EVENT_EOS:
      if (priv->file && fflush (priv->file) != 0) {
        const int errsv = errno;
        GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
            ("Could not write to \"%s\": %s.", priv->path.c_str (),
                g_strerror (errsv)), (NULL));
      }
#ifdef TA_HAVE_MQTT
      if (priv->mqtt) {
        const guint64 dropped = priv->mqtt->dropped ();
        if (dropped > 0)
          GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
              ("%" G_GUINT64_FORMAT " results were not published: more than "
                  "mqtt-max-queued (%u) waited for the MQTT broker at %s, and the "
                  "oldest were dropped.", dropped, priv->mqtt_max_queued_used,
                  priv->mqtt_where.c_str ()),
              ("dropped=%" G_GUINT64_FORMAT, dropped));
      }
#endif
      break;
    default:
      break;
  }

  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

/* The "stream" member: the property, else the upstream stream-id, else our name. */
static std::string
gst_torch_meta_sink_stream_name (GstTorchMetaSink * self)
{
  TorchMetaSinkPrivate *priv = self->priv;
  std::string name;

  GST_OBJECT_LOCK (self);
  if (priv->stream_name_set && !priv->stream_name.empty ())
    name = priv->stream_name;
  GST_OBJECT_UNLOCK (self);
  if (!name.empty ())
    return name;

  if (priv->stream_id.empty ()) {
    gchar *id = gst_pad_get_stream_id (GST_BASE_SINK_PAD (self));
    if (id)
      priv->stream_id = id;
    g_free (id);
  }
  if (!priv->stream_id.empty ())
    return priv->stream_id;

  gchar *ename = gst_element_get_name (GST_ELEMENT (self));
  name = ename;
  g_free (ename);
  return name;
}

static GstFlowReturn
gst_torch_meta_sink_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstTorchMetaSink *self = GST_TORCH_META_SINK (sink);
  TorchMetaSinkPrivate *priv = self->priv;

  if (!priv->file && !priv->mqtt_on) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("No file open for writing."),
        ("render called while the sink is not started"));
    return GST_FLOW_ERROR;
  }

  try {
    nlohmann::ordered_json j;
    const std::string stream = gst_torch_meta_sink_stream_name (self);
    j["stream"] = stream;
    j["frame"] = priv->frame;
    if (GST_BUFFER_PTS_IS_VALID (buffer))
      j["pts"] = static_cast<guint64> (GST_BUFFER_PTS (buffer));
    else
      j["pts"] = nullptr;
    if (priv->width >= 0)
      j["width"] = priv->width;
    else
      j["width"] = nullptr;
    if (priv->height >= 0)
      j["height"] = priv->height;
    else
      j["height"] = nullptr;

    nlohmann::ordered_json classifications = nlohmann::ordered_json::array ();
    gpointer state = NULL;
    GstTorchClassificationMeta *m;
    while ((m = gst_buffer_iterate_torch_classification_meta (buffer, &state)))
      classifications.push_back (meta_to_json (m));
    j["classifications"] = std::move (classifications);

    /* replace: a label that is not valid UTF-8 gets U+FFFD instead of an exception,
     * and the line stays valid JSON. */
    std::string line = j.dump (-1, ' ', false,
        nlohmann::json::error_handler_t::replace);

    GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": %s", priv->frame,
        line.c_str ());

#ifdef TA_HAVE_MQTT
    if (priv->mqtt) {
      if (!priv->topic_fixed && stream != priv->topic_stream) {
        priv->topic = "torchanalytics/" + ta::MqttPublisher::topic_level (stream);
        priv->topic_stream = stream;
        GST_INFO_OBJECT (self, "publishing on MQTT topic %s", priv->topic.c_str ());
      }
      /* Queued, never waits for the network. */
      priv->mqtt->publish (priv->topic, line);
    }
#endif
    line += '\n';

    /* One fwrite of the whole line, then a flush: a reader never sees half a line,
     * and no line waits in the stdio buffer when the pipeline stops. */
    errno = 0;
    if (priv->file && (fwrite (line.data (), 1, line.size (), priv->file) != line.size ()
        || fflush (priv->file) != 0)) {
      const int errsv = errno;
      /* Keep what was written whole: drop what stdio still holds of this line and cut
       * the part of it that reached the file (a full disk takes part of a write), so
       * that the file ends with the last complete line, as a reader expects. */
      bool cut = false;
      if (priv->owns_file) {
        __fpurge (priv->file);
        cut = ftruncate (fileno (priv->file), priv->complete_bytes) == 0
            && fseeko (priv->file, priv->complete_bytes, SEEK_SET) == 0;
      }
      clearerr (priv->file);
      const bool full = errsv == ENOSPC || errsv == EDQUOT;
      gchar *text = g_strdup_printf ("Could not write to \"%s\": %s.%s",
          priv->path.c_str (), errsv ? g_strerror (errsv) : "short write",
          full ? " Free space on its file system, or set location to a file on a "
          "disk with room." : "");
      gchar *debug = g_strdup_printf ("frame %" G_GUINT64_FORMAT ", %" G_GSIZE_FORMAT
          " bytes; the file keeps the %" G_GUINT64_FORMAT " whole lines before it%s",
          priv->frame, line.size (), priv->frame,
          cut ? "" : " (and maybe part of this one)");
      if (full)
        GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT, ("%s", text), ("%s", debug));
      else
        GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("%s", text), ("%s", debug));
      g_free (text);
      g_free (debug);
      return GST_FLOW_ERROR;
    }
    priv->complete_bytes += static_cast<off_t> (line.size ());
    priv->frame++;
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not write the results of frame %" G_GUINT64_FORMAT ".",
            priv->frame), ("%s", e.what ()));
    return GST_FLOW_ERROR;
  } catch (...) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Could not write the results of frame %" G_GUINT64_FORMAT ".",
            priv->frame), ("unknown exception"));
    return GST_FLOW_ERROR;
  }

  return GST_FLOW_OK;
}
