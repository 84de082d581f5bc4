// The WASI scoring module (keel-wasi.wasm, built by `wasm/build.sh DIR --wasi`) under Node's
// WASI preview 1 host: the bundle read from a preopened folder, CSV rows on stdin, scores on
// stdout equal to scikit-learn's predictions; refused input is one JSON error line on stderr
// and exit status 1; a bundle outside the preopened folders cannot be read. KEEL_WASM_PKG names
// the package folder holding the module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WASI } from 'node:wasi';

const ROOT = resolve(import.meta.dirname, '../..');
const PKG = process.env.KEEL_WASM_PKG;
if (!PKG) throw new Error('KEEL_WASM_PKG is not set: build with wasm/build.sh DIR --wasi');
const module = await WebAssembly.compile(readFileSync(join(PKG, 'keel-wasi.wasm')));
const DEMO = join(ROOT, 'fixtures/demo');
const EXPECTED = readFileSync(join(DEMO, 'airbnb_expected.csv'), 'utf8').trim().split('\n').slice(1).map(Number);

// Runs the module with `args`, `input` on stdin; answers {status, stdout, stderr}.
async function run(args, input) {
  const dir = mkdtempSync(join(tmpdir(), 'keel-wasi-'));
  try {
    writeFileSync(join(dir, 'in'), input);
    const fds = [openSync(join(dir, 'in'), 'r'), openSync(join(dir, 'out'), 'w'), openSync(join(dir, 'err'), 'w')];
    const wasi = new WASI({
      version: 'preview1',
      args: ['keel-wasi', ...args],
      env: {},
      preopens: { '/demo': DEMO },
      stdin: fds[0],
      stdout: fds[1],
      stderr: fds[2],
      returnOnExit: true,
    });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    const status = wasi.start(instance);
    fds.forEach((fd) => closeSync(fd));
    return { status, stdout: readFileSync(join(dir, 'out'), 'utf8'), stderr: readFileSync(join(dir, 'err'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function close(got, want) {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 1e-9 * Math.max(1, Math.abs(want[i])), `row ${i}: ${g} vs ${want[i]}`));
}

test('scores CSV from stdin to JSON lines on stdout, as scikit-learn predicts', async () => {
  const csv = readFileSync(join(DEMO, 'airbnb.csv'));
  const r = await run(['/demo/airbnb_linear.keel', '--format', 'csv', '--output-format', 'jsonl'], csv);
  assert.equal(r.status, 0, r.stderr);
  close(r.stdout.trim().split('\n').map((l) => JSON.parse(l).prediction), EXPECTED);
  const same = await run(['/demo/airbnb_linear.keel', '--format', 'csv', '--batch-size', '4'], csv);
  assert.equal(same.status, 0, same.stderr);
  close(same.stdout.trim().split('\n').slice(1).map(Number), EXPECTED);
});

test('refused input is one JSON error line and exit status 1; usage mistakes exit 2', async () => {
  const lines = readFileSync(join(DEMO, 'airbnb.csv'), 'utf8').trim().split('\n');
  lines[3] = lines[3].replace(/^[^,]*/, 'two');
  const r = await run(['/demo/airbnb_linear.keel', '--format', 'csv'], lines.join('\n'));
  assert.equal(r.status, 1);
  const e = JSON.parse(r.stderr.trim()).error;
  assert.deepEqual([e.code, e.column, e.row], ['bad_value', 'bathrooms', 2]);
  const usage = await run(['/demo/airbnb_linear.keel', '--format', 'xml'], '');
  assert.equal(usage.status, 2);
  assert.equal(JSON.parse(usage.stderr.trim()).error.code, 'usage');
});

test('a bundle outside the preopened folders cannot be read', async () => {
  const r = await run([join(ROOT, 'fixtures/demo/airbnb_linear.keel')], '');
  assert.equal(r.status, 1);
  assert.equal(JSON.parse(r.stderr.trim()).error.code, 'read_bundle');
});
