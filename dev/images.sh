#!/usr/bin/env bash
# The Dockerfile's two targets (`runtime`, `operator`) as OCI images, built without Docker, a daemon,
# a registry or an image pull: Debian packages for the base, the pinned Node (npm package `node`), the
# production dependencies of the image's own npm workspace (`runtime` or `operator`) from the lock
# file, the sources. See dev/cluster/README.md "Images without Docker".
#
#   dev/images.sh build   # build what is missing (a warm rebuild with unchanged inputs is a no-op)
#   dev/images.sh list    # the built images, their digests and sizes
#   dev/images.sh clean   # delete the checkout's images and the cached base and dependency layers
#
# Output (per checkout, built from its sources): .local/images/oci (one OCI layout, tags `runtime`
# and `operator`) and .local/images/<name>-<version>.oci.tar (an OCI archive per image, named
# docker.io/library/<name>:<version>, for `ctr images import`). Cached per machine, shared between
# checkouts: the downloaded .debs and the base + per-workspace production-dependency layouts in
# ${PAYMENTS_CACHE_DIR:-~/.cache/payment-pipeline}/images, keyed by a hash of what they are made from.
set -euo pipefail
STACK_NAME=images
# shellcheck source=lib/common.sh
. "$(dirname "$0")/lib/common.sh"
cd "$ROOT_DIR"
export PATH="$ROOT_DIR/node_modules/.bin:$PATH"

