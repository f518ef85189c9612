#include "util/status.h"

namespace bastion {

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out(InfoFor(code_).name);
  out += ": ";
  out += message_;
  return out;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg));
}

}  // namespace bastion
