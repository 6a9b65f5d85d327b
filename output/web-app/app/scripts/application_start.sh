#!/usr/bin/env bash
set -euo pipefail
systemctl start web-app.service
