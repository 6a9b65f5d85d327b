#!/usr/bin/env bash
# Installs the systemd unit that runs web-app. Adjust ExecStart to your application.
set -euo pipefail
chown -R web-app:web-app /opt/web-app
cat > /etc/systemd/system/web-app.service <<'UNIT'
[Unit]
Description=web-app
After=network-online.target

[Service]
User=web-app
WorkingDirectory=/opt/web-app
ExecStart=/opt/web-app/bin/start
Restart=on-failure
Environment=PORT=8080

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable web-app.service
