// The PostgreSQL half of sql_db.h, on libpq.
//
// Statements are prepared on the server once per connection (named by a counter, cached
// by their text) and run with PQexecPrepared; parameters go as text with their types left
// to the server to infer from context (so `substr(x, 1, ?)` and `id = ?` both work),
// except blobs, which go as binary bytea. Results come as text. A connection the server
// dropped (a restart, a fail-over) is reset on next use; what was in flight fails with
// kUnavailable, and the caller's transaction is rolled back by the server.
#include <libpq-fe.h>

#include <poll.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "storage/sql_db.h"

namespace vg::storage::sql {
namespace {

constexpr unsigned kByteaOid = 17;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// `?` placeholders to $1..$n, leaving string literals and quoted names alone.
std::string NumberPlaceholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int next = 1;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$' + std::to_string(next++);
    } else {
      out += c;
    }
  }
  return out;
}

// The server's message without anything a parameter carried: libpq's primary message
// names constraint and column names, not values; DETAIL (which can quote a key's value)
// is left out.
Error PgError(PGconn* conn, const PGresult* result, std::string_view what, Failure* failure) {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = primary ? primary : PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  std::string sqlstate = state ? state : "";
  std::string detail = std::string(what) + ": " + message + (sqlstate.empty() ? "" : " [" + sqlstate + "]");
  *failure = Failure::kOther;
  if (sqlstate == "23505") *failure = Failure::kDuplicate;
  if (sqlstate == "40001" || sqlstate == "40P01") {
    *failure = Failure::kRetry;
    return Error{ErrorCode::kUnavailable, "catalog is busy", detail};
  }
  if (sqlstate == "53100") return Error{ErrorCode::kResourceExhausted, "out of storage space", detail};
  if (sqlstate.starts_with("53") || sqlstate.starts_with("57") || sqlstate.starts_with("08") ||
      PQstatus(conn) != CONNECTION_OK)
    return Error{ErrorCode::kUnavailable, "catalog unavailable", detail};
  return Error{ErrorCode::kInternal, "catalog error", detail};
}

std::vector<std::uint8_t> DecodeBytea(const char* text, int length) {
  // Text output of bytea is "\x" then hex (bytea_output = hex, set at connect).
  std::vector<std::uint8_t> out;
  if (length < 2 || text[0] != '\\' || text[1] != 'x') return out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
  };
  out.reserve(static_cast<size_t>(length - 2) / 2);
  for (int i = 2; i + 1 < length; i += 2) out.push_back(static_cast<std::uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1])));
  return out;
}

class PgConnection;

class PgStatement final : public Statement {
 public:
  PgStatement(PgConnection* conn, std::string sql) : conn_(conn), sql_(std::move(sql)) {}
  void Bind(int index, const Param& p) override {
    if (params_.size() < static_cast<size_t>(index)) params_.resize(static_cast<size_t>(index));
    params_[static_cast<size_t>(index - 1)] = p;
  }
  Result<bool> Step() override;
  void Reset() override {
    params_.clear();
    result_.reset();
    row_ = -1;
  }
  std::int64_t Int(int col) const override {
    const char* v = Value(col);
    if (!v || !*v) return 0;
    if (v[0] == 't' && v[1] == 0) return 1;  // a boolean expression
    if (v[0] == 'f' && v[1] == 0) return 0;
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(v, v + std::strlen(v), out);
    if (ec != std::errc() || (*end != 0 && *end != '.')) return static_cast<std::int64_t>(std::strtod(v, nullptr));
    return out;
  }
  double Double(int col) const override {
    const char* v = Value(col);
    return v ? std::strtod(v, nullptr) : 0.0;
  }
  std::string Text(int col) const override {
    const char* v = Value(col);
    if (!v) return {};
    return std::string(v, static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }
  std::vector<std::uint8_t> Blob(int col) const override {
    const char* v = Value(col);
    if (!v) return {};
    return DecodeBytea(v, PQgetlength(result_.get(), row_, col));
  }
  bool IsNull(int col) const override { return !result_ || PQgetisnull(result_.get(), row_, col); }

 private:
  const char* Value(int col) const {
    if (!result_ || row_ < 0 || col >= PQnfields(result_.get()) || PQgetisnull(result_.get(), row_, col))
      return nullptr;
    return PQgetvalue(result_.get(), row_, col);
  }
  PgConnection* conn_;
  std::string sql_;
  std::vector<Param> params_;
  ResultPtr result_;
  int row_ = -1;
};

class PgConnection final : public Connection {
 public:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  ~PgConnection() override { PQfinish(conn_); }
  Engine engine() const override { return Engine::kPostgres; }
  Result<void> Exec(const std::string& sql) override {
    if (auto live = EnsureConnected(); !live) return live;
    ResultPtr result(PQexec(conn_, sql.c_str()));
    auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return std::unexpected(PgError(conn_, result.get(), "exec", &last_failure_));
    // Left as it was: the ROLLBACK after a failed statement must not hide why it failed
    // from sql::Retrying. The next Prepare starts afresh.
    return {};
  }
  Result<std::unique_ptr<Statement>> Prepare(std::string_view sql) override {
    last_failure_ = Failure::kNone;
    return std::unique_ptr<Statement>(new PgStatement(this, NumberPlaceholders(sql)));
  }
  std::int64_t Changes() const override { return changes_; }
  Failure LastFailure() const override { return last_failure_; }

