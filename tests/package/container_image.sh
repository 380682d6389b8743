#!/bin/bash
# The container image, built and run for real where a container engine works: a Debian 12
# base made with debootstrap (no registry is assumed reachable; kept between runs as
# localhost/voxelgate-test-base:bookworm), the Dockerfile's `prebuilt` target built with
# buildah over `make deb`'s package, then the image's own entrypoint and CMD run as its user
# (buildah's chroot isolation: inside a CI container, podman cannot set a container's rlimits)
# must answer /healthz, serve the app, and make the keys in the keys volume, none in the data.
# The compose files are checked to parse and to use the image's volumes.
# Skips (77), saying why, where no engine can build. Usage: container_image.sh BUILD_DIR
set -euo pipefail
. "$(dirname "$0")/lib.sh"

build=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" != 0 ]; then echo "skipped: building an image here needs root (buildah with the vfs driver)"; exit 77; fi
for tool in buildah podman debootstrap cpack curl python3; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool is missing (scripts/bootstrap installs it)"; exit 77; }
done
bah() { buildah --storage-driver vfs "$@"; }
if ! bah info >/dev/null 2>&1; then echo "skipped: buildah cannot work on this machine: $(bah info 2>&1 | tail -1)"; exit 77; fi

python3 - "$repo" <<'PY' || fail "the compose files"
import sys, yaml
repo = sys.argv[1]
single = yaml.safe_load(open(f"{repo}/compose.yaml"))
cluster = yaml.safe_load(open(f"{repo}/compose.cluster.yaml"))
vg = single["services"]["voxelgate"]
assert "data:/var/lib/voxelgate" in vg["volumes"] and "keys:/etc/voxelgate/keys" in vg["volumes"], vg["volumes"]
for name in ("node1", "node2", "worker"):
    node = cluster["services"][name]
    assert any(v.startswith("keys:/etc/voxelgate/keys") for v in node["volumes"]), name
    assert "postgresql://" in " ".join(node["command"]) and "s3://" in " ".join(node["command"]), name
    assert node["environment"]["VOXELGATE_MASTER_KEY_FILE"] == "/etc/voxelgate/keys/master.key", name
PY

work=$(mktemp -d)
ctr=""
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  pkill -f "voxelgate serve --config /etc/voxelgate/voxelgate.toml --listen 127.0.0.1:$port" 2>/dev/null || true
  [ -n "$ctr" ] && bah rm "$ctr" >/dev/null 2>&1 || true
  bah rmi localhost/voxelgate:test >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(free_port)

base=localhost/voxelgate-test-base:bookworm
if ! bah inspect --type image "$base" >/dev/null 2>&1; then
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  debootstrap --variant=minbase bookworm "$work/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
    || { tail -5 "$work/debootstrap.log"; echo "skipped: debootstrap cannot reach a Debian mirror"; exit 77; }
  tar -C "$work/rootfs" -c . | podman --storage-driver vfs import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

(cd "$build" && rm -f voxelgate_*_amd64.deb && cpack -G DEB >/dev/null)
# The context is the source tree with the package under build/ (.dockerignore keeps the rest out).
mkdir -p "$repo/build" && [ "$build" = "$repo/build" ] || cp "$build"/voxelgate_*_amd64.deb "$repo/build/"
bah bud --format docker --isolation chroot --build-arg BASE="$base" --target prebuilt -t localhost/voxelgate:test \
  -f "$repo/Dockerfile" "$repo" >"$work/bud.log" 2>&1 || { tail -30 "$work/bud.log"; fail "the image does not build"; }

config=$(bah inspect --type image localhost/voxelgate:test)
python3 - "$config" <<'PY' || fail "the image's configuration"
import json, sys
c = json.loads(sys.argv[1])["Docker"]["config"]
assert c["User"] == "voxelgate", c["User"]
assert set(c["Volumes"]) == {"/var/lib/voxelgate", "/etc/voxelgate/keys"}, c["Volumes"]
assert "healthz" in " ".join(c["Healthcheck"]["Test"]), c.get("Healthcheck")
assert c["Entrypoint"] == ["/usr/local/lib/voxelgate/entrypoint.sh"], c["Entrypoint"]
assert c["Cmd"][0] == "serve", c["Cmd"]
PY

ctr=$(bah from localhost/voxelgate:test)
# The two volumes as folders here (what `docker run -v` would mount), owned by the image's user.
uid=$(bah run --isolation chroot "$ctr" -- id -u voxelgate)
mkdir -p "$work/data" "$work/keys"
chown "$uid:$uid" "$work/data" "$work/keys"
chmod 0700 "$work/keys"
bah run --isolation chroot --user voxelgate -v "$work/data:/var/lib/voxelgate" -v "$work/keys:/etc/voxelgate/keys" \
  "$ctr" -- /usr/local/lib/voxelgate/entrypoint.sh \
  serve --config /etc/voxelgate/voxelgate.toml --listen "127.0.0.1:$port" --dicom-listen 127.0.0.1:0 >"$work/run.log" 2>&1 &
server=$!
serving "$port" "$server" "$work/run.log" "the container's server"
grep -q "made this deployment's keys in /etc/voxelgate/keys" "$work/run.log" || fail "the entrypoint did not make the keys in the keys volume"
[ -e "$work/data/data/catalog.db" ] || fail "no catalog in the data volume"
[ -z "$(find "$work/data" -name '*.key')" ] || fail "a key was made inside the data volume"
echo "ok: image built from the package on a debootstrap base ($(bah images --format '{{.Size}}' localhost/voxelgate:test)), its entrypoint served /healthz as voxelgate"
