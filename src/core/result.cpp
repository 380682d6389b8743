#include "core/result.h"

namespace vg {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kUnprocessable: return "unprocessable";
    case ErrorCode::kPaymentRequired: return "payment_required";
    case ErrorCode::kInternal: return "internal";
  }
  return "internal";
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kForbidden: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kUnsupported: return 406;
    case ErrorCode::kResourceExhausted: return 507;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kTimeout: return 408;
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kPaymentRequired: return 402;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

}  // namespace vg
