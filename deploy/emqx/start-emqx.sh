#!/bin/sh
# EMQX in compose (reference.md §6.11): render etc/base.hocon from base.hocon (+ tls.hocon when
# WFM_MQTT_TLS_ENABLED=true), write the API key bootstrap file, then start EMQX through the
# image's entrypoint. Secrets come from the environment and only land in files readable by emqx.
set -eu
here=$(cd "$(dirname "$0")" && pwd)   # /opt/emqx/wfm in the container
home=${EMQX_HOME:-/opt/emqx}
die() { echo "start-emqx: $*" >&2; exit 1; }

: "${WFM_EMQX_AUTHZ_URL:=http://emqx-sync:8002/api/internal/emqx/authz}"
[ -n "${WFM_EMQX_AUTHZ_SHARED_KEY:-}" ] || die "WFM_EMQX_AUTHZ_SHARED_KEY is not set"
if [ -z "${WFM_EMQX_USERNAME:-}" ] || [ -z "${WFM_EMQX_PASSWORD:-}" ]; then
  die "WFM_EMQX_USERNAME and WFM_EMQX_PASSWORD must be set"
fi
for value in "$WFM_EMQX_PASSWORD" "$WFM_EMQX_AUTHZ_SHARED_KEY" "${EMQX_NODE__COOKIE:-}"; do
  [ "$value" != change-me ] || die "replace every change-me in .env with a secret of its own"
done
case "$WFM_EMQX_USERNAME" in *[!A-Za-z0-9_-]*) die "WFM_EMQX_USERNAME: letters, digits, _ and - only" ;; esac
case "$WFM_EMQX_AUTHZ_SHARED_KEY$WFM_EMQX_AUTHZ_URL" in
  *'"'* | *'\'*) die "the authz URL and key must not contain '\"' or '\\'" ;;
esac
sed_escape() { printf '%s' "$1" | sed 's/[&|]/\\&/g'; }

umask 077
conf=$home/etc/base.hocon
sed -e "s|__WFM_EMQX_AUTHZ_URL__|$(sed_escape "$WFM_EMQX_AUTHZ_URL")|" \
    -e "s|__WFM_EMQX_AUTHZ_SHARED_KEY__|$(sed_escape "$WFM_EMQX_AUTHZ_SHARED_KEY")|" \
    "$here/base.hocon" > "$conf.tmp"
case "${WFM_MQTT_TLS_ENABLED:-false}" in
  true | True | TRUE | 1 | yes | on)
    for f in ca.crt server.crt server.key; do
      [ -s "$home/etc/wfm-certs/$f" ] || die "TLS is on but wfm-certs/$f is missing (the certs service makes it)"
    done
    cat "$here/tls.hocon" >> "$conf.tmp"
    echo "start-emqx: MQTT over TLS on 8883" ;;
esac
mv "$conf.tmp" "$conf"

# key:secret:role — the key emqx-sync authenticates with (WFM_EMQX_USERNAME / WFM_EMQX_PASSWORD).
mkdir -p "$home/data"
printf '%s:%s:administrator\n' "$WFM_EMQX_USERNAME" "$WFM_EMQX_PASSWORD" \
  > "$home/data/wfm-api-key.bootstrap"

exec "${WFM_EMQX_ENTRYPOINT:-/usr/bin/docker-entrypoint.sh}" "$home/bin/emqx" foreground
