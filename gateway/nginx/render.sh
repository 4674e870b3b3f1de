#!/bin/sh
# Render the gateway's nginx.conf from nginx.conf.template (next to this script).
#
#   gateway/nginx/render.sh OUTPUT        write OUTPUT (and create WFM_GATEWAY_RUNTIME_DIR)
#
# The gateway image and `make up` both use it; only the variables differ (defaults: compose).
#   WFM_GATEWAY_LISTEN                  HTTP listen address or port (8080)
#   WFM_GATEWAY_API_UPSTREAM            host:port of the API (api:8000)
#   WFM_GATEWAY_MCP_UPSTREAM            host:port of the MCP service (mcp:8001)
#   WFM_GATEWAY_CONSOLE_ROOT            the built console (/usr/share/wfm/console)
#   WFM_GATEWAY_CLIENT_MAX_BODY_SIZE    request body limit (512m)
#   WFM_GATEWAY_CONTENT_SECURITY_POLICY the console's CSP (a strict same-origin default)
#   WFM_GATEWAY_RESOLVER                DNS server for upstream names (unset: none; the image
#                                       sets Docker's 127.0.0.11)
#   WFM_GATEWAY_TRUSTED_PROXIES         comma-separated addresses/CIDRs of reverse proxies in
#                                       front whose X-Forwarded-For names the client (unset)
#   WFM_GATEWAY_MQTT_LISTEN / WFM_GATEWAY_MQTT_UPSTREAM            MQTT passthrough (unset: none)
#   WFM_GATEWAY_MQTT_TLS_LISTEN / WFM_GATEWAY_MQTT_TLS_UPSTREAM    MQTT over TLS passthrough
#   WFM_GATEWAY_RUNTIME_DIR             pid file and temp files (/tmp/wfm-gateway)
#   WFM_GATEWAY_ACCESS_LOG / WFM_GATEWAY_ERROR_LOG                 (/dev/stdout / stderr)
#   WFM_GATEWAY_WORKER_USER             `user` of the worker processes (unset: nginx's default)
#   WFM_GATEWAY_NGINX                   the nginx binary, to find its modules (nginx)
set -eu

die() { echo "render.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: render.sh OUTPUT"
OUTPUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
NGINX=${WFM_GATEWAY_NGINX:-nginx}

: "${WFM_GATEWAY_LISTEN:=8080}"
: "${WFM_GATEWAY_API_UPSTREAM:=api:8000}"
: "${WFM_GATEWAY_MCP_UPSTREAM:=mcp:8001}"
: "${WFM_GATEWAY_CONSOLE_ROOT:=/usr/share/wfm/console}"
: "${WFM_GATEWAY_CLIENT_MAX_BODY_SIZE:=512m}"
: "${WFM_GATEWAY_CONTENT_SECURITY_POLICY:=default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'}"
: "${WFM_GATEWAY_RESOLVER:=}"
: "${WFM_GATEWAY_TRUSTED_PROXIES:=}"
: "${WFM_GATEWAY_MQTT_LISTEN:=}"
: "${WFM_GATEWAY_MQTT_UPSTREAM:=}"
: "${WFM_GATEWAY_MQTT_TLS_LISTEN:=}"
: "${WFM_GATEWAY_MQTT_TLS_UPSTREAM:=}"
: "${WFM_GATEWAY_RUNTIME_DIR:=/tmp/wfm-gateway}"
: "${WFM_GATEWAY_ACCESS_LOG:=/dev/stdout}"
: "${WFM_GATEWAY_ERROR_LOG:=stderr}"
: "${WFM_GATEWAY_WORKER_USER:=}"

case "$WFM_GATEWAY_CONTENT_SECURITY_POLICY" in *'"'*) die "the CSP must not contain '\"'" ;; esac
case "$WFM_GATEWAY_CLIENT_MAX_BODY_SIZE" in
  *[!0-9kKmMgG]* | "") die "WFM_GATEWAY_CLIENT_MAX_BODY_SIZE must be a size like 512m" ;;
esac

NL='
'
nginx_option() {  # the value of one ./configure option of the nginx binary (empty if absent)
  "$NGINX" -V 2>&1 | tr ' ' '\n' | sed -n "s|^--$1=||p" | head -n 1
}

# Main context: the worker user, and the stream module where nginx builds it as a module
# (Debian's libnginx-mod-stream; the official image has it built in).
GATEWAY_MAIN=""
if [ -n "$WFM_GATEWAY_WORKER_USER" ]; then
  GATEWAY_MAIN="user $WFM_GATEWAY_WORKER_USER;"
fi
if [ -n "$WFM_GATEWAY_MQTT_LISTEN$WFM_GATEWAY_MQTT_TLS_LISTEN" ] \
    && "$NGINX" -V 2>&1 | grep -q -- '--with-stream=dynamic'; then
  module="$(nginx_option modules-path)/ngx_stream_module.so"
  [ -f "$module" ] || die "$module is missing (Debian: apt-get install libnginx-mod-stream)"
  GATEWAY_MAIN="${GATEWAY_MAIN}${NL}load_module $module;"
