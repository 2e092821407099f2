# Prometheus (Debian's 2.42) for netobserv-sinks/tests/prom.rs: installed only. The test starts
# its own server (a temp config scraping the test pipeline every second) and stops it.
# Sourced by .ci/run under `set -euo pipefail`.
apt-get install -y -qq prometheus >/dev/null
# The package may start a system server on :9090 where an init system runs; the tests need none
# (and the console's default port is 9090): stop it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
for pid in $(pgrep -x prometheus || true); do
  kill "$pid" 2>/dev/null || true
done
prometheus --version | head -n 1
