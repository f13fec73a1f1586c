/* The live page and the request bounds: see page.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "page.h"

#include <gio/gio.h>

#include <cstring>

extern "C" {  // the generated header has no C++ guards
#include "web-resources.h"
}

namespace ta_web {

namespace {

constexpr const char *kResourcePrefix = "/org/torchanalytics/app/web/";

// The page's own scripts and styles only: no inline code, nothing from elsewhere, no
// framing by another site.
constexpr const char *kPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct Asset {
  const char *path;      // the URL path
  const char *resource;  // the file in the resource
  const char *type;
};

constexpr Asset kAssets[] = {
  {"/", "index.html", "text/html; charset=utf-8"},
  {"/index.html", "index.html", "text/html; charset=utf-8"},
  {"/style.css", "style.css", "text/css; charset=utf-8"},
  {"/app.js", "app.js", "text/javascript; charset=utf-8"},
};

// On every request of the server, whichever handler its path has (libsoup calls only the
// early handler of the most specific path, so an early handler on "/" would miss the
// others): the bounds are checked as soon as the headers are in.
void on_got_headers(SoupServerMessage *msg, gpointer) {
  GUri *uri = soup_server_message_get_uri(msg);
  gchar *text = uri ? g_uri_to_string(uri) : nullptr;
  const size_t uri_len = text ? std::strlen(text) : 0;
  g_free(text);
  if (uri_len > kMaxUriBytes) {
    respond(msg, SOUP_STATUS_REQUEST_URI_TOO_LONG, "text/plain; charset=utf-8", "URI too long\n");
    return;
  }
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  size_t header_bytes = 0;
  SoupMessageHeadersIter it;
  const char *name, *value;
  soup_message_headers_iter_init(&it, h);
  while (soup_message_headers_iter_next(&it, &name, &value))
    header_bytes += std::strlen(name) + std::strlen(value) + 4;
  if (header_bytes > kMaxHeaderBytes) {
    respond(msg, 431, "text/plain; charset=utf-8", "request headers too large\n");
    return;
  }
  const SoupEncoding enc = soup_message_headers_get_encoding(h);
  if ((enc == SOUP_ENCODING_CONTENT_LENGTH &&
       soup_message_headers_get_content_length(h) > (goffset)kMaxBodyBytes) ||
      enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF) {
    // Chunked: its size is unknown up front, and no endpoint takes a large body. libsoup
    // reads a body before it answers, unless the client waits for "100 Continue": that
    // client gets the 413; from any other the connection is shut down now, so the body is
    // never read (libsoup sees the end of its input and closes the connection).
    respond(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "text/plain; charset=utf-8",
        "request body too large\n");
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
        "close");
    if (!(soup_message_headers_get_expectations(h) & SOUP_EXPECTATION_CONTINUE))
      drop_connection(msg);
  }
}

void on_page(SoupServerMessage *msg, const char *path) {
  for (const Asset &a : kAssets) {
    if (std::strcmp(path, a.path) != 0)
      continue;
    if (!only_get(msg))
      return;
    const std::string name = std::string(kResourcePrefix) + a.resource;
    GBytes *bytes = g_resource_lookup_data(ta_web_get_resource(), name.c_str(),
        G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
    if (!bytes) {  // a build without the page: cannot happen with meson's resource
      respond(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
          "the page is missing from this build\n");
      return;
    }
    set_common_headers(msg);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg),
        "Content-Security-Policy", kPagePolicy);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, nullptr);
    gsize len = 0;
    const gconstpointer data = g_bytes_get_data(bytes, &len);
    soup_server_message_set_response(msg, a.type, SOUP_MEMORY_COPY,
        static_cast<const char *>(data), len);
    g_bytes_unref(bytes);
    return;
  }
  respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", "not found\n");
}

}  // namespace

static void on_request_started(SoupServer *, SoupServerMessage *msg, gpointer) {
  g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), nullptr);
}

void install_request_limits(SoupServer *server) {
  g_signal_connect(server, "request-started", G_CALLBACK(on_request_started), nullptr);
}

void add_page_handlers(SoupServer *server) {
  soup_server_add_handler(server, "/", [](SoupServer *, SoupServerMessage *msg, const char *path,
      GHashTable *, gpointer) { on_page(msg, path); }, nullptr, nullptr);
}

void handle_page(SoupServerMessage *msg, const char *path) { on_page(msg, path); }

bool only_get(SoupServerMessage *msg) {
  const char *m = soup_server_message_get_method(msg);
  if (m == SOUP_METHOD_GET || m == SOUP_METHOD_HEAD)
    return true;
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
      "GET, HEAD");
  respond(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
      "this server only reads: GET or HEAD\n");
  return false;
}

void set_common_headers(SoupServerMessage *msg) {
  SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(h, "Cache-Control", "no-store");
  soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
}

void respond(SoupServerMessage *msg, guint status, const char *content_type,
             const std::string &body) {
  set_common_headers(msg);
  soup_server_message_set_status(msg, status, nullptr);
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body.data(), body.size());
}

// A shutdown, not soup_server_message_steal_connection(): libsoup's pending read or
// write fails, and libsoup ends the message and closes the connection its own way
// (stealing a connection in the middle of a request is not safe in libsoup 3.2).
void drop_connection(SoupServerMessage *msg) {
  GSocket *sock = soup_server_message_get_socket(msg);
  if (sock)
    g_socket_shutdown(sock, TRUE, TRUE, nullptr);
}

std::string json_string(const std::string &s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          g_snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace ta_web