  // Runs `sql` (prepared once per connection) with `params`.
  Result<ResultPtr> Run(const std::string& sql, const std::vector<Param>& params) {
    if (auto live = EnsureConnected(); !live) return std::unexpected(live.error());
    auto name = prepared_.find(sql);
    if (name == prepared_.end()) {
      std::string id = "vg" + std::to_string(prepared_.size() + 1);
      ResultPtr made(PQprepare(conn_, id.c_str(), sql.c_str(), 0, nullptr));
      if (!made || PQresultStatus(made.get()) != PGRES_COMMAND_OK)
        return std::unexpected(PgError(conn_, made.get(), "prepare", &last_failure_));
      name = prepared_.emplace(sql, std::move(id)).first;
    }
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size()), formats(params.size());
    std::vector<std::string> numbers(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      switch (p.kind) {
        case Param::kNull: values[i] = nullptr; break;
        case Param::kInt: numbers[i] = std::to_string(p.number); values[i] = numbers[i].c_str(); break;
        case Param::kDouble: {
          char buffer[64];
          auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, p.real);
          numbers[i] = ec == std::errc() ? std::string(buffer, end) : "0";
          values[i] = numbers[i].c_str();
          break;
        }
        case Param::kText: values[i] = p.bytes.c_str(); break;
        case Param::kBlob:
          values[i] = p.bytes.data();
          lengths[i] = static_cast<int>(p.bytes.size());
          formats[i] = 1;
          break;
      }
    }
    // Blob parameters must be typed bytea to be sent binary; the rest are inferred. The
    // statement was prepared without types, so a blob's parameter is bytea by context.
    ResultPtr result(PQexecPrepared(conn_, name->second.c_str(), static_cast<int>(params.size()), values.data(),
                                    lengths.data(), formats.data(), 0));
    auto status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      Error e = PgError(conn_, result.get(), "step", &last_failure_);
      // A statement invalidated by a schema change is prepared again on the next call.
      if (const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
          state && std::strcmp(state, "0A000") == 0)
        prepared_.erase(name);
      return std::unexpected(e);
    }
    const char* tuples = PQcmdTuples(result.get());
    changes_ = tuples && *tuples ? std::strtoll(tuples, nullptr, 10) : 0;
    last_failure_ = Failure::kNone;
    return result;
  }

 private:
  Result<void> EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return {};
    PQreset(conn_);
    prepared_.clear();  // a new session has none
    if (PQstatus(conn_) != CONNECTION_OK) {
      last_failure_ = Failure::kOther;
      return Fail(ErrorCode::kUnavailable, "catalog unavailable", std::string("reconnect: ") + PQerrorMessage(conn_));
    }
    return {};
  }
  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;
  std::int64_t changes_ = 0;
  Failure last_failure_ = Failure::kNone;
};

