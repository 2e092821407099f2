#!/usr/bin/env bash
# Rebuilds flows.bpf.o from flows.c (needs clang and libbpf-dev: `apt-get install -y clang
# libbpf-dev`). The object is committed so the workspace builds without clang; .ci/run rebuilds it
# and checks it is identical. -ffile-prefix-map keeps the checkout path out of the debug info
# (BTF, which aya needs for the map with a spin lock).
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-flows.bpf.o}"
clang -O2 -g -target bpf -mcpu=v3 \
  -I/usr/include/x86_64-linux-gnu \
  -ffile-prefix-map="$PWD"=. \
  -c flows.c -o "$out"