OUT_DIR="$ROOT_DIR/.local/images"
IMAGE_CACHE="$CACHE_DIR/images"
VERSION="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)"
RUNTIME_NAME=payment-pipeline
OPERATOR_NAME=payment-pipeline-operator
# What node:24-bookworm-slim gives a Node binary, and no more: the C/C++ runtime it links against
# (`ldd node_modules/node/bin/node`), CA certificates, time zones, /etc/services and /etc/protocols.
BASE_PACKAGES=(libc6 libgcc-s1 libstdc++6 gcc-12-base ca-certificates tzdata netbase)
# Reproducible layers: fixed owner and order, timestamps clamped (the image digest then depends only
# on the content).
TAR_OPTS=(--sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --clamp-mtime --format=posix
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
# Bumped when the way an image is assembled changes (part of every cache key).
FORMAT=1
# npm workspaces, one per image: `runtime` (api, producer, consumer) and `operator`.
WORKSPACES=(runtime operator)

sha() { sha256sum | cut -c1-16; }

tools() {
  local need=()
  command -v umoci >/dev/null || need+=(umoci)
  command -v skopeo >/dev/null || need+=(skopeo)
  command -v runc >/dev/null || need+=(runc) # the images test runs them with runc
  [ "${#need[@]}" -eq 0 ] || apt_install "${need[@]}"
}

# The exact .debs (name_version_arch.deb and SHA256) apt would download, without downloading. apt
# takes seconds to answer, so the answer is kept until apt's package lists or sources change.
deb_uris() {
  local lists memo out
  lists="$(stat -c '%n %s %Y' /etc/apt/sources.list /etc/apt/sources.list.d/* /var/lib/apt/lists/*Packages* \
    2>/dev/null | sha)"
  memo="$IMAGE_CACHE/debs/uris-$(printf '%s %s' "$lists" "${BASE_PACKAGES[*]}" | sha)"
  if [ -s "$memo" ]; then cat "$memo"; return 0; fi
  if ! out="$(cd /tmp && apt-get download --print-uris "${BASE_PACKAGES[@]}" 2>/dev/null)" || [ -z "$out" ]; then
    apt-get update -qq >&2
    out="$(cd /tmp && apt-get download --print-uris "${BASE_PACKAGES[@]}")"
  fi
  mkdir -p "$IMAGE_CACHE/debs"
  rm -f "$IMAGE_CACHE"/debs/uris-*
  printf '%s\n' "$out" | sort | tee "$memo"
}

# Base layer: the packages unpacked (no maintainer scripts run), merged /usr as in Debian 12, the
# users of node:24-bookworm-slim (root, node 1000:1000), no shell, no package manager.
build_base() {
  local dir="$1" uris="$2" work debs="$IMAGE_CACHE/debs"
  work="$(mktemp -d "$IMAGE_CACHE/.base.XXXXXX")"
  mkdir -p "$debs" "$work/rootfs"
  local missing=0 file
  while read -r _uri file _rest; do [ -s "$debs/${file//\'/}" ] || missing=1; done <<<"$uris"
  if [ "$missing" = 1 ]; then
    log "apt-get download ${BASE_PACKAGES[*]}"
    (cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "${BASE_PACKAGES[@]}" >&2)
    mv "$work"/*.deb "$debs/"
  fi
  local r="$work/rootfs"
  mkdir -p "$r"/usr/{bin,sbin,lib,lib64} "$r"/{etc,tmp,app,home/node,root,usr/local/bin}
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
  while read -r _uri file _rest; do
    dpkg-deb -x "$debs/${file//\'/}" "$r"
  done <<<"$uris"
  # dpkg-deb replaces the /lib and /lib64 links with directories: move their files under /usr again.
  for d in bin sbin lib lib64; do
    if [ ! -L "$r/$d" ]; then cp -a "$r/$d/." "$r/usr/$d/" && rm -rf "${r:?}/$d" && ln -s "usr/$d" "$r/$d"; fi
  done
  rm -rf "$r"/usr/share/{doc,man,info,lintian,bug} "$r"/etc/{cron.daily,logrotate.d}
  # What the packages' maintainer scripts would have made: the CA bundle, the library cache.
  mkdir -p "$r/etc/ssl/certs"
  find "$r/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat >"$r/etc/ssl/certs/ca-certificates.crt"
  ldconfig -r "$r"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
  # Runtimes usually mount their own /etc/hosts; this one resolves localhost when they do not.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
  ln -sf /usr/share/zoneinfo/Etc/UTC "$r/etc/localtime"
  chmod 1777 "$r/tmp"
  chown 1000:1000 "$r/home/node"
  tar "${TAR_OPTS[@]}" -C "$r" -cf "$work/base.tar" .
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:base"
  umoci raw add-layer --image "$work/oci:base" --history.created_by "Debian: ${BASE_PACKAGES[*]}" "$work/base.tar"
  umoci config --image "$work/oci:base" --no-history --os linux --architecture amd64 \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  mv "$work/oci" "$dir"
  rm -rf "$work"
}

# Dependency layers: `npm ci --omit=dev --workspace=<workspace> --include-workspace-root` of the lock
# file in a staging directory (npm's cache makes a second machine-local install offline), as the
# Dockerfile's `deps-<workspace>` stages do: the root's one production dependency, the npm package
# `node` (the Node the lock file pins), and the workspace's own dependencies, so each image ships only
# the packages its component imports. Node gets a layer of its own (byte-identical in both images,
# so a node stores and pulls it once); /usr/local/bin/node points at it, so an image carries one Node.
build_deps() {
  local dir="$1" base="$2" workspace="$3" work w
  work="$(mktemp -d "$IMAGE_CACHE/.deps.XXXXXX")"
  mkdir -p "$work/rootfs/app" "$work/rootfs/usr/local/bin"
  cp package.json package-lock.json "$work/rootfs/app/"
  for w in "${WORKSPACES[@]}"; do mkdir -p "$work/rootfs/app/$w" && cp "$w/package.json" "$work/rootfs/app/$w/"; done
  log "npm ci --omit=dev --workspace=$workspace (staging)"
  (cd "$work/rootfs/app" && NODE_ENV=production npm ci --omit=dev --workspace="$workspace" --include-workspace-root \
    --prefer-offline --no-audit --no-fund --loglevel=error >&2)
  rm -f "$work/rootfs/app/package.json" "$work/rootfs/app/package-lock.json"
  # The workspaces' package.json files come with their sources (the source layers).
  for w in "${WORKSPACES[@]}"; do rm -f "$work/rootfs/app/$w/package.json" && rmdir "$work/rootfs/app/$w" 2>/dev/null || true; done
  [ -x "$work/rootfs/app/node_modules/node/bin/node" ] || die "npm ci --omit=dev installed no node binary"
  ln -s /app/node_modules/node/bin/node "$work/rootfs/usr/local/bin/node"
  tar "${TAR_OPTS[@]}" -C "$work/rootfs" -cf "$work/node.tar" --no-recursion ./app ./app/node_modules ./usr ./usr/local \
    ./usr/local/bin ./usr/local/bin/node --recursion ./app/node_modules/node
  tar "${TAR_OPTS[@]}" -C "$work/rootfs" -cf "$work/deps.tar" --exclude=./app/node_modules/node \
    --exclude=./usr/local/bin/node .
  cp -r "$base" "$work/oci"
  umoci raw add-layer --image "$work/oci:base" --history.created_by "npm package node (the lock file's Node)" \
    "$work/node.tar"
  umoci raw add-layer --image "$work/oci:base" --history.created_by "npm ci --omit=dev --workspace=$workspace" \
    "$work/deps.tar"
  mv "$work/oci" "$dir"
  rm -rf "$work"
}

# A layer of checkout files under /app (what the Dockerfile's COPY lines copy, less .dockerignore's
# `**/*.test.ts`).
source_layer() {
  local out="$1"; shift
  tar "${TAR_OPTS[@]}" --exclude='*.test.ts' --transform='s,^,app/,' -cf "$out" "$@"
}

# Hash of the checkout files an image holds.
files_hash() {
  find "$@" -type f ! -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum | sha
}

build() {
  tools
  mkdir -p "$IMAGE_CACHE" "$OUT_DIR"
  exec 9>"$IMAGE_CACHE/.lock"
  flock 9
  local uris base_key deps_keys=() key w
  uris="$(deb_uris)"
  base_key="$(printf '%s\n%s\n%s\n' "$FORMAT" "$uris" "$(declare -f build_base)" | sha)"
  local manifests=(package.json package-lock.json)
  for w in "${WORKSPACES[@]}"; do manifests+=("$w/package.json"); done
  for w in "${WORKSPACES[@]}"; do
    deps_keys+=("$(cat <(echo "$base_key $w") "${manifests[@]}" <(declare -f build_deps) | sha)")
  done
  key="$(printf '%s %s %s %s\n' "${deps_keys[*]}" "$(files_hash package.json runtime operator)" \
    "$(declare -f build source_layer)" "$VERSION" | sha)"
  if [ "$(cat "$OUT_DIR/.key" 2>/dev/null)" = "$key" ] && [ -f "$OUT_DIR/$RUNTIME_NAME-$VERSION.oci.tar" ] &&
    [ -f "$OUT_DIR/$OPERATOR_NAME-$VERSION.oci.tar" ]; then
    log "images up to date ($key)"
    return 0
  fi
  local base="$IMAGE_CACHE/base-$base_key" deps_runtime="$IMAGE_CACHE/deps-runtime-${deps_keys[0]}"
  local deps_operator="$IMAGE_CACHE/deps-operator-${deps_keys[1]}"
  local t0=$SECONDS
  [ -d "$base" ] || { log "base layer from Debian packages"; build_base "$base" "$uris"; log "base layer: $((SECONDS - t0)) s"; }
  t0=$SECONDS
  [ -d "$deps_runtime" ] || { build_deps "$deps_runtime" "$base" runtime; log "runtime dependency layer: $((SECONDS - t0)) s"; }
  t0=$SECONDS
  [ -d "$deps_operator" ] || { build_deps "$deps_operator" "$base" operator; log "operator dependency layer: $((SECONDS - t0)) s"; }
  t0=$SECONDS

  local work
  work="$(mktemp -d "$OUT_DIR/.build.XXXXXX")"
  cp -r "$deps_runtime" "$work/oci"
  local L="$work/oci"
  umoci tag --image "$L:base" runtime
  umoci rm --image "$L:base"
  # The operator's dependency image into the same layout (the base and node layers are the same blobs).
  skopeo copy -q "oci:$deps_operator:base" "oci:$L:operator"
  source_layer "$work/runtime.tar" package.json runtime
  source_layer "$work/operator.tar" operator
  # `base` stage: sources, environment, workdir, user (on each target's own dependency stage).
  for tag in runtime operator; do
    umoci raw add-layer --image "$L:$tag" --history.created_by "COPY package.json runtime" "$work/runtime.tar"
    umoci config --image "$L:$tag" --no-history --config.workingdir /app --config.user 1000:1000 \
      --config.env NODE_ENV=production --config.env NODE_OPTIONS=--enable-source-maps
  done
  # `runtime` target: api, producer, consumer (the operator picks one with the container command).
  umoci config --image "$L:runtime" --no-history --config.cmd node --config.cmd runtime/api/main.ts \
    --config.exposedports 8080/tcp --config.exposedports 9464/tcp \
    --config.label "org.opencontainers.image.version=$VERSION"
  # `operator` target.
  umoci raw add-layer --image "$L:operator" --history.created_by "COPY operator" "$work/operator.tar"
  umoci config --image "$L:operator" --no-history --config.cmd node --config.cmd operator/main.ts \
    --config.exposedports 9470/tcp --config.label "org.opencontainers.image.version=$VERSION"
  umoci gc --layout "$L"
  skopeo copy -q "oci:$L:runtime" "oci-archive:$work/$RUNTIME_NAME-$VERSION.oci.tar:docker.io/library/$RUNTIME_NAME:$VERSION"
  skopeo copy -q "oci:$L:operator" "oci-archive:$work/$OPERATOR_NAME-$VERSION.oci.tar:docker.io/library/$OPERATOR_NAME:$VERSION"
  rm -rf "$OUT_DIR/oci" "$OUT_DIR"/*.oci.tar
  mv "$L" "$OUT_DIR/oci"
  mv "$work"/*.oci.tar "$OUT_DIR/"
  rm -rf "$work"
  echo "$key" >"$OUT_DIR/.key"
  log "built $RUNTIME_NAME:$VERSION and $OPERATOR_NAME:$VERSION ($key): source layers and archives $((SECONDS - t0)) s"
  list
}

list() {
  [ -d "$OUT_DIR/oci" ] || { echo "no images (dev/images.sh build)"; return 0; }
  node -e '
    const fs = require("node:fs"), dir = process.argv[1];
    const idx = JSON.parse(fs.readFileSync(dir + "/index.json"));
    const blob = (d) => JSON.parse(fs.readFileSync(dir + "/blobs/" + d.replace(":", "/")));
    for (const m of idx.manifests) {
      const man = blob(m.digest), cfg = blob(man.config.digest).config;
      const packed = man.layers.reduce((a, l) => a + l.size, 0);
      console.log(m.annotations["org.opencontainers.image.ref.name"].padEnd(9), m.digest.slice(0, 19),
        man.layers.length + " layers", (packed / 1e6).toFixed(1) + " MB compressed", JSON.stringify(cfg.Cmd));
    }' "$OUT_DIR/oci"
  local f
  for f in "$OUT_DIR"/*.oci.tar; do printf '%s %s\n' "$f" "$(du -h --apparent-size "$f" | cut -f1)"; done
}

clean() {
  rm -rf "$OUT_DIR"
  rm -rf "$IMAGE_CACHE"/base-* "$IMAGE_CACHE"/deps-* "$IMAGE_CACHE"/.base.* "$IMAGE_CACHE"/.deps.*
  log "removed .local/images and the cached base and dependency layers (the .debs stay in $IMAGE_CACHE/debs)"
}

case "${1:-}" in
  build) build ;;
  list) list ;;
  clean) clean ;;
  *) echo "usage: $0 build|list|clean" >&2; exit 64 ;;
esac
