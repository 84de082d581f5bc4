#!/usr/bin/env bash
# Builds keel-spark.jar: the JVM engine's Java classes (jvm/java) with the native library
# (crate keel-jvm) packed inside, so `spark.jars` alone ships both to every executor.
#
#   jvm/build.sh [OUT.jar]     default: $CARGO_TARGET_DIR (or target/)/keel-spark.jar
#
# Needs cargo, a JDK (javac, jar; 17 or newer) and pyspark (its jars are the compile class
# path; PYTHON names the interpreter that has it, default python3). KEEL_JVM_PROFILE picks the
# cargo profile (release, the default, or dev for a quick test build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=${1:-$target/keel-spark.jar}
profile=${KEEL_JVM_PROFILE:-release}
python=${PYTHON:-python3}

for tool in cargo javac jar; do
  command -v "$tool" >/dev/null || { echo "jvm/build.sh: $tool not found (install a JDK 17+ / Rust)" >&2; exit 1; }
done
jars=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')

cargo build --locked --profile "$profile" -p keel-jvm --manifest-path "$root/Cargo.toml"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
lib=$target/$dir/libkeel_jvm.so

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/classes/dev/keel/spark/native"
javac --release 17 -Xlint:all,-processing,-serial,-options,-path -Werror -cp "$jars/*" \
  -d "$work/classes" "$root"/jvm/java/dev/keel/spark/*.java
# Debug info is most of the library's size and is not needed inside executors.
strip --strip-debug -o "$work/classes/dev/keel/spark/native/libkeel_jvm.so" "$lib"
mkdir -p "$(dirname "$out")"
jar --create --file "$out" -C "$work/classes" .
echo "$out"
