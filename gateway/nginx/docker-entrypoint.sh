#!/bin/sh
# The gateway container: render nginx.conf for the compose network, then run nginx in front.
set -eu
export WFM_GATEWAY_RESOLVER="${WFM_GATEWAY_RESOLVER:-127.0.0.11}"
export WFM_GATEWAY_MQTT_LISTEN="${WFM_GATEWAY_MQTT_LISTEN-1883}"
export WFM_GATEWAY_MQTT_UPSTREAM="${WFM_GATEWAY_MQTT_UPSTREAM:-broker:1883}"
export WFM_GATEWAY_MQTT_TLS_LISTEN="${WFM_GATEWAY_MQTT_TLS_LISTEN-8883}"
export WFM_GATEWAY_MQTT_TLS_UPSTREAM="${WFM_GATEWAY_MQTT_TLS_UPSTREAM:-broker:8883}"
/etc/wfm-gateway/render.sh /tmp/wfm-gateway/nginx.conf
exec nginx -c /tmp/wfm-gateway/nginx.conf -e stderr -g 'daemon off;' "$@"
