#!/usr/bin/env bash
# The web console (gateway/console): install | typecheck | test | build | size.
#   install    npm ci when node_modules is missing or older than package-lock.json
#   test       vue-tsc type check + Vitest unit tests (what `make test` runs)
#   build      production bundle into gateway/console/dist
#   size       build, then print the initial JS (entry + its static imports), gzip
set -euo pipefail
cd "$(dirname "$0")/../gateway/console"

log() { printf '\033[1;34m[console]\033[0m %s\n' "$*"; }

install() {
  local stamp=node_modules/.package-lock.json
  if [ ! -d node_modules ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

case "${1:-test}" in
  install) install ;;
  typecheck) install; npx vue-tsc --noEmit -p tsconfig.json ;;
  test)
    install
    log "vue-tsc --noEmit"
    npx vue-tsc --noEmit -p tsconfig.json
    log "vitest run"
    npx vitest run
    ;;
  build)
    install
    log "vite build → gateway/console/dist"
    npx vite build --logLevel warn
    ;;
  size)
    install
    npx vite build --logLevel warn
    node e2e/bundle-size.mjs
    ;;
  *) echo "usage: scripts/console.sh install|typecheck|test|build|size" >&2; exit 2 ;;
esac
