#!/bin/sh
# Regenerates the committed vmlinux.h from the running kernel's BTF. CO-RE relocations
# make the BPF objects built against it load on other BTF-enabled kernels.
set -eu
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
out="$(dirname "$0")/$arch/vmlinux.h"
bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out"
echo "wrote $out"
