#!/usr/bin/env bash
# `make up`: the whole system locally on the embedded default — SQLite in ./data, local Redis, our
# Mosquitto+dynsec instance, every service as a child process, and nginx as the gateway on
# http://127.0.0.1:8080 in front of the console, /api and /mcp (as in compose.yaml).
# Ctrl-C stops everything; if one process dies, the others are stopped too.
#
# Environment (defaults): WFM_DATA_DIR (./data), WFM_DATABASE (SQLite in the data dir; a
# postgresql:// URL switches), WFM_REDIS_URL (redis://127.0.0.1:6379/0), WFM_GATEWAY_BIND
# (127.0.0.1), WFM_GATEWAY_PORT (8080), WFM_APP_PORT (8000), WFM_MCP_PORT (8001),
# WFM_EMQX_SYNC_PORT (8002), WFM_INGEST_PORT (8003), WFM_BROKER_PORT (1884), WFM_GATEWAY_MQTT_PORT
# (unset: no MQTT passthrough on the gateway).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

export WFM_DATA_DIR="${WFM_DATA_DIR:-./data}"
export WFM_DATABASE="${WFM_DATABASE:-sqlite:///${WFM_DATA_DIR}/wg_free_mesh.db}"
export WFM_REDIS_URL="${WFM_REDIS_URL:-redis://127.0.0.1:6379/0}"
PORT="${WFM_APP_PORT:-8000}"
MCP_PORT="${WFM_MCP_PORT:-8001}"
SYNC_PORT="${WFM_EMQX_SYNC_PORT:-8002}"
export WFM_INGEST_PORT="${WFM_INGEST_PORT:-8003}"
GATEWAY_BIND="${WFM_GATEWAY_BIND:-127.0.0.1}"
GATEWAY_PORT="${WFM_GATEWAY_PORT:-8080}"
GATEWAY_MQTT_PORT="${WFM_GATEWAY_MQTT_PORT:-}"
mkdir -p "$WFM_DATA_DIR"
DATA="$(cd "$WFM_DATA_DIR" && pwd)"

