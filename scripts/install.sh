#!/usr/bin/env bash
# Installs what WFM needs on a fresh Debian machine of this kind; does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[install]\033[0m %s\n' "$*"; }

# Debian packages: binary → package.
declare -A APT_PACKAGES=(
  [wg]=wireguard-tools
  [wg-quick]=wireguard-tools
  [wireguard-go]=wireguard-go
  [iptables]=iptables
  [nft]=nftables
  [mosquitto]=mosquitto
  [mosquitto_ctrl]=mosquitto-clients
  [mosquitto_sub]=mosquitto-clients
  [node]=nodejs
  [npm]=npm
  [chromium]=chromium
  [nginx]=nginx
  [envsubst]=gettext-base
  [curl]=curl
)
missing=()
for bin in "${!APT_PACKAGES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${APT_PACKAGES[$bin]}")
done
# The local gateway proxies MQTT in a stream {} block: Debian ships that nginx module separately.
if ! nginx -V 2>&1 | grep -q -- '--with-stream ' && [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
  missing+=(libnginx-mod-stream)
fi
# `docker compose config` validates compose.yaml in the tests (Debian's docker-compose when the
# compose plugin is absent; no Docker engine is needed for that).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
new_nginx=0
command -v nginx >/dev/null 2>&1 || new_nginx=1
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (run as root or install them yourself)"
  else
    log "installing system packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
    # `make up` runs its own nginx as the gateway; the package's system service is not wanted.
    if ((new_nginx)) && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
  fi
fi

# uv manages the Python workspace from the lock file.
if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
log "syncing the Python workspace (uv.lock)"
uv sync --frozen --all-packages --quiet
