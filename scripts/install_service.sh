#!/usr/bin/env bash
# Install (or with --uninstall remove) pi-vision as a systemd service. Idempotent:
# re-running updates the unit and keeps an existing /etc/pi-vision/config.yaml.
#   sudo scripts/install_service.sh [--user USER]
#   sudo scripts/install_service.sh --uninstall
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
unit=/etc/systemd/system/pi-vision.service
conf_dir=/etc/pi-vision
user=${SUDO_USER:-$(id -un)}
action=install

while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) action=uninstall ;;
    --user) user=$2; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install_service: unknown option $1 (use --uninstall or --user USER)" >&2; exit 2 ;;
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
  echo "pi-vision service removed (config kept in $conf_dir)"
  exit 0
fi

if [ ! -x "$repo/.venv/bin/python" ]; then
  echo "install_service: $repo/.venv is missing; run the README's setup command first" >&2
  exit 2
fi
group=$(id -gn "$user")
mkdir -p "$conf_dir"
if [ ! -f "$conf_dir/config.yaml" ]; then
  install -m 0644 "$repo/systemd/config.yaml" "$conf_dir/config.yaml"
fi
"$repo/.venv/bin/python" -m pi_vision --validate-config "$conf_dir/config.yaml"
sed -e "s|@REPO@|$repo|g" -e "s|@USER@|$user|g" -e "s|@GROUP@|$group|g" \
  "$repo/systemd/pi-vision.service" > "$unit.tmp"
mv "$unit.tmp" "$unit"
systemctl daemon-reload
systemctl enable --now pi-vision.service
systemctl restart pi-vision.service
echo "pi-vision service installed and started; follow it with: journalctl -u pi-vision -f"
