#!/bin/sh
# The `mosquitto` compose profile: Mosquitto 2 with the dynamic-security plugin instead of EMQX
# (design.md §6). The broker's accounts are a projection of the database: each start begins with
# a fresh dynamic-security file holding only the admin (WFM_MOSQUITTO_ADMIN_USERNAME/PASSWORD),
# and emqx-sync recreates the services' and every node's account as soon as it reconnects.
# Outside the image (tests): WFM_MOSQUITTO_DATA_DIR, WFM_MOSQUITTO_DYNSEC_PLUGIN,
# WFM_BROKER_PORT, WFM_BROKER_BIND.
set -eu
die() { echo "start-mosquitto: $*" >&2; exit 1; }
[ -n "${WFM_MOSQUITTO_ADMIN_PASSWORD:-}" ] || die "WFM_MOSQUITTO_ADMIN_PASSWORD is not set"
[ "$WFM_MOSQUITTO_ADMIN_PASSWORD" != change-me ] || die "replace change-me in .env with a secret"
admin=${WFM_MOSQUITTO_ADMIN_USERNAME:-wfm-admin}
here=$(cd "$(dirname "$0")" && pwd)   # /opt/wfm in the container
dir=${WFM_MOSQUITTO_DATA_DIR:-/mosquitto/data}
mkdir -p "$dir"
rm -f "$dir/dynamic-security.json"
mosquitto_ctrl dynsec init "$dir/dynamic-security.json" "$admin" "$WFM_MOSQUITTO_ADMIN_PASSWORD" >/dev/null
plugin=${WFM_MOSQUITTO_DYNSEC_PLUGIN:-/usr/lib/mosquitto_dynamic_security.so}
listen="${WFM_BROKER_PORT:-1883} ${WFM_BROKER_BIND:-0.0.0.0}"
sed -e "s|/mosquitto/data|$dir|g" -e "s|/usr/lib/mosquitto_dynamic_security.so|$plugin|" \
    -e "s|^listener 1883 0.0.0.0\$|listener $listen|" "$here/mosquitto.conf" > "$dir/mosquitto.conf"
if [ "$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then
  chown -R mosquitto:mosquitto "$dir"   # the broker drops to this user
fi
chmod 700 "$dir"
exec "${WFM_MOSQUITTO_BIN:-mosquitto}" -c "$dir/mosquitto.conf"
