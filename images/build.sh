#!/usr/bin/env bash
# Builds the container images digione-node and digione-relay from binaries built on this machine.
#
#   images/build.sh                          # cargo build --release, then both images
#   images/build.sh --profile dev            # the dev profile (target/debug)
#   images/build.sh --bin-dir DIR            # binaries already built in DIR, no cargo (CI: target/debug)
#   images/build.sh --version 0.1.1-rc1 --tag next   # a relabelled image (the update test)
#   BASE_IMAGE=debian:bookworm-slim images/build.sh  # on a machine with a registry
#
# The images are tagged VERSION (from `digione-node --version`) and latest, or only --tag when given,
# and labelled with the version, the source revision (git HEAD, `-dirty` when tracked files differ)
# and the build time. The build context is a staging directory with the stripped binary, the
# health check and the container configuration: nothing is compiled or downloaded inside Docker.
# The default base, digione-base:bookworm, is built by images/build-base.sh when missing.
set -euo pipefail
images_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(dirname "$images_dir")

profile=release
bin_dir=""
tag=""
version=""
base=${BASE_IMAGE:-digione-base:bookworm}
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "images/build.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

if [[ -z $bin_dir ]]; then
  target_dir=${CARGO_TARGET_DIR:-$repo_dir/target}
  case $profile in
    dev | test) bin_dir=$target_dir/debug ;;
    *) bin_dir=$target_dir/$profile ;;
  esac
  echo "== cargo build --profile $profile (digione-node, digione-relay)"
  (cd "$repo_dir" && cargo build --locked --profile "$profile" \
    -p node --bin digione-node -p cloud-relay --bin digione-relay)
fi
for binary in digione-node digione-relay; do
  [[ -x $bin_dir/$binary ]] || { echo "images/build.sh: no $bin_dir/$binary" >&2; exit 1; }
done

if [[ $base == digione-base:* ]] && ! docker image inspect "$base" >/dev/null 2>&1; then
  "$images_dir/build-base.sh"
fi

binary_version=$("$bin_dir/digione-node" --version | awk '{print $2}')
version=${version:-$binary_version}
revision=$(git -C "$repo_dir" rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $revision != unknown ]] && ! git -C "$repo_dir" diff --quiet HEAD -- 2>/dev/null; then
  revision="$revision-dirty"
fi
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tags=("$version" latest)
[[ -n $tag ]] && tags=("$tag")

stage=$(mktemp -d /tmp/digione-images.XXXXXX)
trap 'rm -rf "$stage"' EXIT

for component in node relay; do
  image=digione-$component
  context=$stage/$component
  mkdir -p "$context/data"
  # Debug information out (the dev profile's binaries are mostly that); symbols stay, so a
  # backtrace still names functions.
  strip --strip-debug -o "$context/$image" "$bin_dir/$image"
  cp "$images_dir/common/digione-healthcheck" "$images_dir/$component/Dockerfile" \
    "$images_dir/config/$component.toml" "$context/"
  tag_args=()
  for t in "${tags[@]}"; do tag_args+=(-t "$image:$t"); done
  start=$(date +%s.%N)
  # The output (and the classic builder's deprecation notice) only when the build fails.
  if ! output=$(docker build "${tag_args[@]}" \
    --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
    "$context" 2>&1); then
    echo "$output" >&2
    echo "images/build.sh: building $image failed" >&2
    exit 1
  fi
  size=$(docker image inspect -f '{{.Size}}' "$image:${tags[0]}")
  printf '== %s:%s  %s MB  (version %s, revision %s, built in %.1f s)\n' "$image" "${tags[0]}" \
    "$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')" "$version" "$revision" \
    "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
done

# The images these tags pointed to before, now untagged, go (only ours, by their title label).
for component in node relay; do
  docker image ls -q --filter dangling=true \
    --filter "label=org.opencontainers.image.title=digione-$component" |
    xargs -r docker image rm >/dev/null 2>&1 || true
done
