#!/usr/bin/env bash
# A self-signed CA and server certificates for the local stack's TLS profiles (Kafka SASL_SSL,
# MariaDB and Redis over TLS). Sourced by dev/stack.sh after common.sh; never executed.
# Files live beside the server's data (kept across up/down, so clients' CA settings stay valid).
#
#   tls_ca DIR                       DIR/ca.crt, DIR/ca.key (once)
#   tls_server_cert DIR NAME [SANS]  DIR/NAME.crt, DIR/NAME.key (PKCS#8), signed by DIR/ca; SANS
#                                    default to 127.0.0.1 and localhost (clients verify the host name)
#   tls_client_cert DIR NAME CN      DIR/NAME.crt, DIR/NAME.key for a client certificate

tls_ca() {
  local dir="$1"
  [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ] && return 0
  mkdir -p "$dir"; chmod 700 "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=payment-pipeline-local-tls-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null || die "could not create a CA in $dir"
  chmod 600 "$dir/ca.key"
}

# _tls_issue DIR NAME SUBJECT EKU [SANS]
_tls_issue() {
  local dir="$1" name="$2" subj="$3" eku="$4" san="${5:-}"
  [ -f "$dir/$name.crt" ] && [ -f "$dir/$name.key" ] && return 0
  tls_ca "$dir"
  local ext="$dir/$name.ext"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "$subj" 2>/dev/null \
    && openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 3650 -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null \
    || die "could not issue the $name certificate in $dir"
  rm -f "$dir/$name.csr" "$ext"
  chmod 600 "$dir/$name.key"
}

tls_server_cert() { _tls_issue "$1" "$2" "/CN=$2" serverAuth "${3:-IP:127.0.0.1,DNS:localhost}"; }
tls_client_cert() { _tls_issue "$1" "$2" "/CN=$3" clientAuth; }
