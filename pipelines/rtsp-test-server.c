/* rtsp-test-server: a small RTSP server for tests and for trying the RTSP pipelines
 * without a camera.
 *
 * Serves H.264 made from `videotestsrc is-live=true` at rtsp://ADDRESS:PORT/MOUNT
 * (default rtsp://127.0.0.1:PORT/test). PORT 0 (the default) picks a free port. Once
 * the server listens it prints one line on stdout, "READY <url>", and flushes it, so a
 * test or a script can wait for that line and read the URL from it.
 *
 *   rtsp-test-server [OPTIONS] [PORT]
 *   rtsp-test-server 8554 &     # then: gst-play-1.0 rtsp://127.0.0.1:8554/test
 *
 * Options: --address (127.0.0.1), --mount (/test), --width, --height, --fps,
 * --pattern (a videotestsrc pattern name, default ball), --launch (serve this
 * gst-rtsp-server launch line instead: "( ... ! rtph264pay name=pay0 )").
 * SIGINT and SIGTERM stop it cleanly.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>

static gboolean
on_signal (gpointer user_data)
{
  g_main_loop_quit ((GMainLoop *) user_data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  gchar *address = NULL, *mount = NULL, *pattern = NULL, *launch = NULL;
  gint width = 320, height = 240, fps = 30;
  GOptionEntry entries[] = {
    {"address", 'a', 0, G_OPTION_ARG_STRING, &address,
        "Address to listen on (default 127.0.0.1; 0.0.0.0 for all interfaces)", "ADDR"},
    {"mount", 'm', 0, G_OPTION_ARG_STRING, &mount, "Mount point (default /test)", "PATH"},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, "Frame width in pixels (default 320)", "W"},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, "Frame height in pixels (default 240)", "H"},
    {"fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frames per second (default 30)", "N"},
    {"pattern", 'p', 0, G_OPTION_ARG_STRING, &pattern,
        "videotestsrc pattern (default ball)", "NAME"},
    {"launch", 'l', 0, G_OPTION_ARG_STRING, &launch,
        "Serve this launch line instead of the test pattern", "\"( ... ! rtph264pay name=pay0 )\""},
    {NULL}
  };
  GError *err = NULL;
  GOptionContext *ctx = g_option_context_new ("[PORT] - serve an H.264 test stream over RTSP");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("rtsp-test-server: %s\n", err->message);
    g_clear_error (&err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);

  const char *port = "0";
  if (argc > 2) {
    g_printerr ("rtsp-test-server: one PORT at most (see --help)\n");
    return 2;
  }
  if (argc == 2) {
    gchar *end = NULL;
    guint64 p = g_ascii_strtoull (argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || p > 65535) {
      g_printerr ("rtsp-test-server: '%s' is not a port number (0..65535)\n", argv[1]);
      return 2;
    }
    port = argv[1];
  }
  if (width <= 0 || height <= 0 || fps <= 0) {
    g_printerr ("rtsp-test-server: --width, --height and --fps must be positive\n");
    return 2;
  }
  if (!mount)
    mount = g_strdup ("/test");
  if (mount[0] != '/') {
    gchar *m = g_strconcat ("/", mount, NULL);
    g_free (mount);
    mount = m;
  }

  gchar *desc = launch ? g_strdup (launch) :
      /* key-int-max and config-interval=-1: a client that joins the shared stream late
       * (or comes back after a reconnect) gets SPS/PPS and a key frame within a second.
       * sliced-threads=false threads=1: one slice a frame, no frame held back; with
       * several slices config-interval=-1 puts SPS/PPS between the slices of a key frame
       * and ffmpeg decodes each slice as a picture of its own (docs/guides/rtsp.md). */
      g_strdup_printf ("( videotestsrc is-live=true pattern=%s ! "
      "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
      "x264enc tune=zerolatency sliced-threads=false threads=1 speed-preset=ultrafast "
      "key-int-max=%d ! "
      "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
      pattern ? pattern : "ball", width, height, fps, fps);

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  GstRTSPServer *server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, address ? address : "127.0.0.1");
  gst_rtsp_server_set_service (server, port);

  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, desc);
  /* One encoder for every client, as a camera has. */
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, mount, factory);
  g_object_unref (mounts);

  if (gst_rtsp_server_attach (server, NULL) == 0) {
    g_printerr ("rtsp-test-server: cannot listen on %s:%s\n",
        address ? address : "127.0.0.1", port);
    return 1;
  }
  const gint bound = gst_rtsp_server_get_bound_port (server);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);

  gchar *addr = gst_rtsp_server_get_address (server);
  fprintf (stdout, "READY rtsp://%s:%d%s\n", addr, bound, mount);
  fflush (stdout);
  g_free (addr);

  g_main_loop_run (loop);

  g_object_unref (server);
  g_main_loop_unref (loop);
  g_free (desc);
  g_free (address);
  g_free (mount);
  g_free (pattern);
  g_free (launch);
  return 0;
}