Result<bool> PgStatement::Step() {
  if (!result_) {
    auto ran = conn_->Run(sql_, params_);
    if (!ran) return std::unexpected(ran.error());
    result_ = std::move(*ran);
    row_ = -1;
  }
  if (row_ + 1 < PQntuples(result_.get())) {
    ++row_;
    return true;
  }
  row_ = PQntuples(result_.get());
  return false;
}

// The URI without its password (user:PASSWORD@ or a password= parameter), for messages.
std::string Redacted(std::string uri) {
  auto scheme = uri.find("://");
  auto at = uri.find('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    auto colon = uri.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) uri = uri.substr(0, colon) + ":***" + uri.substr(at);
  }
  for (size_t p = uri.find("password="); p != std::string::npos; p = uri.find("password=", p + 1)) {
    const size_t value = p + 9;
    const size_t end = uri.find_first_of("& ", value);
    uri.replace(value, (end == std::string::npos ? uri.size() : end) - value, "***");
  }
  return uri;
}

}  // namespace

Result<Db> Db::OpenPostgres(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    std::string why = conn ? PQerrorMessage(conn) : "out of memory";
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (conn) PQfinish(conn);
    return Fail(ErrorCode::kUnavailable, "cannot connect to the PostgreSQL catalog", Redacted(uri) + ": " + why);
  }
  Db db(std::make_unique<PgConnection>(conn));
  // Plain text results of known shape; UTC for anything the server formats; a statement
  // that waits longer than this on a lock is a bug or an outage, not a queue.
  if (auto r = db.Exec("SET bytea_output = 'hex'; SET client_min_messages = warning; SET TIME ZONE 'UTC'; "
                       "SET lock_timeout = '60s'");
      !r)
    return std::unexpected(r.error());
  return db;
}

namespace {

class PgListener final : public Listener {
 public:
  PgListener(std::string uri, std::string channel, std::function<void()> on_notify)
      : uri_(std::move(uri)), channel_(std::move(channel)), on_notify_(std::move(on_notify)),
        thread_([this] { Loop(); }) {}
  ~PgListener() override {
    stopping_ = true;
    thread_.join();
  }

 private:
  void Loop() {
    PGconn* conn = nullptr;
    while (!stopping_) {
      if (!conn || PQstatus(conn) != CONNECTION_OK) {
        if (conn) PQfinish(conn);
        conn = Connect();
        if (!conn) {
          for (int i = 0; i < 20 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        on_notify_();  // anything sent while no one listened
      }
      // Wake at least every 200 ms to notice a stop.
      pollfd fd{PQsocket(conn), POLLIN, 0};
      if (::poll(&fd, 1, 200) < 0) continue;
      if (!PQconsumeInput(conn)) {  // the connection broke: make a new one
        PQfinish(conn);
        conn = nullptr;
        continue;
      }
      bool woke = false;
      while (PGnotify* n = PQnotifies(conn)) {
        woke = true;
        PQfreemem(n);
      }
      if (woke) on_notify_();
    }
    if (conn) PQfinish(conn);
  }
  PGconn* Connect() {
    PGconn* conn = PQconnectdb(uri_.c_str());
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
      if (conn) PQfinish(conn);
      return nullptr;
    }
    // The channel is the code's own constant, never input.
    ResultPtr listen(PQexec(conn, ("LISTEN " + channel_).c_str()));
    if (!listen || PQresultStatus(listen.get()) != PGRES_COMMAND_OK) {
      PQfinish(conn);
      return nullptr;
    }
    return conn;
  }
  std::string uri_, channel_;
  std::function<void()> on_notify_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Listener> ListenPostgres(const std::string& uri, const std::string& channel,
                                         std::function<void()> on_notify) {
  return std::make_unique<PgListener>(uri, channel, std::move(on_notify));
}

}  // namespace vg::storage::sql
