// Status and Result<T>: expected failures are values, never exceptions.
//
// Every failure carries one Code from the catalogue in error_codes.h, which
// says how each front end reports it (HTTP status, DIMSE status). Messages
// must never contain PHI: they reach ordinary logs and protocol replies.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "util/error_codes.h"

namespace bastion {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "name: message", for logs and CLI output.
  std::string ToString() const;

  // Adds context in front of the message, keeping the code.
  Status Annotate(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result from an ok Status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace bastion

// Returns early from the enclosing function when `expr` is a failed Status.
#define BASTION_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::bastion::Status bastion_status_ = (expr);  \
    if (!bastion_status_.ok()) return bastion_status_; \
  } while (0)

#define BASTION_CONCAT_INNER(a, b) a##b
#define BASTION_CONCAT(a, b) BASTION_CONCAT_INNER(a, b)
// Declares `lhs` from a Result, or returns its Status from the enclosing function.
#define BASTION_ASSIGN_OR_RETURN(lhs, expr)                               \
  auto BASTION_CONCAT(bastion_result_, __LINE__) = (expr);                \
  if (!BASTION_CONCAT(bastion_result_, __LINE__).ok())                    \
    return BASTION_CONCAT(bastion_result_, __LINE__).status();            \
  lhs = std::move(BASTION_CONCAT(bastion_result_, __LINE__)).value()
