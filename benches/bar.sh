#!/usr/bin/env bash
# The bar: flowlogs-pipeline on one core, stdin NetObserv JSON -> generic + keep_entry_query ->
# stdout JSON. Prints flows per CPU-second for agent-shaped and enriched flows; then the same
# pipeline from a file to /dev/null on both cores with 1 and 2 workers (wall-clock speed-up), and
# synthetic enriched flows through the whole process.
# Usage: bash benches/bar.sh [COUNT] [RUNS]   (defaults 1000000 and 3; needs `taskset`, GNU time)
# Each run prints a line: the machine is shared and runs vary, so look at several.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
runs=${2:-3}
cargo build -q --release -p netobserv-bins --bin flowlogs-pipeline -p benches --bin gen-flows
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The configuration of the bar, with the ingest section given as $1.
config() {
  cat <<YAML
pipeline:
  - name: in
  - name: gen
    follows: in
  - name: f
    follows: gen
  - name: out
    follows: f
parameters:
  - name: in
    ingest: $1
  - name: gen
    transform:
      type: generic
      generic:
        policy: preserve_original_keys
        rules:
          - {input: Bytes, output: Bytes, multiplier: 1}
  - name: f
    transform:
      type: filter
      filter:
        rules:
          - type: keep_entry_query
            keepEntryQuery: 'SrcK8S_Namespace!="nothing" and Bytes>0'
  - name: out
    write: {type: stdout, stdout: {format: json}}
metricsSettings: {port: 0}
YAML
}
config '{type: stdin}' > "$dir/bar.yaml"
for shape in agent enriched; do
  target/release/gen-flows "$shape" "$count" > "$dir/$shape.jsonl"
  for _ in $(seq "$runs"); do
    # Pipes on both sides, as when the agent feeds it or a container runtime collects its output;
    # the feeding `cat` and the counting `wc` run on the other core.
    lines=$(taskset -c 1 cat "$dir/$shape.jsonl" \
      | /usr/bin/time -f '%e %U %S %M' -o "$dir/time" \
        taskset -c 0 target/release/flowlogs-pipeline --config "$dir/bar.yaml" \
      | taskset -c 1 wc -l)
    read -r wall user sys rss < "$dir/time"
    awk -v s="$shape" -v n="$count" -v o="$lines" -v w="$wall" -v u="$user" -v y="$sys" -v r="$rss" 'BEGIN {
      printf "%-8s %d flows in, %d out: %.2f s wall, %.2f CPU-s (%.2f user + %.2f sys), %d MB max RSS: %.0fk flows per CPU-second\n",
        s, n, o, w, u + y, u, y, r / 1024, n / (u + y) / 1000 }'
  done
done

# Workers: file in, /dev/null out, both cores, --workers 1 then 2 (wall-clock rate and CPU time).
config "{type: file, file: {filename: $dir/agent.jsonl}}" \
  | sed 's#write: {type: stdout, stdout: {format: json}}#write: {type: file, file: {filename: /dev/null}}#' \
  > "$dir/workers.yaml"
for _ in $(seq "$runs"); do
  for w in 1 2; do
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time" target/release/flowlogs-pipeline \
      --config "$dir/workers.yaml" --workers "$w" 2>/dev/null
    read -r wall user sys rss < "$dir/time"
    awk -v w="$w" -v n="$count" -v t="$wall" -v u="$user" -v y="$sys" -v r="$rss" 'BEGIN {
      printf "file->/dev/null --workers %d: %d agent flows in %.2f s wall (%.0fk flows/s), %.2f CPU-s, %d MB max RSS\n",
        w, n, t, n / t / 1000, u + y, r / 1024 }'
  done
done

# The process as a whole, on both cores: COUNT synthetic enriched flows -> generic + filter ->
# stdout JSON (GNU time -v gives the wall time, CPU time and peak memory).
config "{type: synthetic, synthetic: {connections: 500, flowLogsPerMin: 0, batchMaxLen: 1000, \
  seed: 1, maxFlows: $count}}" > "$dir/synthetic.yaml"
for _ in $(seq "$runs"); do
  lines=$(/usr/bin/time -v -o "$dir/time" target/release/flowlogs-pipeline \
    --config "$dir/synthetic.yaml" | wc -l)
  awk -v n="$count" -v o="$lines" -F': ' '
    /Elapsed \(wall clock\)/ { split($2, t, ":"); wall = t[1] * 60 + t[2] }
    /User time/ { u = $2 } /System time/ { y = $2 } /Maximum resident/ { r = $2 }
    END { printf "synthetic %d flows, %d out (both cores): %.2f s wall, %.2f CPU-s (%.2f user + %.2f sys), %d MB max RSS\n",
      n, o, wall, u + y, u, y, r / 1024 }' "$dir/time"
done
