/* The live page (index.html, style.css, app.js, compiled into the program as a GResource)
 * and the rules every web endpoint of the app follows.
 *
 * Nothing here writes anything: every handler answers GET and HEAD only (405 otherwise),
 * sets `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`, and a path that is
 * neither the page nor a documented endpoint is 404.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <libsoup/soup.h>

#include <string>

namespace ta_web {

// Request bounds, checked by install_request_limits() on every request once its headers
// are in, before a body is read. libsoup itself refuses headers over 100 KiB.
constexpr size_t kMaxUriBytes = 2048;        // longer: 414
constexpr size_t kMaxHeaderBytes = 16 * 1024; // all names and values together; more: 431
constexpr size_t kMaxBodyBytes = 64 * 1024;  // a declared or chunked body over this: 413

// Enforces the bounds above on every request the server gets (the other endpoints of the
// server included: it only refuses oversize requests). A body over the bound is never
// read: a client that sent "Expect: 100-continue" gets 413, any other has its connection
// closed (libsoup reads a body before it answers).
void install_request_limits(SoupServer *server);

// Serves "/" (index.html), "/style.css" and "/app.js" from the embedded resource, and 404
// for any other path that no more specific handler of the server takes.
void add_page_handlers(SoupServer *server);
// The same, for one request (the app's HttpServer calls it for "/").
void handle_page(SoupServerMessage *msg, const char *path);

// Common to the handlers of the page, the MJPEG and the event hubs.
// Whether the method is GET or HEAD; otherwise answers 405 (with Allow) and returns false.
bool only_get(SoupServerMessage *msg);
// A complete response: status, type and body, with the headers of every endpoint.
void respond(SoupServerMessage *msg, guint status, const char *content_type,
             const std::string &body);
// The headers of every endpoint (no caching, no content sniffing).
void set_common_headers(SoupServerMessage *msg);
// Shuts the connection of a message down now, whatever is left to send or to read (a
// client that stopped reading, an oversize body); libsoup then ends the message.
void drop_connection(SoupServerMessage *msg);

// `s` as a JSON string literal, quotes included.
std::string json_string(const std::string &s);

}  // namespace ta_web