fi

GATEWAY_MIME_TYPES="$(dirname "$(nginx_option conf-path)")/mime.types"
[ -f "$GATEWAY_MIME_TYPES" ] || GATEWAY_MIME_TYPES=/etc/nginx/mime.types

GATEWAY_RESOLVER=""
STREAM_RESOLVER=""
GATEWAY_UPSTREAM_RESOLVE=""
if [ -n "$WFM_GATEWAY_RESOLVER" ]; then
  GATEWAY_RESOLVER="    resolver $WFM_GATEWAY_RESOLVER valid=10s ipv6=off;"
  STREAM_RESOLVER="    resolver $WFM_GATEWAY_RESOLVER valid=10s ipv6=off;${NL}"
  # `server … resolve` in an upstream block: open-source nginx since 1.27.3.
  version=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/\([0-9][0-9.]*\).*|\1|p')
  major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}; patch=${rest#*.}; patch=${patch%%.*}
  if [ -n "$version" ] && [ "$((major * 1000000 + minor * 1000 + patch))" -ge 1027003 ]; then
    GATEWAY_UPSTREAM_RESOLVE=" resolve"
  fi
fi

# A reverse proxy in front (HTTPS): the client address comes from its X-Forwarded-For.
GATEWAY_REALIP=""
if [ -n "$WFM_GATEWAY_TRUSTED_PROXIES" ]; then
  for proxy in $(echo "$WFM_GATEWAY_TRUSTED_PROXIES" | tr ',' ' '); do
    GATEWAY_REALIP="${GATEWAY_REALIP}    set_real_ip_from $proxy;${NL}"
  done
  GATEWAY_REALIP="${GATEWAY_REALIP}    real_ip_header X-Forwarded-For;${NL}    real_ip_recursive on;"
fi

# MQTT passthrough: plain TCP to the broker (TLS ends at the broker, not here).
stream_server() {  # stream_server LISTEN UPSTREAM
  [ -n "$2" ] || die "a stream listen address ($1) needs its upstream"
  cat <<EOF
    server {
        listen $1;
        set \$wfm_broker $2;
        proxy_pass \$wfm_broker;
        proxy_connect_timeout 5s;
        proxy_timeout 1h;
    }
EOF
}
GATEWAY_STREAM=""
if [ -n "$WFM_GATEWAY_MQTT_LISTEN$WFM_GATEWAY_MQTT_TLS_LISTEN" ]; then
  servers=""
  [ -z "$WFM_GATEWAY_MQTT_LISTEN" ] \
    || servers="$(stream_server "$WFM_GATEWAY_MQTT_LISTEN" "$WFM_GATEWAY_MQTT_UPSTREAM")"
  [ -z "$WFM_GATEWAY_MQTT_TLS_LISTEN" ] \
    || servers="${servers}${NL}$(stream_server "$WFM_GATEWAY_MQTT_TLS_LISTEN" "$WFM_GATEWAY_MQTT_TLS_UPSTREAM")"
  GATEWAY_STREAM="
# The public MQTT port(s): nodes reach the broker through here.
stream {
${STREAM_RESOLVER}${servers}
}"
fi

export GATEWAY_MAIN GATEWAY_MIME_TYPES GATEWAY_RESOLVER GATEWAY_REALIP GATEWAY_STREAM \
  GATEWAY_UPSTREAM_RESOLVE
export WFM_GATEWAY_LISTEN WFM_GATEWAY_API_UPSTREAM WFM_GATEWAY_MCP_UPSTREAM \
  WFM_GATEWAY_CONSOLE_ROOT WFM_GATEWAY_CLIENT_MAX_BODY_SIZE WFM_GATEWAY_CONTENT_SECURITY_POLICY \
  WFM_GATEWAY_RUNTIME_DIR WFM_GATEWAY_ACCESS_LOG WFM_GATEWAY_ERROR_LOG

mkdir -p "$WFM_GATEWAY_RUNTIME_DIR" "$(dirname "$OUTPUT")"
# Only these names are replaced: nginx's own $variables stay as they are.
# shellcheck disable=SC2016
envsubst '${GATEWAY_MAIN} ${GATEWAY_MIME_TYPES} ${GATEWAY_RESOLVER} ${GATEWAY_REALIP}
  ${GATEWAY_UPSTREAM_RESOLVE}
  ${GATEWAY_STREAM} ${WFM_GATEWAY_LISTEN} ${WFM_GATEWAY_API_UPSTREAM} ${WFM_GATEWAY_MCP_UPSTREAM}
  ${WFM_GATEWAY_CONSOLE_ROOT} ${WFM_GATEWAY_CLIENT_MAX_BODY_SIZE}
  ${WFM_GATEWAY_CONTENT_SECURITY_POLICY} ${WFM_GATEWAY_RUNTIME_DIR} ${WFM_GATEWAY_ACCESS_LOG}
  ${WFM_GATEWAY_ERROR_LOG}' < "$HERE/nginx.conf.template" > "$OUTPUT"
