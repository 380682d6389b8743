#include "http/client.h"

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>

namespace vg::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using OutgoingRequest = bhttp::request<bhttp::string_body>;
using IncomingParser = bhttp::response_parser<bhttp::string_body>;

template <typename Stream>
asio::awaitable<void> Exchange(Stream& stream, OutgoingRequest& request, IncomingParser& parser) {
  beast::flat_buffer buffer;
  co_await bhttp::async_write(stream, request, asio::use_awaitable);
  co_await bhttp::async_read(stream, buffer, parser, asio::use_awaitable);
}

}  // namespace

Result<ParsedUrl> ParseUrl(const std::string& url) {
  ParsedUrl out;
  std::string rest;
  if (url.starts_with("http://")) rest = url.substr(7);
  else if (url.starts_with("https://")) {
    out.https = true;
    rest = url.substr(8);
  } else return Fail(ErrorCode::kInvalidArgument, "a URL starts with http:// or https://");
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.find('@') != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument, "credentials in a URL are not supported");
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return Fail(ErrorCode::kInvalidArgument, "an IPv6 host needs its closing ]");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Fail(ErrorCode::kInvalidArgument, "unexpected text after the IPv6 host");
      out.port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return Fail(ErrorCode::kInvalidArgument, "the URL names no host");
  if (out.port.empty()) out.port = out.https ? "443" : "80";
  if (out.port.size() > 5 || out.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(out.port) > 65535)
    return Fail(ErrorCode::kInvalidArgument, "the URL's port is not a number from 0 to 65535");
  return out;
}

Result<ClientResponse> Send(const ClientRequest& in) {
  auto parsed = ParseUrl(in.url);
  if (!parsed) return std::unexpected(parsed.error());
  Result<ClientResponse> outcome = Fail(ErrorCode::kUnavailable, "no answer from " + parsed->host + " in time");
  const auto verb = bhttp::string_to_verb(in.method);
  if (verb == bhttp::verb::unknown) return Fail(ErrorCode::kInvalidArgument, "unknown HTTP method " + in.method);
  OutgoingRequest request{verb, parsed->target, 11};
  request.set(bhttp::field::host, parsed->host);
  request.set(bhttp::field::user_agent, "voxelgate");
  request.set(bhttp::field::connection, "close");
  for (const auto& [name, value] : in.headers) request.set(name, value);
  request.body() = in.body;
  if (!in.body.empty() || verb == bhttp::verb::post || verb == bhttp::verb::put) request.prepare_payload();
  IncomingParser parser;
  parser.body_limit(in.max_response_bytes);

  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  auto exchange = [&]() -> asio::awaitable<void> {
    asio::ip::tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(parsed->host, parsed->port, asio::use_awaitable);
    if (!parsed->https) {
      beast::tcp_stream stream(io);
      co_await stream.async_connect(endpoints, asio::use_awaitable);
      co_await Exchange(stream, request, parser);
    } else {
      tls.set_default_verify_paths();
      if (!in.ca_file.empty()) tls.load_verify_file(in.ca_file);
      tls.set_verify_mode(asio::ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(io, tls);
      SSL_set_tlsext_host_name(stream.native_handle(), parsed->host.c_str());
      stream.set_verify_callback(asio::ssl::host_name_verification(parsed->host));
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
      co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      co_await Exchange(stream, request, parser);
    }
    ClientResponse response;
    response.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      response.headers[name] = std::string(field.value());
    }
    response.body = std::move(parser.get().body());
    outcome = std::move(response);
  };
  asio::co_spawn(io, exchange(), [&](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
      if (e.code() == bhttp::error::body_limit)
        outcome = Fail(ErrorCode::kTooLarge, parsed->host + ": the response is over " +
                                                 std::to_string(in.max_response_bytes) + " bytes");
      else
        outcome = Fail(ErrorCode::kUnavailable, parsed->host + ": " + e.code().message());
    } catch (const std::exception& e) {
      outcome = Fail(ErrorCode::kUnavailable, parsed->host + ": " + e.what());
    }
  });
  io.run_for(in.timeout);
  return outcome;
}

Result<ClientResponse> Post(const std::string& url, const std::string& content_type, const std::string& body,
                            std::chrono::milliseconds timeout, std::uint64_t max_response_bytes) {
  ClientRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", content_type}};
  request.body = body;
  request.timeout = timeout;
  request.max_response_bytes = max_response_bytes;
  return Send(request);
}

}  // namespace vg::http
