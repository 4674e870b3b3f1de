#!/usr/bin/env bash
# `make up`: the whole system locally on the embedded default (SQLite in ./data, local Redis).
# Grows with each service; today it migrates the database and runs the management API.
set -euo pipefail
cd "$(dirname "$0")/.."

export WFM_DATA_DIR="${WFM_DATA_DIR:-./data}"
export WFM_DATABASE="${WFM_DATABASE:-sqlite:///${WFM_DATA_DIR}/wg_free_mesh.db}"
export WFM_REDIS_URL="${WFM_REDIS_URL:-redis://127.0.0.1:6379/0}"
PORT="${WFM_APP_PORT:-8000}"
mkdir -p "$WFM_DATA_DIR"

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "[up] installing redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
  echo "[up] starting Redis on 127.0.0.1:6379"
  mkdir -p "$WFM_DATA_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$WFM_DATA_DIR/redis" --logfile "$WFM_DATA_DIR/redis/redis.log"
fi

echo "[up] migrating ${WFM_DATABASE}"
uv run --frozen python -m wfm_core.db upgrade

cat <<MSG
[up] API:      http://127.0.0.1:${PORT}/api/v1   (OpenAPI docs: http://127.0.0.1:${PORT}/api/docs)
[up] first run: POST /api/v1/auth/setup {"password": "..."} sets the admin password.
[up] The console, broker sync, ingest, MCP and gateway come with their issues (README "Status").
[up] Ctrl-C stops everything.
MSG
exec uv run --frozen python -m wfm_api --host 127.0.0.1 --port "$PORT"
