#!/usr/bin/env bash
# The main job on the example crash, end to end on this machine:
#   1. build examples/crash.c and let it crash into a real kernel core,
#   2. corepack collect: bundle the core with the exact executable and libraries,
#   3. corepack inspect: what the core says,
#   4. corepack replay --batch: unpack the bundle and print every thread's backtrace in gdb,
#   5. corepack report: the crash as support reads it, for a ticket: report.md
#      (Markdown), report.html (one page), and the same on the terminal.
# Everything is written under examples/out/ ($COREPACK_EXAMPLE_OUT if set).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corepack=("$(command -v node)" "$here/../bin/corepack.js")
out="${COREPACK_EXAMPLE_OUT:-$here/out}"   # the test runs it elsewhere
rm -rf "$out"
mkdir -p "$out"
cd "$out"

gcc -g -O0 -pthread -o crash "$here/crash.c" -ldl

# A real kernel core where the kernel writes one here; gdb's gcore where
# core_pattern hands cores to a daemon (systemd-coredump, apport).
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null || echo core)
if [[ "$pattern" != \|* ]]; then
  (ulimit -c unlimited; ./crash) || true
fi
core=$(ls -t core* 2>/dev/null | head -n 1 || true)
if [[ -z "$core" ]]; then
  echo "(no kernel core here: core_pattern is '$pattern'; using gdb's gcore)"
  gdb -batch -nx -ex run -ex 'gcore core.example' ./crash >/dev/null
  core=core.example
fi
echo "crashed: $out/$core"
echo

echo "\$ corepack-crash collect $core -e crash -o crash.tbz2"
"${corepack[@]}" collect "$core" -e crash -o crash.tbz2
echo
echo "\$ corepack-crash inspect $core"
"${corepack[@]}" inspect "$core"
echo
echo "\$ corepack-crash replay --batch --dir replay crash.tbz2"
"${corepack[@]}" replay --batch --dir replay crash.tbz2
echo
echo "\$ corepack-crash report crash.tbz2 -o report.md && corepack-crash report crash.tbz2 -o report.html"
"${corepack[@]}" report crash.tbz2 --dir replay -o report.md
"${corepack[@]}" report crash.tbz2 --dir replay -o report.html
echo
echo "\$ corepack-crash report crash.tbz2 --format text"
"${corepack[@]}" report crash.tbz2 --dir replay --format text
