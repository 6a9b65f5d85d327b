#!/usr/bin/env bash
# Stops web-app before the new revision is copied. Must succeed on a fresh instance too.
set -euo pipefail
if systemctl list-unit-files web-app.service >/dev/null 2>&1; then
  systemctl stop web-app.service || true
fi
