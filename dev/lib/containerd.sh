#!/usr/bin/env bash
# containerd 2.x for the real node (dev/cluster.sh with K8S_NODE=real). Debian bookworm ships 1.6,
# which lacks the CRI RuntimeConfig call the kubelet asks the cgroup driver with (containerd >= 2.0);
# sid's prebuilt .deb is unpacked into the cache with a private apt state, the way mysql.sh fetches
# MySQL, and never installed system-wide. Its binaries are Go programs linked against libc only (sid
# requires libc6 >= 2.34; bookworm has 2.36), so they run from the cache as they are. runc and the CNI
# plugins are bookworm's packages.
CONTAINERD_SERIES="${CONTAINERD_SERIES:-2}"
CONTAINERD_APT_DIR() { echo "$CACHE_DIR/containerd-apt"; }

# The newest complete unpacked cache of the series, e.g. ~/.cache/payment-pipeline/containerd-2.1.9+ds1-5.
containerd_root() { newest_cache_root containerd-"$CONTAINERD_SERIES"; }

# Fetches sid's current containerd .deb (one package: its dependencies are runc, installed from
# bookworm, and libc) into a new versioned folder, marked complete only at the end.
containerd_fetch() {
  local a; a="$(CONTAINERD_APT_DIR)"
  log "resolving containerd $CONTAINERD_SERIES.x from Debian sid (private apt state in $a)"
  sid_apt_update "$a" || return 1
  local version
  version="$(sid_apt "$a" apt-cache show containerd 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1)"
  case "$version" in
    "$CONTAINERD_SERIES".*) ;;
    *) log "sid serves containerd '${version:-none}', not $CONTAINERD_SERIES.x"; return 1 ;;
  esac
  local target="$CACHE_DIR/containerd-$version"
  if [ -f "$target/.complete" ]; then log "containerd $version is already cached in $target"; return 0; fi
  local tmp="$target.partial"
  rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root"
  (cd "$tmp/debs" && sid_apt "$a" apt-get download "containerd=$version") >"$tmp/download.log" 2>&1 \
    || { log "downloading the containerd deb failed; see $tmp/download.log"; return 1; }
  dpkg-deb -x "$tmp"/debs/containerd_*.deb "$tmp/root" || return 1
  rm -rf "$tmp/debs" "$tmp/root/usr/share/doc" "$tmp/root/usr/share/man"
  "$tmp/root/usr/bin/containerd" --version >/dev/null || { log "the unpacked containerd does not run"; return 1; }
  rm -rf "$target" && mv "$tmp" "$target" && touch "$target/.complete"
  log "containerd $version unpacked into $target"
}

# Offline once filled: a cached build is used as is; CONTAINERD_REFRESH=1 fetches sid's current one
# (and keeps the old cache when that fails).
containerd_install() {
  if [ -n "$(containerd_root)" ] && [ "${CONTAINERD_REFRESH:-0}" != 1 ]; then return 0; fi
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/.containerd.lock"
  flock 8
  if [ -z "$(containerd_root)" ] || [ "${CONTAINERD_REFRESH:-0}" = 1 ]; then
    if ! containerd_fetch; then
      [ -n "$(containerd_root)" ] || die "could not fetch containerd $CONTAINERD_SERIES.x (see the log lines above)"
      log "keeping the cached containerd in $(containerd_root)"
    fi
  fi
  flock -u 8
  exec 8>&-
}
