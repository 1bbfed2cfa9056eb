#!/usr/bin/env bash
# `npm run setup`: everything warmbox's clone needs on a Debian machine (bookworm), as root, then
# a first job. Each step is skipped where it is done already, so it is safe to run again:
#
#   1. Debian's packages: the Docker engine, debootstrap (the offline base image), python3
#      (the host's baselines), runsc (gVisor), and for the tests Chromium (the notebook page)
#      and HAProxy (the scale-out test);
#   2. the engine, started if none answers;
#   3. npm ci and the build;
#   4. gVisor: on Debian 12, runsc from bookworm-backports when it is older than the newest
#      release warmbox is tested on (NEWEST_TESTED_RUNSC: 20240729, systrap; Debian 12's own
#      is 20221219, ptrace), the suite added to apt's sources on the machine's own mirror; then
#      registered as the engine's runtime runsc, by warmbox's own `doctor --fix-runtime` (its
#      flags are written once, in the project's code);
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

newest_runsc=$(node -e 'import("./dist/contract/gvisor.js").then((m) => console.log(m.NEWEST_TESTED_RUNSC))')
runsc_release=$(/usr/bin/runsc --version 2>/dev/null | grep -oE '[0-9]{8}' | head -n 1 || true)
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ] && [ "${runsc_release:-0}" -lt "$newest_runsc" ]; then
  log "runsc $runsc_release -> $newest_runsc from bookworm-backports"
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | tr -d ' ')
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "${mirror:-http://deb.debian.org/debian}" > /etc/apt/sources.list.d/warmbox-backports.sources
  fi
  # Where the suite cannot be reached, Debian's own runsc stays, and doctor says what it lacks.
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports runsc >/dev/null; then
    /usr/bin/runsc --version | head -n 1
  else
    echo "runsc from bookworm-backports could not be installed: keeping $(/usr/bin/runsc --version | head -n 1)" >&2
  fi
fi

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
