#!/usr/bin/env bash
# Installs what the integration tests need from Debian's packages, when missing:
# Postfix, Dovecot (IMAP + LMTP) and openssl. Idempotent; quiet when all is there.
set -euo pipefail
need=()
for pkg in postfix dovecot-imapd dovecot-lmtpd openssl; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    need+=("$pkg")
  fi
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the tests need ${need[*]} installed; run as root (apt-get) or install them" >&2
  exit 1
fi
echo "installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
