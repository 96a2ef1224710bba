#!/usr/bin/env bash
# stripe-mock (Stripe's official mock of its API, github.com/stripe/stripe-mock) for the Stripe
# adapter's tests and for trying PAYMENT_PROVIDER=stripe locally. Stack component "stripe"
# (STACK_COMPONENTS="... stripe"); sourced by dev/stack.sh after common.sh and profile.sh.
#
#   stripe_install  build the pinned version from the Go module proxy into
#                   $CACHE_DIR/stripe-mock-<version>/ (once, flock-protected; offline afterwards), with
#                   a copy of its bundled fixtures (fixtures3.json) for suites that derive their own
#   stripe_start    start it on 127.0.0.1:$STRIPE_MOCK_PORT (HTTP only); STRIPE_MOCK_FIXTURES picks
#                   another fixtures file (stripe-mock's responses are its fixtures, reflected params)
#   stripe_stop / stripe_status / stripe_env (STRIPE_API_BASE, STRIPE_SECRET_KEY, STRIPE_MOCK_FIXTURES)
#
# stripe-mock is stateless: it validates requests against Stripe's OpenAPI spec and answers fixtures.

STRIPE_MOCK_MODULE=github.com/stripe/stripe-mock
STRIPE_MOCK_VERSION=v0.203.0

stripe_home() { echo "$CACHE_DIR/stripe-mock-$STRIPE_MOCK_VERSION"; }
_stripe_installed() { [ -x "$(stripe_home)/bin/stripe-mock" ] && [ -s "$(stripe_home)/fixtures3.json" ]; }

stripe_install() {
  _stripe_installed && return 0
  local home; home="$(stripe_home)"
  mkdir -p "$home"
  (
    # One build at a time per version (other checkouts on this machine share the cache).
    flock -w 900 9 || die "timed out waiting for another stripe-mock build ($home/.lock)"
    _stripe_installed && exit 0
    local go_bin tmp start dir
    go_bin="$(find_go)"
    tmp="$(mktemp -d "$home/tmp.XXXXXX")"
    start=$(date +%s)
    log "building stripe-mock $STRIPE_MOCK_VERSION from the Go module proxy"
    if ! GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS="-buildvcs=false" GOWORK=off nice -n 10 \
        "$go_bin" install -trimpath -ldflags "-s -w -X main.version=$STRIPE_MOCK_VERSION" \
        "$STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION" >&2; then
      rm -rf "$tmp"; die "building stripe-mock $STRIPE_MOCK_VERSION failed"
    fi
    dir="$(GOWORK=off "$go_bin" mod download -json "$STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -f "$dir/embedded/openapi/fixtures3.json" ] || { rm -rf "$tmp"; die "no fixtures3.json in the stripe-mock module ($dir)"; }
    cp "$dir/embedded/openapi/fixtures3.json" "$tmp/fixtures3.json" && chmod 644 "$tmp/fixtures3.json"
    mkdir -p "$home/bin"
    mv -f "$tmp/fixtures3.json" "$home/fixtures3.json"
    mv -f "$tmp/stripe-mock" "$home/bin/stripe-mock"
    rm -rf "$tmp"
    log "built stripe-mock $STRIPE_MOCK_VERSION in $(( $(date +%s) - start ))s ($home)"
  ) 9>"$home/.lock" || exit 1
}

_stripe_fixtures() { echo "${STRIPE_MOCK_FIXTURES:-$(stripe_home)/fixtures3.json}"; }

stripe_ready() { curl -fsS -o /dev/null --max-time 2 -H 'Authorization: Bearer sk_test_123' "http://127.0.0.1:$STRIPE_MOCK_PORT/v1/balance"; }

stripe_start() {
  if is_running stripe; then log "stripe-mock is already running (pid $(running_pid stripe))"; return 0; fi
  _stripe_installed || stripe_install
  require_free_port stripe-mock "$STRIPE_MOCK_PORT" STRIPE_MOCK_PORT
  local fixtures; fixtures="$(_stripe_fixtures)"
  # HTTPS is on unless given an address of its own (stripe-mock would bind *:12112): a free loopback port.
  [ -f "$fixtures" ] || die "STRIPE_MOCK_FIXTURES=$fixtures does not exist"
  log "starting stripe-mock on 127.0.0.1:$STRIPE_MOCK_PORT"
  start_and_wait stripe "$STACK_DIR/logs/stripe-mock.log" 30 stripe_ready -- "$(stripe_home)/bin/stripe-mock" \
    -http-addr "127.0.0.1:$STRIPE_MOCK_PORT" -https-addr 127.0.0.1:0 -fixtures "$fixtures"
}

stripe_stop() { stop_daemon stripe 10; }

stripe_status() {
  if is_running stripe; then echo "stripe: running (pid $(running_pid stripe)) on 127.0.0.1:$STRIPE_MOCK_PORT"; else echo "stripe: stopped"; fi
}

stripe_env() {
  echo "STRIPE_API_BASE=http://127.0.0.1:$STRIPE_MOCK_PORT"
  # stripe-mock accepts any test-mode looking key.
  echo "STRIPE_SECRET_KEY=sk_test_123"
  echo "STRIPE_MOCK_FIXTURES=$(_stripe_fixtures)"
}
