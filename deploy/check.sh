#!/bin/sh
# Checks the deployment files without installing anything:
#   the systemd unit (systemd-analyze verify, and systemd-analyze security:
#   exposure at most 2.0), the Prometheus configuration and alert rules
#   (promtool check / test), and the dashboard's JSON.
# Needs: systemd (systemd-analyze), prometheus (promtool), python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# `verify` insists that ExecStart exists and is executable. Point the unit at a
# stand-in so the check does not depend on an installed agent.
printf '#!/bin/sh\nexit 0\n' > "$tmp/packetguard"
chmod +x "$tmp/packetguard"
sed "s|/usr/local/bin/packetguard|$tmp/packetguard|" "$here/packetguard.service" > "$tmp/packetguard.service"
systemd-analyze verify "$tmp/packetguard.service"
echo "packetguard.service: ok"
# Offline (no running systemd needed; systemd 250+); fails above 2.0.
report=$(LC_ALL=C systemd-analyze security --offline=yes --threshold=20 "$here/packetguard.service")
printf '%s\n' "$report" | tail -n 1

promtool check config "$here/prometheus/prometheus.yml"
promtool check rules "$here/prometheus/packetguard-rules.yml"
(cd "$here/prometheus" && promtool test rules packetguard-rules.test.yml)

python3 -m json.tool "$here/grafana/packetguard-dashboard.json" > /dev/null
echo "packetguard-dashboard.json: ok"
