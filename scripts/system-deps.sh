#!/usr/bin/env bash
# System packages assay's figures and browser tests use, from Debian: a CJK font (Chinese labels) and Chromium;
# the ODBC tests use unixODBC with Debian's PostgreSQL ODBC driver.
# Installed only when missing and when we can (root with apt-get); otherwise say what to install.
set -u
need=()
fc-list 2>/dev/null | grep -qi "Noto Sans CJK\|WenQuanYi" || need+=(fonts-noto-cjk)
[ -x /usr/bin/chromium ] || need+=(chromium)
odbcinst -q -d 2>/dev/null | grep -qi "PostgreSQL Unicode" || need+=(unixodbc odbc-postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "warning: could not install ${need[*]}; figures fall back to DejaVu Sans, browser tests will fail"
else
  echo "note: install ${need[*]} (apt-get install ${need[*]}) for Chinese labels in figures and browser tests"
fi
exit 0
