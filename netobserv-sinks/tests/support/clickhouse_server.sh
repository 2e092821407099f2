#!/usr/bin/env bash
# Starts a private ClickHouse server (Debian's clickhouse-server, 18.16) listening on 127.0.0.1
# only, with every file it writes under DIR, and prints its pid. Used by
# .ci/services.d/clickhouse.sh (the shared server) and by the tests' support module (private
# servers a test may kill and restart: same DIR, same ports, data kept).
#
#   clickhouse_server.sh DIR HTTP_PORT TCP_PORT INTERSERVER_PORT [HTTPS_PORT CERT KEY [CLIENT_CA]]
#
# With HTTPS_PORT it serves HTTPS there too, with the PEM certificate CERT and key KEY (the
# `<openSSL><server>` section); with CLIENT_CA it asks for a client certificate signed by it and
# refuses connections without one (`verificationMode` strict).
set -euo pipefail
dir="$1" http_port="$2" tcp_port="$3" interserver_port="$4"
https_port="${5:-}" cert="${6:-}" key="${7:-}" client_ca="${8:-}"
https=() ssl=(-e "/<dhParamsFile>/d")
if [ -n "$https_port" ]; then
    https=(-e "s#<tcp_port>.*</tcp_port>#&<https_port>$https_port</https_port>#")
    ssl+=(-e "s#<certificateFile>.*</certificateFile>#<certificateFile>$cert</certificateFile>#"
          -e "s#<privateKeyFile>.*</privateKeyFile>#<privateKeyFile>$key</privateKeyFile>#")
    if [ -n "$client_ca" ]; then
        ssl+=(-e "s#<verificationMode>none</verificationMode>#<verificationMode>strict</verificationMode><caConfig>$client_ca</caConfig>#"
              -e "s#<loadDefaultCAFile>true</loadDefaultCAFile>#<loadDefaultCAFile>false</loadDefaultCAFile>#")
    fi
fi
src=/etc/clickhouse-server
mkdir -p "$dir/data/tmp" "$dir/data/user_files" "$dir/data/format_schemas" "$dir/log"
# Config: the Debian one with paths moved into DIR, the ports given, 127.0.0.1 only.
sed -e "s#<log>.*</log>#<log>$dir/log/server.log</log>#" \
    -e "s#<errorlog>.*</errorlog>#<errorlog>$dir/log/server.err.log</errorlog>#" \
    -e "s#<path>/var/lib/clickhouse/</path>#<path>$dir/data/</path>#" \
    -e "s#<tmp_path>.*</tmp_path>#<tmp_path>$dir/data/tmp/</tmp_path>#" \
    -e "s#<user_files_path>.*</user_files_path>#<user_files_path>$dir/data/user_files/</user_files_path>#" \
    -e "s#<format_schema_path>.*</format_schema_path>#<format_schema_path>$dir/data/format_schemas/</format_schema_path>#" \
    -e "s#<http_port>.*</http_port>#<http_port>$http_port</http_port><listen_host>127.0.0.1</listen_host>#" \
    -e "s#<tcp_port>.*</tcp_port>#<tcp_port>$tcp_port</tcp_port>#" \
    -e "s#<interserver_http_port>.*</interserver_http_port>#<interserver_http_port>$interserver_port</interserver_http_port>#" \
    ${https[@]+"${https[@]}"} "${ssl[@]}" \
    "$src/config.xml" >"$dir/config.xml"
cp "$src/users.xml" "$dir/users.xml"
cd "$dir"
nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 </dev/null &
echo $!
