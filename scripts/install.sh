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
)
missing=()
for bin in "${!APT_PACKAGES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${APT_PACKAGES[$bin]}")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (run as root or install them yourself)"
  else
    log "installing system packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  fi
fi

# uv manages the Python workspace from the lock file.
if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
log "syncing the Python workspace (uv.lock)"
uv sync --frozen --all-packages --quiet
