#!/bin/sh
# coturn's start in the compose stack. TURN over TLS (5349/tcp, for networks that let only
# HTTPS-like traffic out) uses the certificate Caddy holds for FEDERATION_DOMAIN, copied where
# turnserver can read it after it drops to nobody; the container starts as root only for that
# copy. Without a certificate yet (Caddy's first minutes), coturn serves UDP and TCP on 3478
# and says so; `docker compose restart coturn` then picks it up, as it picks up a renewal.
# CADDY_STORAGE and TURN_TLS_DIR exist for tests/united/test_deploy.py.
set -eu
domain="${FEDERATION_DOMAIN:?set FEDERATION_DOMAIN}"
storage="${CADDY_STORAGE:-/caddy/caddy}"
dir="${TURN_TLS_DIR:-/run/turn-tls}"
cert=$(ls -t "$storage"/certificates/*/"$domain"/"$domain".crt 2>/dev/null | head -n 1 || true)
if [ -n "$cert" ] && [ -f "${cert%.crt}.key" ]; then
  mkdir -p "$dir"
  cp "$cert" "$dir/cert.pem"
  cp "${cert%.crt}.key" "$dir/key.pem"
  chmod 600 "$dir/key.pem"
  chown -R nobody "$dir"
  exec turnserver "$@" --cert="$dir/cert.pem" --pkey="$dir/key.pem" --proc-user=nobody --proc-group=nogroup
fi
echo "coturn: no certificate for $domain in Caddy's storage yet; TURN over TLS is off until coturn restarts" >&2
exec turnserver "$@" --no-tls --proc-user=nobody --proc-group=nogroup
