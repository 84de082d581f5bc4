#!/usr/bin/env bash
# Builds keel's npm package (the browser build) into OUT_DIR, and with --wasi the WASI scoring
# module (OUT_DIR/keel-wasi.wasm) too.
#
# Usage: wasm/build.sh OUT_DIR [--wasi] [--skip-opt]
#
# Steps: cargo builds wasm/browser for wasm32-unknown-unknown (profile `wasm`: size first, SIMD128
# on); the pinned wasm-bindgen CLI writes the JS glue (no wasm-pack: it downloads binaries at run
# time); binaryen's wasm-opt (npm, wasm/package.json) shrinks the module; the ES module, types,
# Web Worker helper and playground page of wasm/js are copied beside it with a package.json.
#
# Installs what is missing, saying so first: the wasm32 targets (rustup), wasm-bindgen-cli at the
# version Cargo.lock pins (cargo install into $KEEL_TOOLS, default ~/.cache/keel-tools; about 4
# minutes, once), binaryen and playwright-core (npm ci in wasm/).
#
# Environment: CARGO_TARGET_DIR (the wasm builds go to its wasm/ subfolder, so their flags never
# invalidate the host builds), KEEL_TOOLS.
set -euo pipefail
# The repository's root, wherever the script is called from (or through a link).
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

OUT=""
WASI=false
OPT=true
for arg in "$@"; do
  case "$arg" in
    --wasi) WASI=true ;;
    --skip-opt) OPT=false ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "wasm/build.sh: unknown option $arg" >&2; exit 2 ;;
    *) OUT=$arg ;;
  esac
done
if [ -z "$OUT" ]; then
  echo "usage: wasm/build.sh OUT_DIR [--wasi] [--skip-opt]" >&2
  exit 2
fi
# OUT_DIR is relative to where the script was called from, not to the root it works in.
OUT=$(realpath -m "$OUT")
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WASM_TARGET=$TARGET/wasm
TOOLS=${KEEL_TOOLS:-$HOME/.cache/keel-tools}
BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
BINDGEN=$TOOLS/bin/wasm-bindgen

say() { printf 'wasm/build.sh: %s\n' "$*" >&2; }

if command -v rustup >/dev/null 2>&1; then
  for t in wasm32-unknown-unknown wasm32-wasip1; do
    if ! rustup target list --installed | grep -qx "$t"; then
      say "installing the Rust target $t (rustup)"
      rustup target add "$t" >/dev/null
    fi
  done
fi

if ! { [ -x "$BINDGEN" ] && "$BINDGEN" --version | grep -q " $BINDGEN_VERSION\$"; }; then
  say "installing wasm-bindgen-cli $BINDGEN_VERSION into $TOOLS (cargo install; about 4 minutes, once)"
  # Without --locked: the CLI's own lock file names a crate version the registry lacks.
  cargo install -q wasm-bindgen-cli --version "$BINDGEN_VERSION" --root "$TOOLS"
fi

if $OPT && [ ! -x wasm/node_modules/.bin/wasm-opt ]; then
  say "installing binaryen and playwright-core (npm ci in wasm/)"
  (cd wasm && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

say "building keel-wasm (cargo, profile wasm, wasm32-unknown-unknown)"
CARGO_TARGET_DIR=$WASM_TARGET RUSTFLAGS="-C target-feature=+simd128" \
  cargo build --locked -q --profile wasm --target wasm32-unknown-unknown -p keel-wasm

mkdir -p "$OUT"
"$BINDGEN" --target web --out-dir "$OUT" --out-name keel_wasm \
  "$WASM_TARGET/wasm32-unknown-unknown/wasm/keel_wasm.wasm"
rm -f "$OUT/keel_wasm_bg.wasm.d.ts"

if $OPT; then
  # wasm-opt takes a minute on this module; its answer for the same input is kept, so a rebuild
  # with nothing changed costs seconds.
  key=$(sha256sum "$OUT/keel_wasm_bg.wasm" | cut -c1-32)
  cached=$WASM_TARGET/wasm-opt-cache/$key.wasm
  if [ -f "$cached" ]; then
    say "shrinking the module: unchanged since the last build, reusing wasm-opt's output"
  else
    say "shrinking the module (wasm-opt -Os)"
    mkdir -p "$WASM_TARGET/wasm-opt-cache"
    rm -f "$WASM_TARGET"/wasm-opt-cache/*.wasm
    wasm/node_modules/.bin/wasm-opt -Os --enable-simd --enable-bulk-memory --enable-reference-types \
      --enable-multivalue --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      "$OUT/keel_wasm_bg.wasm" -o "$cached.part"
    mv "$cached.part" "$cached"
  fi
  cp "$cached" "$OUT/keel_wasm_bg.wasm"
fi

cp wasm/js/index.js wasm/js/index.d.ts wasm/js/shared.js wasm/js/worker.js wasm/js/worker-client.js \
  wasm/js/playground.html wasm/js/playground.js wasm/js/playground.css wasm/js/README.md "$OUT/"
VERSION=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
sed "s/@VERSION@/$VERSION/" wasm/js/package.json > "$OUT/package.json"

if $WASI; then
  say "building keel-wasi (cargo, profile wasm, wasm32-wasip1)"
  CARGO_TARGET_DIR=$WASM_TARGET RUSTFLAGS="-C target-feature=+simd128" \
    cargo build --locked -q --profile wasm --target wasm32-wasip1 -p keel-wasi
  cp "$WASM_TARGET/wasm32-wasip1/wasm/keel-wasi.wasm" "$OUT/keel-wasi.wasm"
fi

raw=$(wc -c < "$OUT/keel_wasm_bg.wasm")
gz=$(gzip -9 -c "$OUT/keel_wasm_bg.wasm" | wc -c)
say "package in $OUT: keel_wasm_bg.wasm $raw bytes, $gz gzipped"
