#!/usr/bin/env bash
# Installs the coding-agent CLIs Flotilla's tests and demo run (Claude Code, Codex), at
# the exact versions pinned in this directory's package.json and package-lock.json,
# into ${FLOTILLA_AGENT_CLIS:-/var/tmp/flotilla-agent-clis}. Never into the clone: the
# binaries are large and are never committed.
#
# Idempotent: when the installed versions already match the pins, it does nothing.
# Claude Code's postinstall (which links its native binary) must run: package.json's
# `allowScripts` approves exactly that package at exactly that version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${FLOTILLA_AGENT_CLIS:-/var/tmp/flotilla-agent-clis}"

pinned() { node -e 'console.log(require(process.argv[1]).dependencies[process.argv[2]])' "$here/package.json" "$1"; }
installed() {
  local manifest="$dest/node_modules/$1/package.json"
  [[ -f "$manifest" ]] && node -e 'console.log(require(process.argv[1]).version)' "$manifest" || true
}
current() {
  [[ "$(installed @anthropic-ai/claude-code)" == "$(pinned @anthropic-ai/claude-code)" ]] &&
    [[ "$(installed @openai/codex)" == "$(pinned @openai/codex)" ]] &&
    cmp -s "$here/package-lock.json" "$dest/package-lock.json" &&
    "$dest/node_modules/.bin/claude" --version >/dev/null 2>&1
}

command -v npm >/dev/null || { echo "install.sh: npm (node >= 20) is needed to install the agent CLIs" >&2; exit 1; }
if current; then
  echo "agent CLIs already installed in $dest"
  exit 0
fi
mkdir -p "$dest"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error)
current || { echo "install.sh: the agent CLIs in $dest do not run after installing" >&2; exit 1; }
echo "agent CLIs installed in $dest: claude $(installed @anthropic-ai/claude-code), codex $(installed @openai/codex)"
