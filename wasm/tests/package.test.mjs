// The npm package's API in Node (`node --test wasm/tests/`): every way of loading a bundle and
// every input form, answers against scikit-learn's own predictions, the errors a user can meet
// (with the runtime's codes, columns and rows), and installing the packed package into a fresh
// project. KEEL_WASM_PKG names the built package (wasm/build.sh); scripts/test sets it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../..');
const PKG = process.env.KEEL_WASM_PKG;
if (!PKG) throw new Error('KEEL_WASM_PKG is not set: build the package with wasm/build.sh DIR and point it there');
const { Bundle, KeelError } = await import(pathToFileURL(join(PKG, 'index.js')));

const DEMO = join(ROOT, 'fixtures/demo/airbnb_linear.keel');
const CSV = readFileSync(join(ROOT, 'fixtures/demo/airbnb.csv'), 'utf8');
// scikit-learn's predictions for airbnb.csv (fixtures/demo.py).
const EXPECTED = readFileSync(join(ROOT, 'fixtures/demo/airbnb_expected.csv'), 'utf8')
  .trim().split('\n').slice(1).map(Number);

function csvRows(text) {
  const [header, ...lines] = text.trim().split('\n');
  const names = header.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v === '' ? null : Number.isNaN(Number(v)) ? v : Number(v)])));
}
const ROWS = csvRows(CSV);

function close(got, want) {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= 1e-9 * Math.max(1, Math.abs(want[i])), `row ${i}: ${g} vs ${want[i]}`));
}

async function throwsKeel(f, fields) {
  let error;
  try { await f(); } catch (e) { error = e; }
  assert.ok(error instanceof KeelError, `expected a KeelError, got ${error}`);
  for (const [k, v] of Object.entries(fields)) {
    if (v instanceof RegExp) assert.match(error[k], v); else assert.equal(error[k], v, `${k} of ${error.message}`);
  }
  return error;
}

test('loads from a path, a file URL, bytes and an ArrayBuffer, with the manifest as schema and metadata', async () => {
  const bytes = readFileSync(DEMO);
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  for (const source of [DEMO, pathToFileURL(DEMO), new Uint8Array(bytes), ab]) {
    const b = await Bundle.load(source);
    assert.equal(b.metadata.name, 'airbnb_linear');
    assert.equal(b.metadata.producer.framework, 'scikit-learn');
    assert.deepEqual(b.schema.inputs.map((f) => f.name), Object.keys(ROWS[0]));
    assert.deepEqual(b.schema.outputs.map((f) => [f.name, f.dtype]), [['prediction', 'f64']]);
    assert.equal(b.describe().graph.op.length > 0, true);
    b.free();
  }
});

test('rows, columns, one row and CSV text all give scikit-learn\'s predictions', async () => {
  const b = await Bundle.load(DEMO);
  close(b.transform(ROWS).map((r) => r.prediction), EXPECTED);
  const columns = Object.fromEntries(Object.keys(ROWS[0]).map((k) => [k, ROWS.map((r) => r[k])]));
  close(b.transform(columns).prediction, EXPECTED);
  close([b.transformOne(ROWS[3]).prediction], [EXPECTED[3]]);
  const lines = b.transformText(CSV, { format: 'csv', outputFormat: 'jsonl' }).trim().split('\n');
  close(lines.map((l) => JSON.parse(l).prediction), EXPECTED);
  const csvOut = b.transformText(CSV).trim().split('\n');
  assert.equal(csvOut[0], 'prediction');
  close(csvOut.slice(1).map(Number), EXPECTED);
  // Arrow IPC out: a stream that starts with the IPC continuation marker.
  const ipc = b.transformText(CSV, { outputFormat: 'arrows' });
  assert.ok(ipc instanceof Uint8Array && ipc.length > 100);
  assert.deepEqual([...ipc.slice(0, 4)], [0xff, 0xff, 0xff, 0xff]);
  // Small batches give the same answers.
  const small = b.transformText(CSV, { outputFormat: 'jsonl', batchSize: 3 }).trim().split('\n');
  close(small.map((l) => JSON.parse(l).prediction), EXPECTED);
});

