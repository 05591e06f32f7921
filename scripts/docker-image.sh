#!/usr/bin/env bash
# Builds the Docker image `weft:local` on any machine with a Docker engine, with or without a
# container registry. The README and tests/docker use it.
#
#   scripts/docker-image.sh [--binary PATH] [--registry | --no-registry] [--tag NAME]
#                           [--rebuild-base]
#
# * A registry reachable (`debian:bookworm-slim` present or pullable) and no --binary: `docker
#   build` with the Dockerfile at the repository root, the two-stage build users run.
# * Otherwise: deploy/docker/Dockerfile.local around a prebuilt binary (--binary PATH; default
#   `cargo build --release -p weft`, then target/release/weft), FROM `debian:bookworm-slim` when a
#   registry is reachable, else FROM `weft-base:bookworm`: a Debian bookworm minbase rootfs that
#   debootstrap makes from this machine's Debian package sources (debootstrap is installed with
#   apt-get if missing), cached as a tarball in ${XDG_CACHE_HOME:-$HOME/.cache}/weft/ (so a rerun
#   only imports it, or finds the image and skips it) and `docker import`ed.
#
# The binary must run on Debian bookworm (glibc 2.36): a binary built on bookworm, or a static one.
# Environment: DEBIAN_MIRROR (debootstrap's mirror, default debootstrap's own), WEFT_IMAGE_CACHE
# (the cache directory). Prints the image's size at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

TAG="weft:local"
BASE_LOCAL="weft-base:bookworm"
BASE_REGISTRY="debian:bookworm-slim"
BINARY=""
MODE="auto" # auto | registry | local
REBUILD_BASE=0

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "docker-image.sh: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; BINARY="$2"; shift 2 ;;
    --binary=*) BINARY="${1#*=}"; shift ;;
    --registry) MODE=registry; shift ;;
    --no-registry) MODE=local; shift ;;
    --tag) [ $# -ge 2 ] || die "--tag needs a name"; TAG="$2"; shift 2 ;;
    --tag=*) TAG="${1#*=}"; shift ;;
    --rebuild-base) REBUILD_BASE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

command -v docker >/dev/null || die "docker not found"
docker info >/dev/null 2>&1 || die "no Docker engine reachable (\`docker info\` fails)"

# Runs a command as root: debootstrap and reading the rootfs (/etc/shadow …) need it.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "$1 needs root (run as root or install sudo)"; fi
}

registry_reachable() {
  docker image inspect "$BASE_REGISTRY" >/dev/null 2>&1 && return 0
  timeout 60 docker pull -q "$BASE_REGISTRY" >/dev/null 2>&1
}

if [ "$MODE" = auto ]; then
  if registry_reachable; then MODE=registry; else MODE=local; fi
  say "registry: $([ "$MODE" = registry ] && echo reachable || echo "not reachable, building from this machine's packages")"
elif [ "$MODE" = registry ]; then
  registry_reachable || die "--registry: cannot pull $BASE_REGISTRY"
fi

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 bytes"; }

