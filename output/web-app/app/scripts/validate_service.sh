#!/usr/bin/env bash
# CodeDeploy fails (and rolls back) the instance when this exits non-zero.
set -euo pipefail
for attempt in $(seq 1 30); do
  if curl --fail --silent --max-time 5 http://127.0.0.1:8080/health >/dev/null; then
    exit 0
  fi
  sleep 5
done
echo "web-app did not answer /health on port 8080 after 150 s" >&2
exit 1
