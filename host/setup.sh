#!/usr/bin/env bash
# `npm run setup`: everything warmbox's clone needs on a Debian machine (bookworm), as root, then
# a first job. Each step is skipped where it is done already, so it is safe to run again:
#
#   1. Debian's packages: the Docker engine, debootstrap (the offline base image), python3
#      (the host's baselines), runsc (gVisor), and for the tests Chromium (the notebook page)
#      and HAProxy (the scale-out test);
#   2. the engine, started if none answers;
#   3. npm ci and the build;
#   4. gVisor registered as the engine's runtime runsc, by warmbox's own `doctor --fix-runtime`
#      (its flags are written once, in the project's code);
#   5. both images: the default one, and the data image (numpy, pandas, matplotlib, pip, requests);
#   6. a first job: `npm run example`.
#
# .ci/run calls it; README's Quick start names it.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "npm run setup installs Debian packages, starts the engine and builds images with debootstrap: run it as root (sudo -E npm run setup)" >&2
  exit 1
fi

need_packages=()
command -v dockerd >/dev/null 2>&1 || need_packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_packages+=(debootstrap)
[ -x /usr/bin/python3 ] || need_packages+=(python3)
[ -x /usr/bin/runsc ] || need_packages+=(runsc)
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
command -v haproxy >/dev/null 2>&1 || need_packages+=(haproxy)
if [ ${#need_packages[@]} -gt 0 ]; then
  log "installing ${need_packages[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (its log: /var/log/warmbox-dockerd.log)"
  setsid dockerd >/var/log/warmbox-dockerd.log 2>&1 < /dev/null &
  # The engine is another program: its socket answering is the only event there is to wait for.
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 30 /var/log/warmbox-dockerd.log; echo "dockerd did not start" >&2; exit 1; }
fi

log "npm ci, then the build"
npm ci --no-audit --no-fund
npm run build

warmbox() { node dist/cli/warmbox.js "$@"; }

log "gVisor as the engine's runtime runsc"
# doctor exits 1 for anything not yet done (the images, below); the runtime must be right now.
# A warning (an older runsc release, whose faults it names) still runs every job.
findings=$(warmbox doctor --json --fix-runtime runsc || true)
node -e '
  const runsc = JSON.parse(process.argv[1]).find((f) => f.check === "runtime:runsc");
  if (runsc === undefined || runsc.status === "fail") { console.error("runsc is not registered:", JSON.stringify(runsc)); process.exit(1); }
  if (runsc.status === "warn") console.error(`runsc: ${runsc.detail}\n  ${runsc.fix}`);' "$findings"

log "the images: the default one, and the data image"
warmbox build-image
warmbox build-image --data

log "a first job"
npm run example
