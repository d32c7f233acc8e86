#!/usr/bin/env bash
# Builds the base images of DigiOne Edge from Debian packages, with no image registry: a rootfs made
# by mmdebstrap from the same Debian mirror the host's apt uses, then `docker import`.
#
#   images/build-base.sh            # both images, each only when missing
#   images/build-base.sh --force    # rebuild both
#
# digione-base:bookworm      the runtime base of the node and relay images: glibc, libgcc and bash
#                            (the HEALTHCHECK probe is a bash /dev/tcp request), extracted without
#                            dpkg or apt, plus /etc/passwd with the unprivileged `digione` user
#                            (uid and gid 10001). About 13 MB.
# digione-debian:bookworm    a plain Debian (minbase: dpkg and apt) with systemd and adduser, for the
#                            test that installs the .deb packages (images/test-debs.sh). Not shipped.
#
# Needs root (or rootless mmdebstrap), mmdebstrap (`apt-get install mmdebstrap`, which the script
# does when it can) and a Docker engine.
set -euo pipefail

force=false
[[ "${1:-}" == "--force" ]] && force=true

BASE_IMAGE=${BASE_IMAGE:-digione-base:bookworm}
TEST_BASE_IMAGE=${TEST_BASE_IMAGE:-digione-debian:bookworm}
SUITE=bookworm
# The host's own mirror (deb822 or one-line sources), so that the images match what apt installs here.
mirror_of_host() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hsE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=${DEBIAN_MIRROR:-$(mirror_of_host)}

if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "== installing mmdebstrap (apt)"
  # A fresh machine may have no package lists yet.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null; }
fi

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

workdir=$(mktemp -d /tmp/digione-base.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

# Files the runtime image needs beside the packages: the digione user (the images run as it) and
# nobody; nsswitch so that glibc resolves names from /etc/hosts and DNS (the relay's name).
write_runtime_etc() {
  local root=$1
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
digione:x:10001:10001:DigiOne Edge:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
digione:x:10001:
EOF
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

if $force || ! have_image "$BASE_IMAGE"; then
  echo "== building $BASE_IMAGE from $MIRROR ($SUITE)"
  start=$(date +%s)
  # extract: the packages (and nothing else) unpacked, no maintainer scripts, no dpkg. mmdebstrap
  # runs no customize hooks for this variant, so the rootfs is finished here: documentation,
  # translations and glibc's charset converters go (nothing uses iconv), the users are written, the
  # loader cache is built (the host's ldconfig, same glibc), and /data is the digione user's.
  rootfs="$workdir/rootfs"
  mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1,bash "$SUITE" "$rootfs" "$MIRROR"
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,bash-completion} \
    "$rootfs"/usr/lib/x86_64-linux-gnu/gconv "$rootfs"/var/lib/dpkg "$rootfs"/var/cache/apt \
    "$rootfs"/var/lib/apt "$rootfs"/var/log/* "$rootfs"/dev/*
  write_runtime_etc "$rootfs"
  /sbin/ldconfig -r "$rootfs"
  mkdir -p "$rootfs"/data "$rootfs"/etc/digione "$rootfs"/usr/local/bin
  # Shell-form commands (docker exec, compose `command:` strings) expect /bin/sh.
  ln -sf bash "$rootfs"/bin/sh
  chown 10001:10001 "$rootfs"/data
  chmod 1777 "$rootfs"/tmp
  tar --numeric-owner -C "$rootfs" -cf "$workdir/rootfs.tar" .
  docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'USER 10001:10001' \
    --change 'CMD ["/bin/bash"]' \
    --message "DigiOne Edge runtime base: Debian $SUITE glibc, libgcc, bash (mmdebstrap from $MIRROR)" \
    "$workdir/rootfs.tar" "$BASE_IMAGE" >/dev/null
  echo "   $BASE_IMAGE built in $(($(date +%s) - start)) s"
else
  echo "== $BASE_IMAGE exists (images/build-base.sh --force rebuilds it)"
fi

if $force || ! have_image "$TEST_BASE_IMAGE"; then
  echo "== building $TEST_BASE_IMAGE from $MIRROR ($SUITE)"
  start=$(date +%s)
  mmdebstrap --quiet --variant=minbase --include=systemd,adduser \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$SUITE" "$workdir/debian.tar" "$MIRROR"
  docker import --change 'CMD ["/bin/bash"]' \
    --message "Debian $SUITE minbase with systemd, for the DigiOne Edge package test" \
    "$workdir/debian.tar" "$TEST_BASE_IMAGE" >/dev/null
  echo "   $TEST_BASE_IMAGE built in $(($(date +%s) - start)) s"
else
  echo "== $TEST_BASE_IMAGE exists"
fi