# --- the base image made from this machine's packages -------------------------------------------
make_local_base() {
  if [ "$REBUILD_BASE" = 0 ] && docker image inspect "$BASE_LOCAL" >/dev/null 2>&1; then
    say "base image $BASE_LOCAL exists"
    return
  fi
  local arch cache tarball
  arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  cache="${WEFT_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weft}"
  tarball="$cache/debian-bookworm-minbase-$arch.tar"
  mkdir -p "$cache"
  # One debootstrap at a time per cache directory.
  exec 9>"$cache/.lock"
  flock 9
  if [ "$REBUILD_BASE" = 1 ] || [ ! -s "$tarball" ]; then
    if ! command -v debootstrap >/dev/null; then
      command -v apt-get >/dev/null || die "debootstrap missing and no apt-get to install it"
      say "installing debootstrap"
      as_root apt-get install -y -qq debootstrap >/dev/null \
        || { as_root apt-get update -qq && as_root apt-get install -y -qq debootstrap >/dev/null; } \
        || die "cannot install debootstrap"
    fi
    local rootfs
    rootfs="$(mktemp -d "$cache/rootfs.XXXXXX")"
    # debootstrap mounts proc and sys inside; never delete through a mount left by an interrupt.
    # shellcheck disable=SC2064
    trap "as_root umount -l '$rootfs/proc' '$rootfs/sys' 2>/dev/null; as_root rm -rf --one-file-system '$rootfs'" EXIT
    say "debootstrap --variant=minbase bookworm ($arch) into $rootfs"
    as_root debootstrap --variant=minbase --include=ca-certificates --arch="$arch" \
      bookworm "$rootfs" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$cache/debootstrap.log" 2>&1 \
      || { tail -n 30 "$cache/debootstrap.log" >&2; die "debootstrap failed (log: $cache/debootstrap.log)"; }
    # Slim it as Debian's -slim images are slimmed: no docs, man pages or translations now, and
    # none from packages installed later; no package lists or caches; nothing of this host.
    as_root sh -eu -c '
      r="$1"
      rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
             "$r"/var/log/* "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* \
             "$r"/usr/share/lintian "$r"/usr/share/linda "$r"/tmp/* "$r"/root/.cache
      find "$r"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
      mkdir -p "$r"/etc/dpkg/dpkg.cfg.d "$r"/etc/apt/apt.conf.d
      printf "%s\n" "path-exclude /usr/share/doc/*" "path-include /usr/share/doc/*/copyright" \
        "path-exclude /usr/share/man/*" "path-exclude /usr/share/info/*" \
        "path-exclude /usr/share/locale/*" "path-include /usr/share/locale/locale.alias" \
        >"$r"/etc/dpkg/dpkg.cfg.d/docker-slim
      printf "%s\n" "APT::Install-Recommends \"false\";" "Acquire::Languages \"none\";" \
        >"$r"/etc/apt/apt.conf.d/docker-slim
      : >"$r"/etc/machine-id
      rm -f "$r"/etc/hostname "$r"/etc/resolv.conf "$r"/etc/hosts
    ' sh "$rootfs"
    say "packing the rootfs into $tarball"
    as_root tar --numeric-owner --xattrs -C "$rootfs" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "$tarball.tmp" .
    as_root chown "$(id -u):$(id -g)" "$tarball.tmp"
    mv -f "$tarball.tmp" "$tarball"
    as_root rm -rf --one-file-system "$rootfs"
    trap - EXIT
  fi
  say "docker import $tarball as $BASE_LOCAL ($(human "$(stat -c %s "$tarball")"))"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    -m "Debian bookworm minbase, debootstrap by scripts/docker-image.sh" \
    "$tarball" "$BASE_LOCAL" >/dev/null
  flock -u 9
}

# --- build ---------------------------------------------------------------------------------------
start=$(date +%s)
previous="$(docker image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
if [ "$MODE" = registry ] && [ -z "$BINARY" ]; then
  say "docker build -t $TAG (the Dockerfile: cargo build --release in rust:1.95-bookworm)"
  docker build -t "$TAG" -f "$ROOT/Dockerfile" "$ROOT"
else
  if [ -z "$BINARY" ]; then
    say "cargo build --release -p weft"
    (cd "$ROOT" && cargo build --release --locked -p weft)
    BINARY="${CARGO_TARGET_DIR:-$ROOT/target}/release/weft"
  fi
  [ -f "$BINARY" ] && [ -x "$BINARY" ] || die "binary $BINARY missing or not executable"
  if [ "$MODE" = registry ]; then base="$BASE_REGISTRY"; else make_local_base; base="$BASE_LOCAL"; fi
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/weft-image.XXXXXX")"
  trap 'rm -rf "$ctx"' EXIT
  install -m 0644 "$ROOT/deploy/docker/Dockerfile.local" "$ctx/Dockerfile"
  install -m 0755 "$ROOT/deploy/docker/healthcheck.sh" "$ctx/healthcheck.sh"
  # COPY keeps the mode: the image's user must be able to run it. Debug info is stripped (as
  # the Dockerfile's `install -s` does) when `strip` is there.
  if command -v strip >/dev/null 2>&1; then install -m 0755 -s "$BINARY" "$ctx/weft"
  elif [ $((0$(stat -L -c %a "$BINARY") & 05)) -eq 5 ] && ln "$BINARY" "$ctx/weft" 2>/dev/null; then :
  else install -m 0755 "$BINARY" "$ctx/weft"; fi
  say "docker build -t $TAG FROM $base with $BINARY ($(human "$(stat -L -c %s "$BINARY")"))"
  docker build -t "$TAG" --build-arg "BASE=$base" "$ctx"
fi

# The image this tag named before is left untagged: remove it (and its layers) unless a
# container or another tag still uses it, so that rebuilds do not pile up.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$TAG")" ]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
size="$(docker image inspect -f '{{.Size}}' "$TAG")"
say "built $TAG in $(($(date +%s) - start)) s: image size $(human "$size") ($size bytes)"
echo "image $TAG size $size"
