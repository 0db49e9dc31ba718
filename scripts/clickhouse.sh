#!/usr/bin/env bash
# Obtains Debian's clickhouse-server (18.16 on bookworm) for the ClickHouse sink tests without installing it system-wide:
# `apt-get download` the server and the packages it needs that are not installed, and `dpkg -x` them into
# .cache/clickhouse/root (git-ignored). The tests start it from there (tests/PgEgress.Testing/ClickHouseServer.cs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.cache/clickhouse
[[ -x $dest/root/usr/sbin/clickhouse-server ]] && exit 0
command -v apt-get >/dev/null || { echo "clickhouse: apt-get not found; set PGEGRESS_CLICKHOUSE_ROOT to an extracted clickhouse-server" >&2; exit 1; }
mkdir -p "$dest/debs" "$dest/root.new"
cd "$dest/debs"
missing=()
for p in $(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances clickhouse-server | grep -v '^ ' | grep -v '^<' | sort -u); do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
apt-get download "${missing[@]}" >/dev/null
for deb in *.deb; do dpkg -x "$deb" "$dest/root.new"; done
rm -rf "$dest/root" && mv "$dest/root.new" "$dest/root"
echo "clickhouse: clickhouse-server $(dpkg-deb -f clickhouse-server_*.deb Version) extracted into $dest/root" >&2
