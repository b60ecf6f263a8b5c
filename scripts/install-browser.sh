#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver from Debian's packages when missing
# (tests/browser.rs drives them). Idempotent; quiet when both are there; no stdin.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: the browser tests need chromium and chromium-driver; run as root (apt-get) or install them" >&2
  exit 1
fi
echo "installing chromium and chromium-driver from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver </dev/null >/dev/null
