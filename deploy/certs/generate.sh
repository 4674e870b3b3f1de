#!/bin/sh
# The `certs` service: a CA and a server certificate for MQTT over TLS, made once into the
# certs volume (reference.md §6.11). The broker serves server.crt; nodes receive ca.crt at bind
# (WFM_MQTT_CA_FILE) and trust only it. Does nothing when TLS is off or the files exist and
# still name WFM_MQTT_PUBLIC_HOST. Delete the volume's files to issue new ones.
set -eu
dir=${WFM_CERTS_DIR:-/certs}
host=${WFM_MQTT_PUBLIC_HOST:-}
broker_uid=${WFM_CERTS_BROKER_UID:-1000}   # emqx's user in the emqx/emqx image
log() { echo "certs: $*"; }

case "${WFM_MQTT_TLS_ENABLED:-false}" in
  true | True | TRUE | 1 | yes | on) ;;
  *) log "WFM_MQTT_TLS_ENABLED is off: nothing to do"; exit 0 ;;
esac
if [ -z "$host" ] && [ -n "${WFM_PUBLIC_ORIGIN:-}" ]; then
  host=$(echo "$WFM_PUBLIC_ORIGIN" | sed -E 's#^[a-z]+://##; s#[/:].*$##; s#^\[##; s#\]$##')
fi
[ -n "$host" ] || { log "set WFM_MQTT_PUBLIC_HOST (the name nodes connect to)"; exit 1; }

case "$host" in
  *[!0-9.]*) san="DNS:$host" ;;
  *) san="IP:$host" ;;
esac
case "$host" in *:*) san="IP:$host" ;; esac

mkdir -p "$dir"
cd "$dir"
if [ -s ca.crt ] && [ -s server.crt ] && [ -s server.key ] \
    && openssl x509 -in server.crt -noout -ext subjectAltName 2>/dev/null | grep -q "${san#*:}"; then
  log "certificates for $host exist"
  exit 0
fi

umask 077
if [ ! -s ca.key ] || [ ! -s ca.crt ]; then
  log "creating the CA"
  openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes \
    -keyout ca.key -out ca.crt -subj "/CN=WFM MQTT CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
log "issuing the server certificate for $host"
openssl req -newkey rsa:2048 -sha256 -nodes -keyout server.key -out server.csr -subj "/CN=$host"
printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
  "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -sha256 \
  -extfile server.ext -out server.crt
rm -f server.csr server.ext
# ca.key stays root's; the broker reads its key; everyone may read the certificates.
chmod 0644 ca.crt server.crt
chown "$broker_uid" server.key
chmod 0400 server.key
log "done: $dir/ca.crt (give to nodes), server.crt + server.key (the broker)"
