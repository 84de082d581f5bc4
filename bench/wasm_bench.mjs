// Browser benchmark driver (run by bench/wasm_compare.py): keel's npm package and
// onnxruntime-web (its CPU wasm build, one thread) on the same pipelines and rows, in one
// headless Chromium run.
//
//   node bench/wasm_bench.mjs CONFIG.json OUT.json
//
// CONFIG.json: {"keel_pkg", "ort_dist", "chromium", "out_dir" (bench/out: airbnb_NAME.keel,
// airbnb_NAME.onnx, airbnb_input.arrow, airbnb_input.json), "pipelines": [...],
// "numeric": [...], "categorical": [...], "single_calls", "batch_runs", "cold_runs"}
//
// Measured per pipeline and runtime:
// - cold start: in a fresh browser context (empty cache), from importing the library to the
//   first prediction (fetch + compile the wasm, fetch + load the model, score one row);
// - single row: one row in, the answer out, through each library's public API, mean over
//   many calls cycling through 256 rows;
// - batch: all rows at once (keel: Arrow IPC in and out; onnxruntime-web: one tensor per
//   column), best of a few runs.
// Transferred sizes (gzip -9 of what a page downloads) are computed here in Node.

import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { extname, join } from 'node:path';

const [configPath, outPath] = process.argv.slice(2);
const config = JSON.parse(await readFile(configPath, 'utf8'));
// playwright-core comes from wasm/'s npm packages (the tests' driver of the same Chromium).
const ROOT = join(import.meta.dirname, '..');
const { chromium } = await import(join(ROOT, 'wasm', 'node_modules', 'playwright-core', 'index.mjs'));

const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const ROOTS = { '/keel/': config.keel_pkg, '/ort/': config.ort_dist, '/data/': config.out_dir };

const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://127.0.0.1').pathname;
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>keel browser benchmark</title>');
    return;
  }
  for (const [prefix, dir] of Object.entries(ROOTS)) {
    if (path.startsWith(prefix)) {
      try {
        const body = await readFile(join(dir, path.slice(prefix.length).replace(/\.\.+/g, '')));
        res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end();
      }
      return;
    }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;

async function gz(dir, names) {
  let total = 0;
  for (const n of names) total += gzipSync(await readFile(join(dir, n)), { level: 9 }).length;
  return total;
}

const sizes = {
  keel_gzip: await gz(config.keel_pkg, ['keel_wasm_bg.wasm', 'keel_wasm.js', 'index.js', 'shared.js', 'worker-client.js']),
  keel_wasm_raw: (await readFile(join(config.keel_pkg, 'keel_wasm_bg.wasm'))).length,
  ort_gzip: await gz(config.ort_dist, ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs', 'ort.wasm.min.mjs']),
  ort_wasm_raw: (await readFile(join(config.ort_dist, 'ort-wasm-simd-threaded.wasm'))).length,
};

async function coldStart(browser, kind, name, rows) {
  const times = [];
  for (let i = 0; i < config.cold_runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    const t = await page.evaluate(async ({ kind, name, row, numeric, categorical }) => {
      const t0 = performance.now();
      if (kind === 'keel') {
        const { Bundle } = await import('/keel/index.js');
        const bundle = await Bundle.load(`/data/airbnb_${name}.keel`);
        bundle.transformOne(row);
      } else {
        const ort = await import('/ort/ort.wasm.min.mjs');
        ort.env.wasm.wasmPaths = '/ort/';
        ort.env.wasm.numThreads = 1;
        const session = await ort.InferenceSession.create(`/data/airbnb_${name}.onnx`);
        const feed = {};
        for (const c of numeric) feed[c] = new ort.Tensor('float32', Float32Array.from([row[c] ?? NaN]), [1, 1]);
        for (const c of categorical) feed[c] = new ort.Tensor('string', [String(row[c])], [1, 1]);
        await session.run(feed);
      }
      return performance.now() - t0;
    }, { kind, name, row: rows[0], numeric: config.numeric, categorical: config.categorical });
    times.push(t);
    await context.close();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function warm(page, name) {
  return page.evaluate(async ({ name, numeric, categorical, calls, runs }) => {
    const columns = await (await fetch('/data/airbnb_input.json')).json();
    const n = columns[numeric[0]].length;
    const names = [...numeric, ...categorical];
    const rows = Array.from({ length: 256 }, (_, i) => Object.fromEntries(names.map((c) => [c, columns[c][i]])));
    const arrow = new Uint8Array(await (await fetch('/data/airbnb_input.arrow')).arrayBuffer());
    const out = {};

    const { Bundle } = await import('/keel/index.js');
    const bundle = await Bundle.load(`/data/airbnb_${name}.keel`);
    for (let i = 0; i < 200; i++) bundle.transformOne(rows[i % 256]);
    let t0 = performance.now();
    for (let i = 0; i < calls; i++) bundle.transformOne(rows[i % 256]);
    out.keel_single_ms = (performance.now() - t0) / calls;
    let best = Infinity;
    for (let r = 0; r < runs; r++) {
      t0 = performance.now();
      bundle.transform(arrow);
      best = Math.min(best, performance.now() - t0);
    }
    out.keel_batch_ms = best;

    const ort = await import('/ort/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    const session = await ort.InferenceSession.create(`/data/airbnb_${name}.onnx`);
    const feedOf = (rowsIn) => {
      const feed = {};
      for (const c of numeric) feed[c] = new ort.Tensor('float32', Float32Array.from(rowsIn.map((r) => r[c] ?? NaN)), [rowsIn.length, 1]);
      for (const c of categorical) feed[c] = new ort.Tensor('string', rowsIn.map((r) => String(r[c])), [rowsIn.length, 1]);
      return feed;
    };
    for (let i = 0; i < 200; i++) await session.run(feedOf([rows[i % 256]]));
    t0 = performance.now();
    for (let i = 0; i < calls; i++) await session.run(feedOf([rows[i % 256]]));
    out.ort_single_ms = (performance.now() - t0) / calls;
    const big = {};
    for (const c of numeric) big[c] = new ort.Tensor('float32', Float32Array.from(columns[c], (v) => v ?? NaN), [n, 1]);
    for (const c of categorical) big[c] = new ort.Tensor('string', columns[c].map(String), [n, 1]);
    best = Infinity;
    for (let r = 0; r < runs; r++) {
      t0 = performance.now();
      await session.run(big);
      best = Math.min(best, performance.now() - t0);
    }
    out.ort_batch_ms = best;
    out.rows = n;
    return out;
  }, { name, numeric: config.numeric, categorical: config.categorical, calls: config.single_calls, runs: config.batch_runs });
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const results = { sizes, pipelines: {} };
try {
  const columns = JSON.parse(await readFile(join(config.out_dir, 'airbnb_input.json'), 'utf8'));
  const names = [...config.numeric, ...config.categorical];
  const rows = [Object.fromEntries(names.map((c) => [c, columns[c][0]]))];
  for (const name of config.pipelines) {
    const r = {};
    r.keel_cold_ms = await coldStart(browser, 'keel', name, rows);
    r.ort_cold_ms = await coldStart(browser, 'ort', name, rows);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/`);
    Object.assign(r, await warm(page, name));
    await context.close();
    results.pipelines[name] = r;
    console.error(`measured ${name}: ${JSON.stringify(r)}`);
  }
} finally {
  await browser.close();
  server.close();
}
await writeFile(outPath, JSON.stringify(results, null, 1));
