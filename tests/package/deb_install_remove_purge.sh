#!/bin/bash
# The Debian package on this machine, for real: `cpack` builds it from the build folder,
# `dpkg -i` (plus `apt-get -f install` for anything missing) installs it, systemd-analyze
# verifies its units, the server is started with the unit's own command line as the service
# user (no privileges, no new ones: what the unit's hardening grants) and answers /healthz
# and serves the app; `dpkg -r` keeps the data and the keys, `dpkg --purge` deletes them.
# Needs root (it installs a package); skips (77) otherwise. Usage: deb_install_remove_purge.sh BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
if [ "$(id -u)" != 0 ]; then echo "skipped: installing a package needs root"; exit 77; fi
for tool in dpkg cpack systemd-analyze runuser setpriv curl; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool is missing"; exit 77; }
done
if dpkg -s voxelgate >/dev/null 2>&1; then
  echo "FAIL: a voxelgate package is already installed here; this test installs and purges its own" >&2
  exit 1
fi

server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  dpkg --purge voxelgate >/dev/null 2>&1 || true
}
trap cleanup EXIT

(cd "$build" && rm -f voxelgate_*_amd64.deb && cpack -G DEB >/dev/null)
deb=$(ls "$build"/voxelgate_*_amd64.deb)
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"
dpkg-deb -f "$deb" Depends | grep -q 'libdcmtk' || fail "Depends: does not name the libraries the binary links"

if ! dpkg -i "$deb"; then
  DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq --no-install-recommends
fi
dpkg -s voxelgate | grep -q '^Status: install ok installed' || fail "the package is not installed"

# What the maintainer scripts made.
getent passwd voxelgate >/dev/null || fail "no voxelgate user"
[ "$(stat -c '%U %a' /etc/voxelgate/keys/master.key)" = "voxelgate 600" ] || fail "master.key is not the service user's, mode 0600"
[ -e /etc/voxelgate/keys/audit-signing.key ] || fail "no audit signing key beside the master key"
[ "$(stat -c '%U %a' /var/lib/voxelgate/data)" = "voxelgate 700" ] || fail "the data folder is not the service user's, mode 0700"
[ "$(stat -c '%G %a' /etc/voxelgate/voxelgate.toml)" = "voxelgate 640" ] || fail "the config is not readable by the service group alone"

# The units as systemd reads them (a unit systemd refuses prints its reason here).
units=(/usr/lib/systemd/system/voxelgate.service /usr/lib/systemd/system/voxelgate-gateway.service)
cp /usr/lib/systemd/system/voxelgate-worker@.service /tmp/voxelgate-worker@1.service
report=$(systemd-analyze verify "${units[@]}" /tmp/voxelgate-worker@1.service 2>&1 | grep -v 'ConditionPathExists' || true)
rm -f /tmp/voxelgate-worker@1.service
[ -z "$report" ] || fail "systemd-analyze verify: $report"

# The server as the unit starts it: its ExecStart, as its user, without capabilities or the
# right to gain privileges. Only the ports differ (a free one; the unit's may be taken here).
exec_start=$(sed -n 's/^ExecStart=//p' /usr/lib/systemd/system/voxelgate.service)
port=$(free_port)
log=$(mktemp)
(cd / && exec runuser -u voxelgate -- setpriv --no-new-privs --inh-caps=-all --bounding-set=-all \
  $exec_start --listen "127.0.0.1:$port" --dicom-listen 127.0.0.1:0) >"$log" 2>&1 &
server=$!
serving "$port" "$server" "$log" "the packaged server"
# (Read whole before matching: `grep -q` leaving early would fail curl under pipefail.)
description=$(curl -fsS "http://127.0.0.1:$port/api/openapi.json") || fail "/api/openapi.json is not served"
grep -q '"openapi"' <<<"$description" || fail "/api/openapi.json is not an OpenAPI description"
[ "$(stat -c %U /var/lib/voxelgate/data/catalog.db)" = voxelgate ] || fail "the catalog is not the service user's"
[ ! -e /var/lib/voxelgate/data/keys ] || fail "a key was made inside the data folder"
kill -TERM "$server"; wait "$server" || true; server=""

# Remove keeps data and keys; purge deletes them.
dpkg -r voxelgate >/dev/null 2>&1
[ ! -e /usr/bin/voxelgate ] || fail "dpkg -r left the binary"
[ -e /var/lib/voxelgate/data/catalog.db ] || fail "dpkg -r deleted the catalog"
[ -e /etc/voxelgate/keys/master.key ] || fail "dpkg -r deleted the master key"
dpkg --purge voxelgate >/dev/null 2>&1
[ ! -e /var/lib/voxelgate ] || fail "dpkg --purge left /var/lib/voxelgate"
[ ! -e /etc/voxelgate/keys ] || fail "dpkg --purge left the keys"
! getent passwd voxelgate >/dev/null || fail "dpkg --purge left the voxelgate user"
echo "ok: installed, verified, served /healthz as the service user, removed keeping the data, purged"
