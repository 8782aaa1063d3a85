#!/usr/bin/env bash
# Conformance with GitHub: runs every typed call of Flotilla's GitHub client against the
# simulator through a recording proxy (tests/it/conformance/), then checks the recorded
# requests and answers, the client's full route list and its GraphQL documents against
# GitHub's published OpenAPI description and GraphQL schema (validate.mjs).
#
# Usage: conformance/run.sh [--requests-only]
#   --requests-only  judge only what the client sends, not the simulator's answers
# Needs node >= 20 and npm (the npm registry on the first run; cached afterwards).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

# GitHub's descriptions come from npm at the exact versions in package-lock.json; the
# install is skipped while node_modules matches the lock.
stamp="$here/node_modules/.flotilla-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  npm ci --prefix "$here" --prefer-offline --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

out="${FLOTILLA_CONFORMANCE_OUT:-${CARGO_TARGET_DIR:-$root/target}/conformance/exchanges.json}"
rm -f "$out"
FLOTILLA_CONFORMANCE_OUT="$out" cargo test --locked --test it conformance:: -- --nocapture
node "$here/validate.mjs" "$@" "$out"