STEPS=7
step=0
if [ -t 1 ]; then BLUE=$'\033[1;34m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BLUE="" RED="" PLAIN=""; fi
log() { printf '%s[up]%s %s\n' "$BLUE" "$PLAIN" "$*"; }
progress() { step=$((step + 1)); log "($step/$STEPS) $*"; }
die() { printf '%s[up]%s %s\n' "$RED" "$PLAIN" "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
need_free() {  # need_free <port> <variable that moves it>
  if port_open 127.0.0.1 "$1"; then die "port $1 is in use (another \`make up\`?); set $2 to move it"; fi
}

# Secrets of this installation, generated once (never the shipped placeholders).
SECRETS="$DATA/secrets.env"
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
export WFM_BROKER_DIR="${WFM_BROKER_DIR:-$DATA/mosquitto}"
export WFM_BROKER_PORT="${WFM_BROKER_PORT:-1884}"
export WFM_MOSQUITTO_ADMIN_USERNAME="${WFM_MOSQUITTO_ADMIN_USERNAME:-wfm-admin}"
export WFM_MQTT_BROKER=mosquitto
export WFM_MQTT_URL="${WFM_MQTT_URL:-mqtt://127.0.0.1:${WFM_BROKER_PORT}}"
export WFM_MQTT_USERNAME="${WFM_MQTT_USERNAME:-wfm-services}"
export WFM_MQTT_PUBLIC_HOST="${WFM_MQTT_PUBLIC_HOST:-127.0.0.1}"
export WFM_MQTT_PUBLIC_PORT="${WFM_MQTT_PUBLIC_PORT:-${GATEWAY_MQTT_PORT:-$WFM_BROKER_PORT}}"
export WFM_EMQX_AUTHZ_URL="http://127.0.0.1:${SYNC_PORT}/api/internal/emqx/authz"
# The agent zipapp the API serves (one file for every system; reproducible build).
export WFM_AGENT_ARTIFACT="${WFM_AGENT_ARTIFACT:-$DATA/artifacts/wfm-agent.pyz}"

if [ -f .env ]; then
  log "note: ./.env is read by every service too (its WFM_* values apply unless set here)"
fi
need_free "$GATEWAY_PORT" WFM_GATEWAY_PORT
need_free "$PORT" WFM_APP_PORT
need_free "$MCP_PORT" WFM_MCP_PORT
need_free "$SYNC_PORT" WFM_EMQX_SYNC_PORT
need_free "$WFM_INGEST_PORT" WFM_INGEST_PORT
need_free "$WFM_BROKER_PORT" WFM_BROKER_PORT
[ -z "$GATEWAY_MQTT_PORT" ] || need_free "$GATEWAY_MQTT_PORT" WFM_GATEWAY_MQTT_PORT
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
[ -x "$NGINX" ] || die "nginx is not installed (make install)"

# The services run from the workspace's interpreter directly, so signals reach them.
PY="$(uv run --frozen python -c 'import sys; print(sys.executable)')"

progress "building the node agent: $WFM_AGENT_ARTIFACT"
"$PY" -m wfm_agent.build --output "$WFM_AGENT_ARTIFACT" >/dev/null

CONSOLE="$ROOT/gateway/console/dist"
if [ -x scripts/console.sh ]; then
  progress "building the web console: gateway/console/dist"
  scripts/console.sh build || log "the console build failed: the gateway serves /api and /mcp only"
else
  progress "no web console in this checkout (scripts/console.sh): the gateway serves /api and /mcp"
fi

progress "migrating $WFM_DATABASE"
"$PY" -m wfm_core.db upgrade

pids=()
names=()
stopping=0
stop_all() {  # reverse start order: the gateway first, the broker and Redis last
  trap - INT TERM EXIT
  stopping=1
  ((${#pids[@]})) || return 0
  log "stopping"
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid="${pids[$i]}"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "${names[$i]} did not stop within 10 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  log "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

start() {  # start <name> <command…>: a child process whose output is prefixed with its name
  local name="$1"; shift
  "$@" > >(exec sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
  names+=("$name")
}
wait_http() {  # wait_http <name> <url> <seconds>
  local deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { log "$1 is not healthy at $2 yet"; return 1; }
    sleep 0.2
  done
}

progress "starting Redis and the broker"
redis_rest="${WFM_REDIS_URL#redis://}"
redis_rest="${redis_rest##*@}"
redis_hostport="${redis_rest%%/*}"
REDIS_HOST="${redis_hostport%:*}"
REDIS_PORT="6379"
[ "$redis_hostport" = "$REDIS_HOST" ] || REDIS_PORT="${redis_hostport##*:}"
if port_open "$REDIS_HOST" "$REDIS_PORT"; then
  log "Redis: using $REDIS_HOST:$REDIS_PORT"
elif [ "$REDIS_HOST" = 127.0.0.1 ] || [ "$REDIS_HOST" = localhost ]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p "$DATA/redis"
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$DATA/redis"
  for _ in $(seq 1 100); do port_open 127.0.0.1 "$REDIS_PORT" && break; sleep 0.05; done
else
  die "Redis at $REDIS_HOST:$REDIS_PORT is not reachable (WFM_REDIS_URL)"
fi
start broker scripts/broker.sh run
for _ in $(seq 1 100); do port_open 127.0.0.1 "$WFM_BROKER_PORT" && break; sleep 0.05; done
port_open 127.0.0.1 "$WFM_BROKER_PORT" || die "the broker did not start on $WFM_BROKER_PORT"

progress "starting the services: API :$PORT, emqx-sync :$SYNC_PORT, mqtt-ingest :$WFM_INGEST_PORT, MCP :$MCP_PORT"
start api "$PY" -m wfm_api --host 127.0.0.1 --port "$PORT"
start emqx-sync "$PY" -m wfm_emqx_sync run --host 127.0.0.1 --port "$SYNC_PORT"
start ingest "$PY" -m wfm_mqtt_ingest --metrics-host 127.0.0.1 --metrics-port "$WFM_INGEST_PORT"
HAVE_MCP=0
if "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("wfm_mcp.__main__") is None)'; then
  HAVE_MCP=1
  start mcp "$PY" -m wfm_mcp --host 127.0.0.1 --port "$MCP_PORT"
else
  log "the MCP service is not in this checkout: /mcp answers 502"
fi

progress "waiting for the services to answer"
healthy=1
wait_http api "http://127.0.0.1:$PORT/api/v1/system/health" 60 || healthy=0
wait_http emqx-sync "http://127.0.0.1:$SYNC_PORT/healthz" 30 || healthy=0
wait_http mqtt-ingest "http://127.0.0.1:$WFM_INGEST_PORT/healthz" 30 || healthy=0
[ "$HAVE_MCP" = 0 ] || wait_http mcp "http://127.0.0.1:$MCP_PORT/healthz" 30 || healthy=0

progress "starting the gateway on http://$GATEWAY_BIND:$GATEWAY_PORT"
GATEWAY_DIR="$DATA/gateway"
mkdir -p "$GATEWAY_DIR"
WORKER_USER=""
[ "$(id -u)" -ne 0 ] || WORKER_USER=root  # workers must read the console wherever the checkout is
WFM_GATEWAY_NGINX="$NGINX" \
  WFM_GATEWAY_LISTEN="$GATEWAY_BIND:$GATEWAY_PORT" \
  WFM_GATEWAY_API_UPSTREAM="127.0.0.1:$PORT" \
  WFM_GATEWAY_MCP_UPSTREAM="127.0.0.1:$MCP_PORT" \
  WFM_GATEWAY_CONSOLE_ROOT="$CONSOLE" \
  WFM_GATEWAY_RUNTIME_DIR="$GATEWAY_DIR" \
  WFM_GATEWAY_ACCESS_LOG="$GATEWAY_DIR/access.log" \
  WFM_GATEWAY_ERROR_LOG=stderr \
  WFM_GATEWAY_WORKER_USER="$WORKER_USER" \
  WFM_GATEWAY_MQTT_LISTEN="${GATEWAY_MQTT_PORT:+$GATEWAY_BIND:$GATEWAY_MQTT_PORT}" \
  WFM_GATEWAY_MQTT_UPSTREAM="${GATEWAY_MQTT_PORT:+127.0.0.1:$WFM_BROKER_PORT}" \
  WFM_GATEWAY_MQTT_TLS_LISTEN="" \
  gateway/nginx/render.sh "$GATEWAY_DIR/nginx.conf"
"$NGINX" -t -q -p "$GATEWAY_DIR" -c "$GATEWAY_DIR/nginx.conf" -e stderr
start gateway "$NGINX" -p "$GATEWAY_DIR" -c "$GATEWAY_DIR/nginx.conf" -e stderr -g 'daemon off;'
GATEWAY="http://$GATEWAY_BIND:$GATEWAY_PORT"
wait_http gateway "$GATEWAY/healthz" 20 || healthy=0
wait_http "the API through the gateway" "$GATEWAY/api/v1/system/health" 10 || healthy=0

console_line="$GATEWAY/"
[ -f "$CONSOLE/index.html" ] || console_line="not built (gateway/console/dist is missing)"
mcp_line="$GATEWAY/mcp   (MCP token: console → Tools → MCP access)"
[ "$HAVE_MCP" = 1 ] || mcp_line="not in this checkout"
cat <<MSG
[up] ───────────────────────────────────────────────────────────────────────────────
[up] WFM is $( ((healthy)) && echo "up" || echo "starting (see the messages above)") — everything goes through the gateway:
[up]   console   $console_line
[up]   API       $GATEWAY/api/v1   (OpenAPI docs: $GATEWAY/api/docs)
[up]   MCP       $mcp_line
[up]   MQTT      mqtt://$WFM_MQTT_PUBLIC_HOST:$WFM_MQTT_PUBLIC_PORT (Mosquitto + dynamic security, data in $WFM_BROKER_DIR)
[up]   data      $DATA (database, secrets.env, gateway/access.log)
[up] first run: open the console (or POST /api/v1/auth/setup) to set the admin password.
[up] nodes: bind-command with server_url $GATEWAY → \`wfmctl bind\` on the node (README "Connecting nodes").
[up] Ctrl-C stops everything.
[up] ───────────────────────────────────────────────────────────────────────────────
MSG
# Any child exiting ends the session (the trap stops the rest).
wait -n "${pids[@]}" || true
if [ "$stopping" = 0 ]; then
  log "a process exited; stopping the others"
  exit 1
fi
