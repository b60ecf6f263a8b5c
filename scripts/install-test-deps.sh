#!/usr/bin/env bash
# Installs what the tests need from Debian's packages, when missing: Postfix, Dovecot
# (IMAP + LMTP) and openssl for the mail stack; rsyslog as the SIEM collector of
# tests/siem.rs; webhook (adnanh/webhook) as the chat endpoint of the SOC's webhook
# test in tests/web.rs; Chromium and its WebDriver for the
# browser tests; Node.js and npm for the OAuth2 authorization server of tests/oauth2.rs,
# whose npm package (pinned by tests/oauth2-server/package-lock.json) goes into
# $CARGO_TARGET_DIR/oauth2-server (default target/). One `apt-get update` at most.
# Idempotent; quiet and offline when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
oauth2_server() {
  local src=tests/oauth2-server dst="${CARGO_TARGET_DIR:-target}/oauth2-server"
  if [ -d "$dst/node_modules/oauth2-mock-server" ] && cmp -s "$src/package-lock.json" "$dst/package-lock.json"; then
    return 0
  fi
  echo "installing the OAuth2 test server (npm ci, $src/package-lock.json) into $dst"
  mkdir -p "$dst"
  cp "$src/package.json" "$src/package-lock.json" "$dst/"
  (cd "$dst" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
}
# stix2-validator and pymisp (pinned by tests/python/requirements.txt) for the export
# checks of tests/sharing.rs, in a private venv: $CARGO_TARGET_DIR/pyenv.
python_env() {
  local req=tests/python/requirements.txt dst="${CARGO_TARGET_DIR:-target}/pyenv"
  if [ -x "$dst/bin/python" ] && cmp -s "$req" "$dst/requirements.txt"; then
    return 0
  fi
  echo "installing the export checkers (pip, $req) into $dst"
  rm -rf "$dst"
  python3 -m venv "$dst"
  "$dst/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" </dev/null
  cp "$req" "$dst/requirements.txt"
}
missing() {
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      echo "$pkg"
    fi
  done
}
mapfile -t mail < <(missing postfix dovecot-imapd dovecot-lmtpd openssl rsyslog webhook)
mapfile -t browser < <(missing chromium chromium-driver)
py=()
if ! command -v python3 >/dev/null; then
  py=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  py=(python3-venv)
fi
node=()
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  node=(nodejs npm)
fi
if [ $(( ${#mail[@]} + ${#browser[@]} + ${#node[@]} + ${#py[@]} )) -eq 0 ]; then
  oauth2_server
  python_env
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the tests need ${mail[*]} ${browser[*]} ${node[*]} ${py[*]} installed; run as root (apt-get) or install them" >&2
  exit 1
fi
echo "installing ${mail[*]} ${browser[*]} ${node[*]} ${py[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#mail[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${mail[@]}" </dev/null >/dev/null
fi
if [ ${#browser[@]} -gt 0 ]; then
  apt-get install -y -qq "${browser[@]}" </dev/null >/dev/null
fi
if [ ${#node[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${node[@]}" </dev/null >/dev/null
fi
oauth2_server
if [ ${#py[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${py[@]}" </dev/null >/dev/null
fi
python_env
