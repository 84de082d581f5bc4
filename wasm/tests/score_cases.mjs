// Scores a list of cases with keel's npm package, in Node or in headless Chromium, for the
// conformance targets of wasm/browser/tests/conformance.rs (which compares the answers with the
// frameworks' references; this script only scores).
//
//   node score_cases.mjs PKG_DIR JOB.json OUT.json [--chromium PATH]
//
// JOB.json: {"cases": [{"id", "bundle": "/path/model.keel", "rows": [{...}, ...],
//                       "ipc_in", "ipc_out" (Node: the inputs as an Arrow IPC stream, and where
//                       the answer's stream goes)}],
//            "playground": {"id", "bundle", "rows", "url" (optional: the page's address, e.g.
//                           a `keel serve --playground` one)} (optional, Chromium only)}
// OUT.json: {"results": {id: {"rows": [...]} | {"error": {code, message, column, row}}},
//            "arrow": {id: {"file"} | {"error"}} (Node),
//            "worker": {"id", "rows"}, "playground": {"id", "rows"} | {"error"}}
// In Chromium the package, the bundles and a blank page are served from a loopback HTTP server;
// bundles are fetched by URL as a page would. `worker` is the first case scored again through
// KeelWorker; `playground` is a case typed into playground.html as JSON rows, read back from
// its result table.

import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';

const [pkg, jobPath, outPath, flag, chromiumPath] = process.argv.slice(2);
if (!pkg || !jobPath || !outPath || (flag && flag !== '--chromium')) {
  console.error('usage: node score_cases.mjs PKG_DIR JOB.json OUT.json [--chromium PATH]');
  process.exit(2);
}
const job = JSON.parse(await readFile(jobPath, 'utf8'));

function errorOf(e) {
  return { code: e.code ?? null, message: String(e.message ?? e), column: e.column ?? null, row: e.row ?? null };
}

async function inNode() {
  const { Bundle } = await import(resolve(pkg, 'index.js'));
  const results = {};
  const arrow = {};
  for (const c of job.cases) {
    let bundle;
    try {
      bundle = await Bundle.load(c.bundle);
      results[c.id] = { rows: bundle.transform(c.rows) };
    } catch (e) {
      results[c.id] = { error: errorOf(e) };
    }
    // The same inputs as an Arrow IPC stream, answered as one (NaN stays NaN there).
    if (bundle && c.ipc_in) {
      try {
        await writeFile(c.ipc_out, bundle.transform(new Uint8Array(await readFile(c.ipc_in))));
        arrow[c.id] = { file: c.ipc_out };
      } catch (e) {
        arrow[c.id] = { error: errorOf(e) };
      }
    }
    bundle?.free();
  }
  return { results, arrow };
}

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

function serve() {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      let file;
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>keel wasm conformance</title>');
        return;
      } else if (url.pathname.startsWith('/pkg/')) {
        file = join(pkg, url.pathname.slice(5).replace(/\.\.+/g, ''));
      } else if (url.pathname.startsWith('/bundle/')) {
        file = job.cases[Number(url.pathname.slice(8))]?.bundle;
      }
      if (!file) throw new Error('not found');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

async function inChromium() {
  const { chromium } = await import('playwright-core');
  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    await page.goto(`${base}/`);
    const cases = job.cases.map((c, i) => ({ id: c.id, url: `/bundle/${i}`, rows: c.rows }));
    const out = cases.length === 0 ? {} : await page.evaluate(async (cases) => {
      const { Bundle, KeelWorker } = await import('/pkg/index.js');
      const results = {};
      for (const c of cases) {
        try {
          const bundle = await Bundle.load(c.url);
          results[c.id] = { rows: bundle.transform(c.rows) };
          bundle.free();
        } catch (e) {
          results[c.id] = { error: { code: e.code ?? null, message: String(e.message ?? e), column: e.column ?? null, row: e.row ?? null } };
        }
      }
      // The first case again, through the Web Worker helper.
      const worker = new KeelWorker();
      const first = cases[0];
      const remote = await worker.load(first.url);
      const rows = await remote.transform(first.rows);
      worker.terminate();
      return { results, worker: { id: first.id, rows } };
    }, cases);
    if (logs.length) out.console = logs;
    if (job.playground) out.playground = await playground(browser, base);
    return out;
  } finally {
    await browser.close();
    server.close();
  }
}

// The playground as a person uses it: choose the bundle file, type rows, press Score, read the
// table.
async function playground(browser, base) {
  const p = job.playground;
  const page = await browser.newPage();
  try {
    // The page as this script serves it, or where the job says (`keel serve --playground`).
    await page.goto(p.url ?? `${base}/pkg/playground.html`);
    await page.setInputFiles('#bundle-file', p.bundle);
    await page.waitForSelector('#scoring:not([hidden])', { timeout: 30000 });
    await page.fill('#rows', JSON.stringify(p.rows));
    await page.click('#score');
    await page.waitForFunction(() => document.querySelector('#output tr') || document.querySelector('#error').textContent, null, { timeout: 30000 });
    const error = await page.textContent('#error');
    if (error) return { id: p.id, error: { code: null, message: error } };
    const rows = await page.evaluate(() => {
      const trs = [...document.querySelectorAll('#output tr')];
      const names = [...trs[0].querySelectorAll('th')].map((th) => th.textContent);
      const value = (t) => { try { return JSON.parse(t); } catch { return t; } };
      return trs.slice(1).map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td, i) => [names[i], value(td.textContent)])));
    });
    return { id: p.id, rows };
  } finally {
    await page.close();
  }
}

const out = flag ? await inChromium() : await inNode();
await writeFile(outPath, JSON.stringify(out));
