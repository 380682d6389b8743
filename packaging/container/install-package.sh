#!/bin/sh
# Inside the image: installs voxelgate's Debian package (with its dependencies from Debian),
# then makes the image fit a container: no keys baked in (each deployment makes or mounts
# its own), both ports open on every interface, the data and keys as volumes.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends curl ca-certificates /tmp/pkg/voxelgate_*_amd64.deb
rm -rf /var/lib/apt/lists/* /tmp/pkg
# The postinst made keys for this image: whoever had the image would hold them. Gone; the
# entrypoint makes a deployment's own at its first start, in the keys volume.
rm -f /etc/voxelgate/keys/master.key /etc/voxelgate/keys/audit-signing.key
sed -i -e 's|^listen = .*|listen = "0.0.0.0:8080"|' /etc/voxelgate/voxelgate.toml
sed -i -e '/^\[dicom\]/,/^\[/ s|^listen = .*|listen = "0.0.0.0:11112"|' /etc/voxelgate/voxelgate.toml
