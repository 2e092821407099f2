# ClickHouse for netobserv-sinks' clickhouse tests: Debian's clickhouse-server (18.16) on
# 127.0.0.1, its HTTP port exported as CLICKHOUSE_URL; chDB (`chdb-core`, the modern engine the
# tests put behind tests/support/chdb_http.py). Sourced by .ci/run (set -euo pipefail); adds its
# stop command to `stop_services`.
if ! command -v curl >/dev/null; then
  apt-get install -y -qq curl >/dev/null
fi
if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
  apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi
if ! python3 -c "import chdb" 2>/dev/null; then
  pip install -q chdb-core 2>/dev/null || pip install -q --break-system-packages chdb-core
fi
clickhouse_dir="$(mktemp -d --suffix=.clickhouse)"
clickhouse_pid="$(netobserv-sinks/tests/support/clickhouse_server.sh "$clickhouse_dir" 8123 9000 9009)"
stop_services+=("kill $clickhouse_pid")
for _ in $(seq 1 300); do
  if curl -sf http://127.0.0.1:8123/ping >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$clickhouse_pid" 2>/dev/null; then
    echo "clickhouse-server exited at start; its log:" >&2
    cat "$clickhouse_dir"/log/*.log >&2 || true
    exit 1
  fi
  sleep 0.1
done
if ! curl -sf http://127.0.0.1:8123/ping >/dev/null 2>&1; then
  echo "clickhouse-server does not answer /ping on 127.0.0.1:8123 after 30 s; its log:" >&2
  cat "$clickhouse_dir"/log/*.log >&2 || true
  exit 1
fi
export CLICKHOUSE_URL=http://127.0.0.1:8123
echo "clickhouse-server $(curl -s http://127.0.0.1:8123/ --data-binary 'SELECT version()') started (pid $clickhouse_pid, files $clickhouse_dir)"
