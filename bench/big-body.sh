#!/usr/bin/env bash
# A 1 GiB download and a 1 GiB upload through gw; reports gw's peak RSS (VmHWM)
# before and after, so "flat memory" is a measured figure. Loopback only, bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
GW_BIN=${GW_BIN:-.build/release/gw}
SIZE=${SIZE:-1G}
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
[ -x "$GW_BIN" ] || bash scripts/build-release.sh

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/www" "$tmp/ng"
truncate -s "$SIZE" "$tmp/www/big"
cat > "$tmp/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/ng/body; proxy_temp_path $tmp/ng/proxy;
  fastcgi_temp_path $tmp/ng/fcgi; uwsgi_temp_path $tmp/ng/uwsgi; scgi_temp_path $tmp/ng/scgi;
  server {
    listen 127.0.0.1:19501;
    client_max_body_size 0;
    location = /big { root $tmp/www; }
  }
}
NGINX
nginx -p "$tmp/ng" -c "$tmp/nginx.conf" & pids+=($!)

# The upload target: a second gw process running only its embedded echo service,
# which reads and counts the whole body (nginx's "return" would answer early).
cat > "$tmp/echo.yaml" <<YAML
admin: off
demo_upstream: 127.0.0.1:19503
YAML
"$GW_BIN" run --config "$tmp/echo.yaml" --log-level warning & pids+=($!)

cat > "$tmp/gw.yaml" <<YAML
listeners:
  - name: main
    address: 127.0.0.1:19502
admin: off
upstreams:
  ng:
    targets: [127.0.0.1:19501]
  echo:
    targets: [127.0.0.1:19503]
routes:
  - name: upload
    match: {path: /upload}
    upstream: echo
  - name: all
    match: {prefix: /}
    upstream: ng
YAML
"$GW_BIN" run --config "$tmp/gw.yaml" --log-level warning & gw=$!; pids+=($gw)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:19502/ 2>/dev/null && break; sleep 0.1; done

hwm() { awk '/VmHWM/ {print $2}' /proc/$gw/status; }
rss() { awk '/VmRSS/ {print $2}' /proc/$gw/status; }
echo "gw before: RSS $(rss) KiB, peak $(hwm) KiB"
t0=$(date +%s.%N)
curl -s --max-time 300 -o /dev/null -w "download: %{size_download} bytes, %{speed_download} B/s\n" http://127.0.0.1:19502/big
t1=$(date +%s.%N)
echo "gw after download: RSS $(rss) KiB, peak $(hwm) KiB ($(echo "$t1 - $t0" | bc) s)"
head -c "$SIZE" /dev/zero | curl -s --max-time 300 -T - -o "$tmp/upload.json" -w "upload: %{size_upload} bytes, %{speed_upload} B/s, status %{http_code}\n" http://127.0.0.1:19502/upload
echo "echo service counted: $(grep -o '"body_bytes":[0-9]*' "$tmp/upload.json")"
echo "gw after upload: RSS $(rss) KiB, peak $(hwm) KiB"
