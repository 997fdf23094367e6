#!/usr/bin/env bash
# PWA figures (make bench): headless Chromium against a real hub and edge agent — time to an
# interactive job list with 500 jobs, tap → new state on screen, JavaScript + CSS gzipped.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/stack.sh
source scripts/stack.sh
start_stack
EDGE_URL=$edge_url node pwa/e2e/bench.mjs
