#!/usr/bin/env bash
# `make up`: the whole system locally on the embedded default — SQLite in ./data, local Redis, our
# Mosquitto+dynsec instance, and the services (API, emqx-sync, mqtt-ingest) as child processes.
# Ctrl-C stops everything; if one service dies, the others are stopped too.
set -euo pipefail
cd "$(dirname "$0")/.."

export WFM_DATA_DIR="${WFM_DATA_DIR:-./data}"
export WFM_DATABASE="${WFM_DATABASE:-sqlite:///${WFM_DATA_DIR}/wg_free_mesh.db}"
export WFM_REDIS_URL="${WFM_REDIS_URL:-redis://127.0.0.1:6379/0}"
PORT="${WFM_APP_PORT:-8000}"
SYNC_PORT="${WFM_EMQX_SYNC_PORT:-8002}"
INGEST_PORT="${WFM_INGEST_PORT:-8003}"
mkdir -p "$WFM_DATA_DIR"
log() { printf '\033[1;34m[up]\033[0m %s\n' "$*"; }

# Secrets of this installation, generated once (never the shipped placeholders).
SECRETS="$WFM_DATA_DIR/secrets.env"
if [ ! -s "$SECRETS" ]; then
  log "generating local secrets in $SECRETS"
  rand() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n'; }
  (umask 077 && cat > "$SECRETS" <<EOF
WFM_SECRET_KEY=$(rand)
WFM_MOSQUITTO_ADMIN_PASSWORD=$(rand)
WFM_MQTT_PASSWORD=$(rand)
WFM_EMQX_AUTHZ_SHARED_KEY=$(rand)
EOF
  )
fi
set -a
# shellcheck disable=SC1090
. "$SECRETS"
set +a

# The broker: our Mosquitto with dynamic security, on its own port next to any system broker.
export WFM_BROKER_DIR="${WFM_BROKER_DIR:-$WFM_DATA_DIR/mosquitto}"
export WFM_BROKER_PORT="${WFM_BROKER_PORT:-1884}"
export WFM_MOSQUITTO_ADMIN_USERNAME="${WFM_MOSQUITTO_ADMIN_USERNAME:-wfm-admin}"
export WFM_MQTT_BROKER=mosquitto
export WFM_MQTT_URL="${WFM_MQTT_URL:-mqtt://127.0.0.1:${WFM_BROKER_PORT}}"
export WFM_MQTT_USERNAME="${WFM_MQTT_USERNAME:-wfm-services}"
export WFM_MQTT_PUBLIC_HOST="${WFM_MQTT_PUBLIC_HOST:-127.0.0.1}"
export WFM_MQTT_PUBLIC_PORT="${WFM_MQTT_PUBLIC_PORT:-$WFM_BROKER_PORT}"
export WFM_EMQX_AUTHZ_URL="http://127.0.0.1:${SYNC_PORT}/api/internal/emqx/authz"

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p "$WFM_DATA_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$WFM_DATA_DIR/redis" --logfile "$WFM_DATA_DIR/redis/redis.log"
fi

# The node agent the API serves for download (one zipapp for every system; reproducible build).
export WFM_AGENT_ARTIFACT="${WFM_AGENT_ARTIFACT:-$WFM_DATA_DIR/artifacts/wfm-agent.pyz}"
log "building the node agent: ${WFM_AGENT_ARTIFACT}"
uv run --frozen python -m wfm_agent.build --output "$WFM_AGENT_ARTIFACT" >/dev/null

log "migrating ${WFM_DATABASE}"
uv run --frozen python -m wfm_core.db upgrade

pids=()
stopping=0
stop_all() {
  trap - INT TERM EXIT
  stopping=1
  log "stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

start() {  # start <name> <command…>: a child process whose output is prefixed with its name
  local name="$1"; shift
  ( exec "$@" 2>&1 | sed -u "s/^/[$name] /" ) &
  pids+=("$!")
}

scripts/broker.sh start
pids+=("$(cat "$WFM_BROKER_DIR/mosquitto.pid")")
start api uv run --frozen python -m wfm_api --host 127.0.0.1 --port "$PORT"
start emqx-sync uv run --frozen python -m wfm_emqx_sync run --host 127.0.0.1 --port "$SYNC_PORT"
start ingest uv run --frozen python -m wfm_mqtt_ingest --metrics-host 127.0.0.1 --metrics-port "$INGEST_PORT"

for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:${PORT}/api/v1/system/health" >/dev/null 2>&1 && break
  sleep 0.2
done
cat <<MSG
[up] API:      http://127.0.0.1:${PORT}/api/v1   (OpenAPI docs: http://127.0.0.1:${PORT}/api/docs)
[up] MQTT:     mqtt://127.0.0.1:${WFM_BROKER_PORT} (Mosquitto + dynamic security, data in ${WFM_BROKER_DIR})
[up] first run: POST /api/v1/auth/setup {"password": "..."} sets the admin password.
[up] nodes:    bind-command API → \`wfmctl bind\` on the node (README "Connecting nodes").
[up] The web console, MCP and the nginx gateway come with their issues (README "Status").
[up] Ctrl-C stops everything.
MSG
# Any child exiting ends the session (the trap stops the rest).
wait -n "${pids[@]:1}" || true
[ "$stopping" = 1 ] || log "a service exited; stopping the others"
