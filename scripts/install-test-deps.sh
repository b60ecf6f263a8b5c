#!/usr/bin/env bash
# Installs what the tests need from Debian's packages, when missing: Postfix, Dovecot
# (IMAP + LMTP) and openssl for the mail stack; Chromium and its WebDriver for the
# browser tests. One `apt-get update` at most. Idempotent; quiet when all is there.
set -euo pipefail
missing() {
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      echo "$pkg"
    fi
  done
}
mapfile -t mail < <(missing postfix dovecot-imapd dovecot-lmtpd openssl)
mapfile -t browser < <(missing chromium chromium-driver)
if [ $(( ${#mail[@]} + ${#browser[@]} )) -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the tests need ${mail[*]} ${browser[*]} installed; run as root (apt-get) or install them" >&2
  exit 1
fi
echo "installing ${mail[*]} ${browser[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#mail[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${mail[@]}" </dev/null >/dev/null
fi
if [ ${#browser[@]} -gt 0 ]; then
  apt-get install -y -qq "${browser[@]}" </dev/null >/dev/null
fi
