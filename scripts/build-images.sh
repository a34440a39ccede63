#!/usr/bin/env bash
# Build the local minecs images: every images/<name>/ holding a Dockerfile
# becomes minecs/<name>:latest.
#
# No registry is reachable, so every image starts FROM scratch with the static
# busybox (Debian busybox-static, /bin/busybox; override with MINECS_BUSYBOX),
# which is copied into each build context first.
#
# Each image is labelled minecs.image=1 and minecs.context-hash=<sha256 of the
# build context, the busybox binary and this script>. An image is rebuilt only
# when it is missing or its label differs from the current hash.
#
# usage: scripts/build-images.sh [--force] [NAME...]
#   --force   rebuild even when up to date
#   NAME      only these images (default: all under images/)
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
repo=$PWD
busybox=${MINECS_BUSYBOX:-/bin/busybox}
self=$repo/scripts/build-images.sh

force=0
names=()
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    -h|--help) sed -n '2,16p' "$self" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-images: unknown option $arg" >&2; exit 2 ;;
    *) names+=("$arg") ;;
  esac
done
if [ "${#names[@]}" -eq 0 ]; then
  for df in images/*/Dockerfile; do
    [ -e "$df" ] || continue
    d=${df%/Dockerfile}
    names+=("${d#images/}")
  done
fi
if [ "${#names[@]}" -eq 0 ]; then
  echo "build-images: no images/<name>/Dockerfile found" >&2
  exit 1
fi

if [ ! -f "$busybox" ]; then
  echo "build-images: $busybox not found (install busybox-static, or set MINECS_BUSYBOX)" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-images: $busybox is dynamically linked; FROM scratch needs a static one (busybox-static)" >&2
  exit 1
fi

# Without the buildx plugin a recent CLI errors out unless the legacy builder
# is asked for explicitly.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

common_hash=$( { sha256sum <"$busybox"; sha256sum <"$self"; } | sha256sum | cut -d' ' -f1)

# Hash of everything that goes into an image: file contents, names and the
# executable bit (modes otherwise depend on the checkout's umask).
context_hash() {
  local dir=$1
  (
    cd "$dir"
    echo "$common_hash"
    find . -type f ! -path ./busybox -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
    echo "executables:"
    find . -type f ! -path ./busybox -perm -u+x | LC_ALL=C sort
  ) | sha256sum | cut -d' ' -f1
}

built=0
for name in "${names[@]}"; do
  dir=images/$name
  if [ ! -f "$dir/Dockerfile" ]; then
    echo "build-images: $dir/Dockerfile not found" >&2
    exit 1
  fi
  tag=minecs/$name:latest
  hash=$(context_hash "$dir")
  if [ "$force" -eq 0 ]; then
    current=$(docker image inspect -f '{{ index .Config.Labels "minecs.context-hash" }}' "$tag" 2>/dev/null || true)
    if [ "$current" = "$hash" ]; then
      continue
    fi
  fi
  cmp -s "$busybox" "$dir/busybox" || cp "$busybox" "$dir/busybox"
  start=$(date +%s)
  if ! out=$(docker build \
      --label minecs.image=1 \
      --label "minecs.context-hash=$hash" \
      -t "$tag" "$dir" 2>&1 </dev/null); then
    echo "$out" >&2
    echo "build-images: building $tag failed" >&2
    exit 1
  fi
  echo "built $tag ($(( $(date +%s) - start ))s)"
  built=$((built + 1))
done

if [ "$built" -gt 0 ]; then
  # Drop the previous builds these replaced (dangling, minecs-labelled only).
  docker image prune -f --filter label=minecs.image=1 >/dev/null 2>&1 || true
fi
