#!/usr/bin/env bash
# Install (or with --uninstall remove) pi-vision as a systemd service run by the
# unprivileged system user pi-vision (group video, for the camera). Idempotent: re-running
# updates the unit (and its network access, from the config) and keeps an existing
# /etc/pi-vision/config.yaml. Events and recordings belong in /var/lib/pi-vision.
#   sudo scripts/install_service.sh
#   sudo scripts/install_service.sh --uninstall
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
unit=/etc/systemd/system/pi-vision.service
conf_dir=/etc/pi-vision
service_user=pi-vision
action=install

while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) action=uninstall ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install_service: unknown option $1 (use --uninstall)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install_service: run as root: sudo $0 $*" >&2
  exit 2
fi

if [ "$action" = uninstall ]; then
  systemctl disable --now pi-vision.service 2>/dev/null || true
  rm -f "$unit"
  systemctl daemon-reload
  echo "pi-vision service removed (config kept in $conf_dir, data in /var/lib/pi-vision, user $service_user kept)"
  exit 0
fi

if [ ! -x "$repo/.venv/bin/python" ]; then
  echo "install_service: $repo/.venv is missing; run the README's setup command first" >&2
  exit 2
fi
if ! id "$service_user" >/dev/null 2>&1; then
  useradd --system --user-group --groups video --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$service_user"
  echo "created system user $service_user (group video)"
fi
# The service reads the code in place: every folder down to it must be searchable by others
# (a home folder with mode 700 is not), and the files readable.
if ! runuser -u "$service_user" -- test -r "$repo/pi_vision/__init__.py"; then
  echo "install_service: user $service_user cannot read $repo; clone it under /opt (or chmod o+x the folders" \
       "above it) and run this again" >&2
  exit 2
fi
mkdir -p "$conf_dir"
if [ ! -f "$conf_dir/config.yaml" ]; then
  install -m 0644 "$repo/systemd/config.yaml" "$conf_dir/config.yaml"
fi
"$repo/.venv/bin/python" -m pi_vision --validate-config "$conf_dir/config.yaml"
# Network sockets only for a config that needs them (a stream source, the web view, MQTT).
net=$("$repo/.venv/bin/python" -m pi_vision --config "$conf_dir/config.yaml" --print-address-families)
sed -e "s|@REPO@|$repo|g" -e "s|@NET@|$net|g" "$repo/systemd/pi-vision.service" > "$unit.tmp"
mv "$unit.tmp" "$unit"
systemctl daemon-reload
systemctl enable --now pi-vision.service
systemctl restart pi-vision.service
echo "pi-vision service installed and started; follow it with: journalctl -u pi-vision -f"
