# Shared by the package tests (sourced).

fail() { echo "FAIL: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# serving PORT PID LOG WHAT: waits (30 s at most) until the server PID answers /healthz on
# PORT, failing with its log when it exits first or never answers; then checks that it
# answers {"status":"ok"} and serves the browser app at /.
serving() {
  local port=$1 pid=$2 log=$3 what=$4
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "$what exited"; }
    sleep 0.1
  done
  local health page
  health=$(curl -fsS "http://127.0.0.1:$port/healthz") || { cat "$log" >&2; fail "$what: /healthz does not answer"; }
  grep -q '"ok"' <<<"$health" || fail "$what: /healthz answers $health"
  page=$(curl -fsS "http://127.0.0.1:$port/") || fail "$what: the app is not served"
  grep -qi '<!doctype html' <<<"$page" || fail "$what: / is not the app's page"
}
