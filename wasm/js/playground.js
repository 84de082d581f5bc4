// The playground page (playground.html): opens a bundle in a KeelWorker and scores the rows typed
// or dropped into it; nothing leaves the tab.

import { KeelWorker } from './index.js';

const worker = new KeelWorker();
let bundle = null;
const $ = (id) => document.getElementById(id);

function text(node, value) { node.textContent = value; return node; }
function cell(tag, value) { return text(document.createElement(tag), value); }
function shown(v) { return v === null || v === undefined ? 'null' : typeof v === 'object' ? JSON.stringify(v) : String(v); }

function showSchema(schema) {
  const body = $('schema').tBodies[0];
  body.replaceChildren();
  for (const [dir, fields] of [['input', schema.inputs], ['output', schema.outputs]]) {
    for (const f of fields) {
      const tr = document.createElement('tr');
      tr.append(cell('td', f.name), cell('td', dir), cell('td', f.dtype), cell('td', JSON.stringify(f.shape)));
      body.append(tr);
    }
  }
}

function graphList(node) {
  const ul = document.createElement('ul');
  ul.className = 'graph';
  const li = document.createElement('li');
  li.append(cell('strong', node.name), document.createTextNode(` [${node.op}]`));
  if (node.summary) li.append(cell('div', node.summary));
  for (const child of node.children ?? []) li.append(graphList(child));
  ul.append(li);
  return ul;
}

function example(schema) {
  const value = (f) => f.dtype === 'utf8' ? 'a' : f.dtype === 'bool' ? 'true' : '0';
  const flat = schema.inputs.filter((f) => f.shape.length === 0);
  if (flat.length === schema.inputs.length) {
    return flat.map((f) => f.name).join(',') + '\n' + flat.map(value).join(',') + '\n';
  }
  return JSON.stringify([Object.fromEntries(schema.inputs.map((f) => [f.name, null]))], null, 1);
}

async function open(file) {
  $('error').textContent = '';
  $('bundle-status').textContent = `Reading ${file.name}…`;
  try {
    if (bundle) await bundle.free();
    bundle = await worker.load(await file.arrayBuffer());
  } catch (e) {
    bundle = null;
    $('bundle-status').textContent = `${file.name}: ${e.code ? `[${e.code}] ` : ''}${e.message}`;
    $('about').hidden = $('scoring').hidden = true;
    return;
  }
  const m = bundle.metadata;
  $('bundle-status').textContent = `${m.name} · ${m.producer.framework || m.producer.name} · format ${m.formatVersion} · ${file.size} bytes`;
  showSchema(bundle.schema);
  $('graph').replaceChildren(graphList(bundle.describe().graph));
  $('rows').value = example(bundle.schema);
  $('about').hidden = $('scoring').hidden = false;
  $('score').disabled = false;
}

function showRows(rows) {
  const table = $('output');
  table.replaceChildren();
  if (rows.length === 0) return;
  const names = Object.keys(rows[0]);
  const head = document.createElement('tr');
  for (const n of names) head.append(cell('th', n));
  table.append(head);
  for (const r of rows) {
    const tr = document.createElement('tr');
    for (const n of names) tr.append(cell('td', shown(r[n])));
    table.append(tr);
  }
}

async function score() {
  $('error').textContent = '';
  $('timing').textContent = '';
  const input = $('rows').value.trim();
  const started = performance.now();
  try {
    let rows;
    if (input.startsWith('[')) {
      rows = await bundle.transform(JSON.parse(input));
    } else {
      const format = input.startsWith('{') ? 'jsonl' : 'csv';
      const out = await bundle.transformText(input + '\n', { format, outputFormat: 'jsonl' });
      rows = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    }
    showRows(rows);
    $('timing').textContent = `${rows.length} row${rows.length === 1 ? '' : 's'} in ${(performance.now() - started).toFixed(1)} ms`;
  } catch (e) {
    $('output').replaceChildren();
    const where = [e.column ? `column ${e.column}` : '', e.row !== null && e.row !== undefined ? `row ${e.row}` : ''].filter(Boolean).join(', ');
    $('error').textContent = `${e.code ? `[${e.code}] ` : ''}${e.message}${where ? ` (${where})` : ''}`;
  }
}

$('bundle-file').addEventListener('change', (e) => e.target.files[0] && open(e.target.files[0]));
$('rows-file').addEventListener('change', async (e) => { if (e.target.files[0]) $('rows').value = await e.target.files[0].text(); });
$('score').addEventListener('click', score);
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) open(e.dataTransfer.files[0]); });
window.keelPlayground = { ready: true };
