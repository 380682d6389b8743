// Result<T>: the return type of every operation that can fail in an expected way.
// Error carries a stable code, a message safe to show a client, and an internal
// detail for logs. Neither message may hold patient data.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>

namespace vg {

enum class ErrorCode {
  kInvalidArgument,   // malformed input from the caller
  kUnauthenticated,   // no or bad credentials
  kForbidden,         // authenticated, not allowed
  kNotFound,          // absent, or not visible to this tenant
  kConflict,          // state clash (e.g. different object under the same UID)
  kTooLarge,          // a size limit was hit
  kUnsupported,       // valid, but a representation we do not provide (HTTP 406/415)
  kResourceExhausted, // out of storage, too many connections
  kUnavailable,       // try again later
  kTimeout,           // a time limit was hit
  kUnprocessable,     // well-formed, but the data cannot serve (a series that is not one volume)
  kPaymentRequired,   // the clinic's subscription or licence does not cover it (HTTP 402)
  kInternal,          // a bug or an environment failure
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string public_message;  // shown to the client
  std::string detail;          // logged only; never patient data either
  std::string reason;          // a more precise machine-readable code ("quota_exhausted"), shown instead of the code's name
  std::int64_t since = 0;      // when the condition began (Unix seconds), shown when set
};

// [[nodiscard]]: a failure nobody looks at is a bug the compiler can find. Everything
// else is std::expected's (constructors, value(), error(), and_then...); a plain
// std::expected<T, Error> converts, so monadic chains can be returned as they are.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(const std::expected<T, Error>& other) : std::expected<T, Error>(other) {}
  Result(std::expected<T, Error>&& other) : std::expected<T, Error>(std::move(other)) {}
};

inline std::unexpected<Error> Fail(ErrorCode code, std::string public_message,
                                   std::string detail = {}) {
  return std::unexpected(Error{code, std::move(public_message), std::move(detail)});
}

// Stable, machine-readable names used in JSON error bodies.
const char* ErrorCodeName(ErrorCode code);
// One table maps codes to HTTP statuses (DIMSE statuses live with the DIMSE layer).
int HttpStatusFor(ErrorCode code);

}  // namespace vg
