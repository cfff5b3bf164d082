#!/usr/bin/env bash
# Renders docs/grafana/dashboard.png from a real run: builds keyward,
# starts it on a fresh SQLite database with --metrics-addr (and Redis rate
# limits where a Redis answers), has Prometheus scrape it every 5 s, puts
# a mix of traffic through it for $DURATION (tools/dashboard/traffic),
# then renders the dashboard's panels from Prometheus's data with
# tools/dashboard and a headless Chromium. Everything it starts is
# stopped, and its files removed, when it ends.
#
# Needs Debian's prometheus and chromium packages (apt-get install
# prometheus chromium; the prometheus service the package installs is not
# used: this runs its own, on its own port and data directory).
#
#   docs/grafana/render.sh                      # 7 minutes of traffic
#   DURATION=3m OUT=/tmp/d.png docs/grafana/render.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-7m}
OUT=${OUT:-docs/grafana/dashboard.png}
RATE=${RATE:-120}
PROM_PORT=${PROM_PORT:-19090}
API_PORT=${API_PORT:-18080}
METRICS_PORT=${METRICS_PORT:-19464}
REDIS_URL=${REDIS_URL:-${KEYWARD_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}}
CHROMIUM=${KEYWARD_TEST_CHROMIUM:-$(command -v chromium || true)}

work=$(mktemp -d /tmp/keyward-render.XXXXXX)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build (in $work)"
go build -o "$work/keyward" ./cmd/keyward
go build -o "$work/traffic" ./tools/dashboard/traffic

echo "== keyward on 127.0.0.1:$API_PORT, metrics on 127.0.0.1:$METRICS_PORT"
"$work/keyward" migrate --db "$work/keyward.db" >/dev/null
ROOT=$("$work/keyward" root-key create --db "$work/keyward.db" --name dashboard)
redis=()
redis_hostport=${REDIS_URL#*://}
redis_hostport=${redis_hostport%%/*}
redis_hostport=${redis_hostport##*@}
if timeout 2 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}"' _ "$redis_hostport" 2>/dev/null; then
	redis=(--redis-url "$REDIS_URL" --redis-key-prefix "keyward:render:$$:")
	echo "   with Redis rate limits ($redis_hostport)"
else
	echo "   no Redis at $redis_hostport: the Redis panels will be empty"
fi
"$work/keyward" serve --db "$work/keyward.db" --addr "127.0.0.1:$API_PORT" \
	--metrics-addr "127.0.0.1:$METRICS_PORT" --last-used-interval 10s --log-level warn \
	"${redis[@]}" >"$work/keyward.out" 2>"$work/keyward.log" &
pids+=($!)

echo "== Prometheus on 127.0.0.1:$PROM_PORT, scraping every 5 s"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: keyward
    static_configs:
      - targets: ["127.0.0.1:$METRICS_PORT"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$work/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
	if curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null; then
		break
	fi
	sleep 0.2
done
curl -sf "http://127.0.0.1:$API_PORT/readyz" >/dev/null || { cat "$work/keyward.log"; exit 1; }

echo "== traffic for $DURATION"
KEYWARD_API_KEY=$ROOT "$work/traffic" -url "http://127.0.0.1:$API_PORT" -rate "$RATE" -duration "$DURATION"
sleep 6 # the last scrape

echo "== render $OUT"
go run ./tools/dashboard -prometheus "http://127.0.0.1:$PROM_PORT" -last "$DURATION" \
	${CHROMIUM:+-chromium "$CHROMIUM"} -out "$OUT"
