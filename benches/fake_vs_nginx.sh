#!/usr/bin/env bash
# Benchmark: the standalone fake (`golive fake`, hyper) against nginx serving
# a fixed JSON body, same machine, same wrk settings, loopback only.
#
#   benches/fake_vs_nginx.sh            # 60 s per target (the reported figures)
#   DURATION=10s benches/fake_vs_nginx.sh
#
# Needs: wrk, nginx (apt-get install -y wrk nginx), curl, python3.
# Reports requests/second for GET /v1/jobs/{id} on the fake and for nginx,
# the ratio, and the fake's RSS before and after the run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60s}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-50}"
WARMUP="${WARMUP:-5s}"
FAKE_PORT="${FAKE_PORT:-18471}"
NGINX_PORT="${NGINX_PORT:-18472}"
KEY=sk_test_valid

for tool in wrk nginx curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk nginx)" >&2; exit 2; }
done

cargo build --release --quiet --bin golive
BIN=target/release/golive

WORK="$(mktemp -d)"
FAKE_PID=""
NGINX_PID=""
cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
    [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# A rate limit no load run reaches.
cat > "$WORK/fake.yaml" <<YAML
rate_limit:
  per_second: 1000000000
  burst: 1000000000
YAML

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }

"$BIN" fake --port "$FAKE_PORT" --config "$WORK/fake.yaml" > "$WORK/fake.out" 2>&1 &
FAKE_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$FAKE_PORT/health" >/dev/null 2>&1 && break
    sleep 0.1
done
JOB_ID=$(curl -sf -X POST "http://127.0.0.1:$FAKE_PORT/v1/jobs" -H "X-Api-Key: $KEY" \
    -H 'Content-Type: application/json' -d '{"video_url":"https://example.com/bench.mp4"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 1.5 # let the job complete: the body is then stable
URL="http://127.0.0.1:$FAKE_PORT/v1/jobs/$JOB_ID"
BODY=$(curl -sf "$URL" -H "X-Api-Key: $KEY")

# nginx: the same body, fixed, same worker count as cores.
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }
}
NGINX
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
sleep 0.5

echo "== warm-up ($WARMUP) =="
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "X-Api-Key: $KEY" "$URL" >/dev/null
RSS_BEFORE=$(rss_kb "$FAKE_PID")

echo "== fake: wrk -t$THREADS -c$CONNS -d$DURATION GET /v1/jobs/{id} =="
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -H "X-Api-Key: $KEY" "$URL" | tee "$WORK/fake.wrk"
RSS_AFTER=$(rss_kb "$FAKE_PID")

echo "== nginx: wrk -t$THREADS -c$CONNS -d$DURATION (fixed JSON, ${#BODY} bytes) =="
wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$NGINX_PORT/" >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$NGINX_PORT/" | tee "$WORK/nginx.wrk"

FAKE_RPS=$(rps "$WORK/fake.wrk")
NGINX_RPS=$(rps "$WORK/nginx.wrk")
python3 - "$FAKE_RPS" "$NGINX_RPS" "$RSS_BEFORE" "$RSS_AFTER" "${#BODY}" <<'PY'
import sys
fake, nginx, before, after, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
print()
print(f"body size           {size} bytes")
print(f"fake  requests/sec  {fake:,.0f}")
print(f"nginx requests/sec  {nginx:,.0f}")
print(f"ratio fake/nginx    {fake / nginx:.2f}")
print(f"fake RSS before     {before / 1024:.1f} MiB")
print(f"fake RSS after      {after / 1024:.1f} MiB ({(after - before) / 1024:+.1f} MiB)")
PY
