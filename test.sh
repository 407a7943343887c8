#!/usr/bin/env bash
# Runs every berth test on a fresh Debian machine: installs the peers the tests drive (skopeo,
# CNCF Distribution, podman, umoci, busybox-static, ...) and then the whole cargo test suite.
set -euo pipefail
cd "$(dirname "$0")"

need_install=0
for tool in skopeo docker-registry umoci podman crun jq openssl qemu-aarch64 dockerd htpasswd; do
  command -v "$tool" >/dev/null 2>&1 || need_install=1
done
[ -x /bin/busybox ] || need_install=1
if [ "$need_install" = 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    skopeo docker-registry umoci busybox-static podman buildah crun runc \
    fuse-overlayfs slirp4netns uidmap jq openssl curl ca-certificates qemu-user docker.io apache2-utils >/dev/null
fi

cargo test --workspace --locked --no-fail-fast "$@"
