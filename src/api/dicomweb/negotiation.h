// Accept-header negotiation for WADO-RS (PS3.18 §8.7).
#pragma once

#include <optional>
#include <string>

#include "http/message.h"

namespace vg::api {

// What a multipart retrieve of DICOM instances may carry.
struct InstanceRepresentation {
  bool any_transfer_syntax = true;  // else only `transfer_syntax`
  std::string transfer_syntax;
};
// nullopt: nothing acceptable (406).
std::optional<InstanceRepresentation> NegotiateInstances(const http::Request& request);

// Frames and bulk data.
struct FrameRepresentation {
  bool multipart = true;
  bool allow_compressed = false;  // frames may be returned as stored (compressed)
};
std::optional<FrameRepresentation> NegotiateFrames(const http::Request& request);

// DICOM JSON responses (QIDO, metadata).
bool AcceptsDicomJson(const http::Request& request);

// Rendered images: "image/jpeg" or "image/png"; nullopt: 406.
std::optional<std::string> NegotiateRendered(const http::Request& request);

// Media type of a compressed transfer syntax's frames ("image/jpeg", ...).
std::string FrameMediaType(const std::string& transfer_syntax);

}  // namespace vg::api