test('refused inputs throw KeelError with the code, column and row, and the bundle keeps scoring', async () => {
  const b = await Bundle.load(DEMO);
  const { bathrooms, ...noBathrooms } = ROWS[0];
  await throwsKeel(() => b.transform([noBathrooms]), { code: 'missing_column', column: 'bathrooms' });
  await throwsKeel(() => b.transform([{ ...ROWS[0], colour: 'red' }]), { code: 'extra_column', column: 'colour' });
  close([b.transform([{ ...ROWS[0], colour: 'red' }], { ignoreExtraColumns: true })[0].prediction], [EXPECTED[0]]);
  const bad = CSV.trim().split('\n');
  bad[4] = bad[4].replace(/^[^,]*/, 'two');
  await throwsKeel(() => b.transformText(bad.join('\n')), { code: 'bad_value', column: 'bathrooms', row: 3 });
  await throwsKeel(() => b.transform({ bathrooms: [1, 2], bedrooms: [1] }), { code: /row_count|missing_column/ });
  await throwsKeel(() => b.transform(new Uint8Array([0xff, 0xff, 0xff, 0xff, 9, 9, 9, 9, 1, 2])), { code: 'malformed_arrow' });
  assert.throws(() => b.transform('rows'), TypeError);
  close(b.transform(ROWS).map((r) => r.prediction), EXPECTED);
});

test('an unknown category names its column and row', async () => {
  const io = JSON.parse(readFileSync(join(ROOT, 'fixtures/sklearn/mixed_ohe_error_linreg/io.json'), 'utf8'));
  const b = await Bundle.load(join(ROOT, 'fixtures/sklearn/mixed_ohe_error_linreg/model.keel'));
  const rows = io.inputs.age.slice(0, 3).map((_, i) => Object.fromEntries(Object.keys(io.inputs).map((k) => [k, io.inputs[k][i]])));
  rows[2] = { ...rows[2], room: 'treehouse' };
  await throwsKeel(() => b.transform(rows), { code: 'unknown_category', column: 'room', row: 2 });
});

test('bundles the native reader refuses are refused with its code', async () => {
  const bytes = readFileSync(DEMO);
  await throwsKeel(() => Bundle.load(new TextEncoder().encode('not a bundle')), { code: 'bundle' });
  await throwsKeel(() => Bundle.load(bytes.subarray(0, bytes.length - 200)), { code: 'bundle' });
  await throwsKeel(() => Bundle.load(bytes, { maxBytes: 1000 }), { code: 'bundle' });
  await assert.rejects(() => Bundle.load(42), TypeError);
});

test('a failed or truncated download is a KeelError, not a half-read bundle', async () => {
  const bytes = readFileSync(DEMO);
  const server = createServer((req, res) => {
    if (req.url === '/missing.keel') { res.writeHead(404); res.end(); return; }
    if (req.url === '/whole.keel') { res.writeHead(200, { 'content-length': bytes.length }); res.end(bytes); return; }
    // Announces the whole length, sends half, and hangs up.
    res.writeHead(200, { 'content-length': bytes.length });
    res.write(bytes.subarray(0, bytes.length >> 1), () => res.destroy());
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    await throwsKeel(() => Bundle.load(`${base}/missing.keel`), { code: 'fetch', message: /404/ });
    let error;
    try { await Bundle.load(`${base}/cut.keel`); } catch (e) { error = e; }
    // Node's fetch reports the cut connection itself, or keel's reader finds the zip incomplete.
    assert.ok(error, 'a truncated download must not load');
    const whole = await Bundle.load(`${base}/whole.keel`);
    close([whole.transformOne(ROWS[0]).prediction], [EXPECTED[0]]);
  } finally {
    server.close();
  }
});

test('the packed package installs into a fresh project and scores', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-npm-'));
  try {
    const packed = execFileSync('npm', ['pack', PKG, '--pack-destination', dir, '--silent'], { encoding: 'utf8' }).trim().split('\n').pop();
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'fresh', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(dir, packed)], { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'main.js'), `
      import { Bundle } from 'keel-wasm';
      const b = await Bundle.load(${JSON.stringify(DEMO)});
      console.log(JSON.stringify(b.transform(${JSON.stringify(ROWS.slice(0, 2))}).map((r) => r.prediction)));
    `);
    const out = JSON.parse(execFileSync('node', ['main.js'], { cwd: dir, encoding: 'utf8' }));
    close(out, EXPECTED.slice(0, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
