#!/bin/sh
# The container's entrypoint: makes the deployment's keys on its first start (in the keys
# volume, never in the data volume) unless a key is supplied (VOXELGATE_MASTER_KEY_FILE, as a
# cluster's nodes must), then runs voxelgate with the arguments given (default: serve).
set -eu
keys=/etc/voxelgate/keys
if [ -n "${VOXELGATE_MASTER_KEY_FILE:-}" ]; then
  [ -r "$VOXELGATE_MASTER_KEY_FILE" ] || { echo "voxelgate: VOXELGATE_MASTER_KEY_FILE=$VOXELGATE_MASTER_KEY_FILE cannot be read" >&2; exit 1; }
elif [ ! -e "$keys/master.key" ] && [ "${1:-}" = serve ] && [ "${VOXELGATE_MAKE_KEYS:-1}" = 1 ]; then
  voxelgate admin keys init --dir "$keys" >/dev/null
  echo "voxelgate: made this deployment's keys in $keys (a volume): back them up apart from the data" >&2
fi
exec voxelgate "$@"
