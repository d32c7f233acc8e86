#!/usr/bin/env bash
# Measures the node's memory allocators side by side: builds `node_load` once per allocator (the
# node crate's features, see node/src/allocator.rs, passed through by school-fixtures), runs each
# build with the same arguments one after another, and prints each run's JSON summary and then one table.
#
#   node/compare-allocators.sh [--profile release|dev] [node_load arguments...]
#
# Without node_load arguments it runs the full benchmark (`--pupils 1000`, each run about four
# minutes with the 60 s settle). The binaries are copied to a temporary directory, which is removed
# at the end; the default allocator is built last, so that the target directory ends with the
# default build as `cargo build` would leave it.
#
# Two builds also run a second time, tuned through the environment: the system allocator with glibc
# tuned through GLIBC_TUNABLES (a fixed mmap threshold, so that large freed blocks such as a
# password hash's 19 MiB go back to the system at once, and two arenas; glibc can be tuned only
# from outside the process, since the workspace forbids the unsafe code `mallopt` would need), and
# jemalloc with its own default decay of ten seconds instead of the one second that
# .cargo/config.toml compiles into it. node_load's node is its child process and inherits both.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [ "${1:-}" = "--profile" ]; then
  profile=${2:?--profile needs release or dev}
  shift 2
fi
case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "unknown profile $profile (release or dev)" >&2; exit 2 ;;
esac
if [ "$#" -eq 0 ]; then
  set -- --pupils 1000
fi
target_dir="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d /tmp/digione-allocators.XXXXXX)
trap 'rm -rf "$work"' EXIT

# name, then the cargo feature arguments; the default allocator (jemalloc) last.
builds=(
  "system|--no-default-features"
  "mimalloc|--no-default-features --features mimalloc"
  "jemalloc|"
)
for build in "${builds[@]}"; do
  name=${build%%|*}
  features=${build#*|}
  echo "== building node_load with $name ($profile)" >&2
  # shellcheck disable=SC2086 # the feature arguments are words on purpose
  cargo build --locked --profile "$profile" -p school-fixtures --bin node_load $features >&2
  cp "$target_dir/$profile_dir/node_load" "$work/node_load-$name"
done

# label | build | one environment variable for the run (NAME=value), or nothing.
glibc_tuned="glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2"
runs=(
  "system|system|"
  "system, GLIBC_TUNABLES=$glibc_tuned|system|GLIBC_TUNABLES=$glibc_tuned"
  "jemalloc|jemalloc|"
  "jemalloc, dirty_decay_ms:10000 (its own default)|jemalloc|_RJEM_MALLOC_CONF=dirty_decay_ms:10000"
  "mimalloc|mimalloc|"
)
index=0
for run in "${runs[@]}"; do
  IFS='|' read -r label binary variable <<<"$run"
  echo "== running node_load with $label: $*" >&2
  if [ -n "$variable" ]; then
    env "$variable" "$work/node_load-$binary" "$@" >"$work/run-$index.json"
  else
    "$work/node_load-$binary" "$@" >"$work/run-$index.json"
  fi
  printf '%s\n' "$label" >"$work/run-$index.label"
  index=$((index + 1))
done

python3 - "$work" "$index" <<'EOF'
import json
import sys

work, count = sys.argv[1], int(sys.argv[2])
rows = []
for index in range(count):
    with open(f"{work}/run-{index}.json") as file:
        report = json.load(file)
    with open(f"{work}/run-{index}.label") as file:
        label = file.read().strip()
    rows.append({
        "allocator": label,
        "idle_mb": report["node_resident_bytes_idle"] / 1e6,
        "after_load_mb": report["node_resident_bytes_after_load"] / 1e6,
        "settle_secs": report["settle_secs"],
        "after_settling_mb": report["node_resident_bytes_after_settling"] / 1e6,
        "writes_per_sec": report["durable_writes"]["writes_per_sec"],
        "write_p99_ms": report["durable_writes"]["latency"]["p99_ms"],
        "reads_per_sec": report["reads"]["requests_per_sec"],
        "read_p99_ms": report["reads"]["latency"]["p99_ms"],
        "bell_at_once_secs": report["bell_at_once"]["all_done_secs"],
    })
print(json.dumps(rows, indent=2))
header = ("allocator", "idle MB", "after load MB", "settled MB", "writes/s", "reads/s", "read p99 ms")
print()
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for row in rows:
    print(
        f"| {row['allocator']} | {row['idle_mb']:.1f} | {row['after_load_mb']:.1f} "
        f"| {row['after_settling_mb']:.1f} (after {row['settle_secs']} s) | {row['writes_per_sec']:.0f} "
        f"| {row['reads_per_sec']:.0f} | {row['read_p99_ms']:.1f} |"
    )
EOF
