// The one exception type the core throws. Its kind maps onto a GStreamer error domain
// and code in the elements; `what()` is one sentence for the user (what and how to fix),
// `detail()` the technical text (LibTorch's message without backtrace).
#pragma once

#include <stdexcept>
#include <string>

namespace ta {

enum class ErrorKind {
  NotFound,     // a file that does not exist (RESOURCE, NOT_FOUND)
  OpenRead,     // a file that cannot be read (RESOURCE, OPEN_READ)
  Settings,     // a bad property value (RESOURCE, SETTINGS)
  Init,         // a model that will not load (LIBRARY, INIT)
  Device,       // a device that is not there (RESOURCE, NOT_FOUND on the device)
  Stream,       // a frame that fails (STREAM, FAILED)
  OpenWrite,    // an output that cannot be created or connected to (RESOURCE, OPEN_WRITE)
  Write,        // an output that fails while writing (RESOURCE, WRITE)
  NoSpaceLeft,  // a full disk or quota (RESOURCE, NO_SPACE_LEFT)
  Close,        // an output that fails to close (RESOURCE, CLOSE)
  NotImplemented,  // a part this build left out (CORE, NOT_IMPLEMENTED)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, const std::string& detail = {})
      : std::runtime_error(message), kind_(kind), detail_(detail) {}
  ErrorKind kind() const { return kind_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorKind kind_;
  std::string detail_;
};

}  // namespace ta
