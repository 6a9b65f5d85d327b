#!/usr/bin/env bash
# Prepares the instance: a clean target directory and the service user.
set -euo pipefail
id -u web-app >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin web-app
rm -rf /opt/web-app
mkdir -p /opt/web-app
