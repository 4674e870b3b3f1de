#!/usr/bin/env bash
# `make up`: the whole system locally on the embedded default (SQLite in ./data).
# Grows with each service; today it prepares the database every service shares.
set -euo pipefail
cd "$(dirname "$0")/.."

export WFM_DATA_DIR="${WFM_DATA_DIR:-./data}"
export WFM_DATABASE="${WFM_DATABASE:-sqlite:///${WFM_DATA_DIR}/wg_free_mesh.db}"
mkdir -p "$WFM_DATA_DIR"

echo "[up] migrating ${WFM_DATABASE}"
uv run --frozen python -m wfm_core.db upgrade

cat <<MSG
[up] the database is ready at ${WFM_DATABASE}.
[up] The HTTP services (API, console, gateway) are not built yet: see README "Status".
MSG
