// keel serve's web page: lists the loaded models, draws a model's pipeline, and scores one row
// typed into a form generated from the model's input schema.
//
// Plain JavaScript with no dependency and no build step. The page runs under a strict
// Content-Security-Policy (no inline code, no eval, no other origin), so everything here talks
// only to this server's public API: what the page shows is what any API client would get.
'use strict';

(() => {
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const NUMERIC = new Set(['f64', 'f32', 'i64', 'i32']);
  const INTEGER = new Set(['i64', 'i32']);

  const $ = (id) => document.getElementById(id);

  /**
   * Creates an element. `attrs`: `text` sets the text, `on<event>` adds a listener, `false`,
   * `null` and `undefined` leave an attribute out, `true` sets it empty.
   */
  function h(tag, attrs, ...children) {
    const node = attrs && attrs.svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'svg' || v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /** Calls the API; a non-2xx answer throws an Error carrying the API's `{code, message, column, row}`. */
  async function api(path, options = {}) {
    const headers = { accept: 'application/json', ...(options.headers || {}) };
    const response = await fetch(path, { ...options, headers });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const detail = (body && body.error) || { code: `http_${response.status}`, message: text || response.statusText };
      const err = new Error(detail.message);
      err.api = detail;
      err.status = response.status;
      throw err;
    }
    return body;
  }

  // ------------------------------------------------------------------------------------------
  // Formatting

  /** A number as shown: integers as they are, others to 7 significant digits. */
  function fmtNum(x) {
    if (typeof x !== 'number') return String(x);
    if (!Number.isFinite(x)) return String(x);
    if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
    const a = Math.abs(x);
    if (a >= 1e-4 && a < 1e12) {
      return x.toFixed(Math.min(12, Math.max(0, 6 - Math.floor(Math.log10(a)))));
    }
    return x.toExponential(6);
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return 'missing';
    if (typeof v === 'number') return fmtNum(v);
    if (Array.isArray(v)) return v.map(fmtValue).join(', ');
    return String(v);
  }

  function fmtBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function fieldType(f) {
    return f.shape && f.shape.length ? `${f.dtype}[${f.shape.join(', ')}]` : f.dtype;
  }

  /** Up to `max` column names as chips, then "+N more" (all of them in its tooltip). */
  function chips(names, max = 4) {
    const shown = names.slice(0, max).map((n) => h('span', { class: 'chip', text: n }));
    if (names.length > max) {
      shown.push(h('span', { class: 'chip more', title: names.join(', '), text: `+${names.length - max} more` }));
    }
    return h('span', { class: 'chips' }, shown);
  }

  // ------------------------------------------------------------------------------------------
  // State

  const state = {
    models: [],
    errors: [],
    doc: null, // the model shown (GET /v1/models/{name})
    pinned: false, // the address names a version
    fields: [], // the form's fields
    example: null, // the bundle's example row
    graph: null, // what drawEdges needs
  };

  function setStatus(content, kind) {
    const s = $('status');
    s.className = `status ${kind || ''}`;
    s.replaceChildren(...(content === null ? [] : [content]));
  }

  // ------------------------------------------------------------------------------------------
  // The list of models

  async function loadList() {
    $('list-status').textContent = 'Loading…';
    try {
      const doc = await api('/v1/models');
      state.models = doc.models || [];
      state.errors = doc.errors || [];
      $('list-status').textContent = state.models.length ? '' : 'No model is loaded.';
    } catch (e) {
      $('list-status').textContent = `Cannot list the models: ${e.message}`;
    }
    renderList();
  }

  function renderList() {
    const byName = new Map();
    for (const m of state.models) {
      if (!byName.has(m.name)) byName.set(m.name, []);
      byName.get(m.name).push(m);
    }
    const current = state.doc && state.doc.name;
    $('model-list').replaceChildren(
      ...[...byName].map(([name, versions]) => {
        const newest = versions[versions.length - 1];
        const outputs = (newest.outputs || []).map((f) => f.name).join(', ');
        return h(
          'li',
          { class: name === current ? 'current' : null },
          h('a', { href: `#/${encodeURIComponent(name)}`, 'aria-current': name === current ? 'page' : null }, name),
          h(
            'span',
            { class: 'meta' },
            `${versions.map((v) => `v${v.version}`).join(' ')} · ${(newest.inputs || []).length} inputs → ${outputs}`,
          ),
          h('span', { class: 'meta' }, `${newest.producer ? newest.producer.framework : ''} · ${newest.source ? newest.source.kind : ''}`),
        );
      }),
    );
    $('load-errors').hidden = state.errors.length === 0;
    $('error-list').replaceChildren(
      ...state.errors.map((e) =>
        h(
          'li',
          {},
          h('code', { text: e.source }),
          h('p', { text: e.message }),
          h('time', { datetime: e.at, text: new Date(e.at).toLocaleString() }),
        ),
      ),
    );
  }

  // ------------------------------------------------------------------------------------------
  // One model

  function specFromHash() {
    const m = /^#\/(.+)$/.exec(location.hash);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return null;
    }
  }

  async function route(focus) {
    let spec = specFromHash();
    const names = [...new Set(state.models.map((m) => m.name))];
    if (!spec && names.length === 1) {
      // Nothing to choose between: open the only model, and give it its address (replacing
      // the bare one, so Back leaves the page instead of coming back here).
      spec = names[0];
      history.replaceState(null, '', `#/${encodeURIComponent(spec)}`);
    }
    if (!spec) {
      state.doc = null;
      $('model').hidden = true;
      $('empty').hidden = false;
      $('empty').textContent = names.length
        ? 'Select a model to see its pipeline and score a row.'
        : 'No model is loaded: start keel serve with bundle files or folders (see keel serve --help).';
      renderList();
      return;
    }
    try {
      const doc = await api(`/v1/models/${encodeURIComponent(spec)}`);
      state.doc = doc;
      state.pinned = spec.includes('@');
      renderModel(doc);
      renderList();
      if (focus) $('model-title').focus();
    } catch (e) {
      state.doc = null;
      $('model').hidden = true;
      $('empty').hidden = false;
      $('empty').textContent = `Cannot show ${spec}: ${e.message}`;
      renderList();
    }
  }

  function renderModel(doc) {
    $('empty').hidden = true;
    $('model').hidden = false;
    $('model-title').replaceChildren(doc.name, h('span', { class: 'version', text: ` v${doc.version}` }));
    const versions = doc.versions || [doc.version];
    $('version-picker').hidden = versions.length < 2;
    $('version').replaceChildren(
      ...versions.map((v) => h('option', { value: v, selected: v === doc.version, text: `v${v}${v === versions[versions.length - 1] ? ' (newest)' : ''}` })),
    );
    renderFacts(doc);
    renderGraph(doc);
    renderForm(doc);
    setStatus(null);
    $('result').replaceChildren();
    $('request').textContent = '';
  }

  function renderFacts(doc) {
    const facts = [];
    const p = doc.producer || {};
    if (p.name) facts.push(['Exported by', `${p.name} ${p.version || ''} from ${p.framework || '?'} ${p.framework_version || ''}`]);
    for (const [k, v] of Object.entries(doc.metadata || {})) {
      // keel.* entries are for tools (keel.example fills the form below).
      if (!k.startsWith('keel.')) facts.push([k, v]);
    }
    facts.push(['Inputs', `${doc.inputs.length} columns`]);
    facts.push(['Outputs', doc.outputs.map((f) => `${f.name} (${fieldType(f)})`).join(', ')]);
    if (doc.source) facts.push(['Source', doc.source.path || doc.source.kind]);
    if (doc.loaded_at) facts.push(['Loaded', new Date(doc.loaded_at).toLocaleString()]);
    facts.push(['Bundle', `${fmtBytes(doc.size || 0)}, sha256 ${String(doc.sha256 || '').slice(0, 12)}…, uid ${doc.uid}`]);
    if (doc.backends) facts.push(['Backends', doc.backends.join(', ')]);
    $('model-facts').replaceChildren(...facts.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
  }

  // ------------------------------------------------------------------------------------------
  // The pipeline graph: containers are nested boxes, a container's stages are laid out in layers
  // (a stage sits below every sibling whose output columns it reads, so independent branches,
  // such as a ColumnTransformer's, stand side by side), and edges are drawn over the boxes.

  /** A pipeline with a single stage is shown as that stage. */
  function collapse(node) {
    let n = node;
    while (n.op === 'pipeline' && n.children && n.children.length === 1) n = n.children[0];
    return n;
  }

  /** "Pipeline.features[num] (StandardScaler)" -> title StandardScaler, caption features[num]. */
  function labels(n) {
    const m = /^(.*?)\s*\(([^()]+)\)$/.exec(n.doc || '');
    const title = m ? m[2] : n.name;
    const path = m ? m[1] : n.doc || '';
    const dot = path.indexOf('.');
    return { title, caption: dot >= 0 ? path.slice(dot + 1) : '' };
  }

  function columnsOf(bindings) {
    return (bindings || []).flatMap((b) => b.columns || []);
  }

  function renderNode(node, ctx) {
    const n = collapse(node);
    if (n.op === 'pipeline' && n.children && n.children.length) return renderContainer(n, ctx);
    return renderLeaf(n, ctx);
  }

  function renderLeaf(n, ctx) {
    const { title, caption } = labels(n);
    const reads = columnsOf(n.inputs).filter((c) => ctx.inputs.has(c));
    const writes = columnsOf(n.outputs).filter((c) => ctx.outputs.has(c));
    return h(
      'div',
      { class: 'g-box g-leaf', role: 'group', 'aria-label': `stage ${title}`, 'data-node': n.name, title: `${n.name}: ${n.op}` },
      h('div', { class: 'g-title', text: title }),
      caption ? h('div', { class: 'g-caption', text: caption }) : null,
      h('div', { class: 'g-op', text: n.op }),
      reads.length ? h('div', { class: 'g-cols' }, h('span', { class: 'g-label', text: 'reads' }), chips(reads)) : null,
      // What the stage is, in a person's terms ("50 trees · 3,050 nodes · depth ≤ 6"): the
      // server computes it per op family (keel_io::describe::summary), never the raw arrays.
      n.summary ? h('div', { class: 'g-summary', text: n.summary }) : null,
      writes.length ? h('div', { class: 'g-cols' }, h('span', { class: 'g-label', text: 'writes' }), chips(writes)) : null,
    );
  }

  function renderContainer(n, ctx) {
    const { title, caption } = labels(n);
    const children = n.children.map(collapse);
    const producer = new Map();
    children.forEach((c, i) => columnsOf(c.outputs).forEach((col) => producer.set(col, i)));
    const deps = children.map(() => new Set());
    const readsOutside = children.map(() => false);
    children.forEach((c, j) => {
      for (const col of columnsOf(c.inputs)) {
        const i = producer.get(col);
        if (i === undefined || i === j) readsOutside[j] = true;
        else deps[j].add(i);
      }
    });
    // Longest path from the container's inputs; bounded passes (a bundle's graph is acyclic,
    // the reader checks it, but a drawing must never hang on a surprise).
    const layer = children.map(() => 0);
    for (let pass = 0; pass < children.length; pass += 1) {
      let changed = false;
      deps.forEach((ds, j) => {
        for (const i of ds) {
          if (layer[j] < layer[i] + 1 && layer[i] + 1 < children.length) {
            layer[j] = layer[i] + 1;
            changed = true;
          }
        }
      });
      if (!changed) break;
    }
    const els = children.map((c) => renderNode(c, ctx));
    const portIn = h('div', { class: 'g-port', 'aria-hidden': 'true' });
    const portOut = h('div', { class: 'g-port', 'aria-hidden': 'true' });
    const body = h('div', { class: 'g-body' });
    const depth = Math.max(...layer);
    const rows = [];
    for (let l = 0; l <= depth; l += 1) {
      const row = h('div', { class: 'g-layer' });
      els.forEach((e, j) => {
        if (layer[j] === l) row.append(e);
      });
      rows.push(row);
      body.append(row);
    }
    // An edge between adjacent layers is drawn straight; one that skips a layer would cross the
    // boxes in between, so it detours through the gaps between layers and a gutter beside them
    // (left for inputs, right for outputs).
    const edge = (a, la, b, lb) => {
      const skips = lb - la > 1;
      const side = !skips ? null : lb > depth ? 'right' : 'left';
      const rowA = la < 0 ? a : rows[la];
      const rowB = lb > depth ? b : rows[lb];
      ctx.edges.push({ a, b, side, body, rowA, rowB });
    };
    const consumed = new Set();
    deps.forEach((ds) => ds.forEach((i) => consumed.add(i)));
    els.forEach((e, j) => {
      if (readsOutside[j] || deps[j].size === 0) edge(portIn, -1, e, layer[j]);
      for (const i of deps[j]) edge(els[i], layer[i], e, layer[j]);
      if (!consumed.has(j)) edge(e, layer[j], portOut, depth + 1);
    });
    return h(
      'div',
      { class: 'g-box g-container', role: 'group', 'aria-label': `${title}: ${children.length} stages`, 'data-node': n.name },
      h('div', { class: 'g-head' }, h('span', { class: 'g-title', text: title }), caption ? h('span', { class: 'g-caption', text: caption }) : null),
      portIn,
      body,
      portOut,
    );
  }

  function renderGraph(doc) {
    const ctx = {
      inputs: new Set(doc.inputs.map((f) => f.name)),
      outputs: new Set(doc.outputs.map((f) => f.name)),
      edges: [],
    };
    const inBox = h(
      'div',
      { class: 'g-io' },
      h('span', { class: 'g-label', text: `${doc.inputs.length} inputs` }),
      chips(doc.inputs.map((f) => f.name), 6),
    );
    const root = renderNode(doc.graph, ctx);
    const outBox = h(
      'div',
      { class: 'g-io' },
      h('span', { class: 'g-label', text: 'outputs' }),
      chips(doc.outputs.map((f) => `${f.name}: ${fieldType(f)}`), 6),
    );
    ctx.edges.push({ a: inBox, b: root }, { a: root, b: outBox });
    const svg = h('svg', { svg: true, class: 'g-edges', 'aria-hidden': 'true' });
    const canvas = h('div', { class: 'g-canvas' }, svg, inBox, root, outBox);
    $('graph').replaceChildren(canvas);
    state.graph = { canvas, svg, edges: ctx.edges };
    drawEdges();
  }

  /** A polyline with its corners rounded (radius at most r, less where segments are short). */
  function roundedPath(points, r) {
    let d = `M${points[0][0]},${points[0][1]}`;
    for (let k = 1; k < points.length - 1; k += 1) {
      const [px, py] = points[k - 1];
      const [x, y] = points[k];
      const [nx, ny] = points[k + 1];
      const inLen = Math.hypot(x - px, y - py);
      const outLen = Math.hypot(nx - x, ny - y);
      const rr = Math.min(r, inLen / 2, outLen / 2);
      if (rr <= 0) continue;
      const ax = x - ((x - px) / inLen) * rr;
      const ay = y - ((y - py) / inLen) * rr;
      const bx = x + ((nx - x) / outLen) * rr;
      const by = y + ((ny - y) / outLen) * rr;
      d += ` L${ax},${ay} Q${x},${y} ${bx},${by}`;
    }
    const [lx, ly] = points[points.length - 1];
    return `${d} L${lx},${ly}`;
  }

  function drawEdges() {
    const g = state.graph;
    if (!g || !g.canvas.isConnected) return;
    const base = g.canvas.getBoundingClientRect();
    const w = g.canvas.scrollWidth;
    const ht = g.canvas.scrollHeight;
    g.svg.setAttribute('width', w);
    g.svg.setAttribute('height', ht);
    g.svg.setAttribute('viewBox', `0 0 ${w} ${ht}`);
    const marker = h(
      'marker',
      { svg: true, id: 'g-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      h('path', { svg: true, d: 'M0,0 L10,5 L0,10 z' }),
    );
    const paths = g.edges.map((e) => {
      const ra = e.a.getBoundingClientRect();
      const rb = e.b.getBoundingClientRect();
      const x1 = ra.left + ra.width / 2 - base.left;
      const y1 = ra.bottom - base.top;
      const x2 = rb.left + rb.width / 2 - base.left;
      const y2 = rb.top - base.top;
      let d;
      if (e.side) {
        const body = e.body.getBoundingClientRect();
        const gx = (e.side === 'left' ? body.left - 7 : body.right + 7) - base.left;
        const ya = e.rowA.getBoundingClientRect().bottom - base.top + (e.rowA === e.a ? 7 : 12);
        const yb = e.rowB.getBoundingClientRect().top - base.top - (e.rowB === e.b ? 7 : 12);
        d = roundedPath([[x1, y1], [x1, ya], [gx, ya], [gx, yb], [x2, yb], [x2, y2]], 6);
      } else {
        const bend = Math.max(8, (y2 - y1) / 2);
        d = `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
      }
      return h('path', { svg: true, d, 'marker-end': 'url(#g-arrow)' });
    });
    g.svg.replaceChildren(h('defs', { svg: true }, marker), ...paths);
  }

  // ------------------------------------------------------------------------------------------
  // The input form

  /** The bundle's example row (metadata `keel.example`, written by the exporter), if any. */
  function exampleRow(doc) {
    const text = doc.metadata && doc.metadata['keel.example'];
    if (!text) return null;
    try {
      const v = JSON.parse(text);
      return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
    } catch {
      return null;
    }
  }

  function defaultValue(f, example) {
    if (example && Object.prototype.hasOwnProperty.call(example, f.name)) return example[f.name];
    if (f.shape && f.shape.length === 1) return new Array(f.shape[0]).fill(f.dtype === 'bool' ? false : 0);
    if (f.dtype === 'bool') return false;
    if (f.dtype === 'utf8') return f.names && f.names.length ? f.names[0] : '';
    if (f.dtype === 'list<utf8>') return [];
    return 0;
  }

  function makeField(f, index) {
    const id = `in-${index}`;
    const hintId = `${id}-hint`;
    const errId = `${id}-error`;
    const vector = Boolean(f.shape && f.shape.length === 1);
    // A list of strings (tokens): typed as words separated by spaces.
    const tokens = f.dtype === 'list<utf8>';
    const numeric = NUMERIC.has(f.dtype);
    const integer = INTEGER.has(f.dtype);
    let input;
    if (f.dtype === 'bool' && !vector) {
      input = h('input', { type: 'checkbox', id, name: f.name });
    } else if (numeric && !vector) {
      input = h('input', { type: 'number', id, name: f.name, step: integer ? '1' : 'any', inputmode: integer ? 'numeric' : 'decimal' });
    } else {
      input = h('input', { type: 'text', id, name: f.name, autocomplete: 'off', spellcheck: 'false' });
    }
    input.setAttribute('aria-describedby', `${hintId} ${errId}`);
    let hint = fieldType(f);
    if (vector) hint += `, ${f.shape[0]} values separated by commas`;
    if (tokens) hint += ', strings separated by spaces';
    if (f.dtype !== 'bool' || vector) hint += f.nullable ? ', empty = missing' : ', required';
    if (f.doc) hint += ` — ${f.doc}`;
    const err = h('p', { id: errId, class: 'field-error', hidden: true });
    const label = h('label', { for: id, text: f.name });
    const row = h(
      'div',
      { class: `field${input.type === 'checkbox' ? ' field-check' : ''}`, 'data-column': f.name },
      label,
      input,
      h('span', { id: hintId, class: 'hint', text: hint }),
      err,
    );

    function set(v) {
      if (input.type === 'checkbox') input.checked = v === true || v === 'true';
      else if (v === null || v === undefined) input.value = '';
      else if (Array.isArray(v) && tokens) input.value = v.filter((x) => x !== null).join(' ');
      else if (Array.isArray(v)) input.value = v.map((x) => (x === null ? '' : String(x))).join(', ');
      else if (input.type === 'number') input.value = typeof v === 'number' && Number.isFinite(v) ? String(v) : '';
      else input.value = String(v);
    }

    function parseScalar(text) {
      if (!numeric) return text;
      const x = Number(text);
      // Anything else goes to the server as typed, which names the problem.
      return text !== '' && Number.isFinite(x) ? x : text;
    }

    /** The value to send; throws a message for what the browser already knows is wrong. */
    function read() {
      if (input.type === 'checkbox') return input.checked;
      if (input.type === 'number' && input.validity.badInput) throw new Error('not a number');
      const text = input.value.trim();
      if (vector) {
        if (text === '') return null;
        return text.split(/[\s,]+/).filter(Boolean).map((t) => (f.dtype === 'bool' ? t === 'true' : parseScalar(t)));
      }
      if (tokens) return text === '' ? (f.nullable ? null : []) : text.split(/\s+/);
      if (numeric) return text === '' ? null : parseScalar(text);
      // Text is sent as typed; an empty box is missing when the column may be.
      return input.value === '' && f.nullable ? null : input.value;
    }

    function showError(message, detail) {
      err.replaceChildren(h('span', { text: message }), detail ? h('span', { class: 'detail', text: ` (${detail})` }) : null);
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      row.classList.add('invalid');
    }

    function clearError() {
      err.hidden = true;
      err.replaceChildren();
      input.removeAttribute('aria-invalid');
      row.classList.remove('invalid');
    }

    input.addEventListener('input', clearError);
    return { field: f, input, row, set, read, showError, clearError };
  }

  function renderForm(doc) {
    const example = exampleRow(doc);
    $('input-note').textContent = example
      ? 'Defaults: the example row recorded in the bundle (metadata keel.example).'
      : 'Defaults: 0 for numbers, empty text, unchecked boxes (the bundle records no example row).';
    state.fields = doc.inputs.map((f, i) => makeField(f, i));
    state.example = example;
    resetForm();
    $('fields').replaceChildren(...state.fields.map((x) => x.row));
  }

  function resetForm() {
    for (const x of state.fields) {
      x.set(defaultValue(x.field, state.example));
      x.clearError();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Scoring

  function curl(path, body) {
    const quoted = body.replace(/'/g, "'\\''");
    return `curl -s ${location.origin}${path} \\\n  -H 'content-type: application/json' \\\n  -d '${quoted}'`;
  }

  async function predict(event) {
    event.preventDefault();
    const doc = state.doc;
    if (!doc) return;
    const row = {};
    let invalid = null;
    for (const x of state.fields) {
      x.clearError();
      try {
        row[x.field.name] = x.read();
      } catch (e) {
        x.showError(e.message);
        invalid = invalid || x;
      }
    }
    if (invalid) {
      setStatus(`Not sent: ${invalid.field.name} is not valid.`, 'error');
      invalid.input.focus();
      return;
    }
    const path = `/v1/models/${encodeURIComponent(doc.name)}@${doc.version}/predict`;
    const body = JSON.stringify({ rows: [row] });
    $('request').textContent = curl(path, body);
    const button = $('predict');
    button.disabled = true;
    $('result').setAttribute('aria-busy', 'true');
    setStatus('Scoring…', 'busy');
    const t0 = performance.now();
    try {
      const answer = await api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const ms = performance.now() - t0;
      renderResult(doc, answer.rows[0] || {});
      setStatus(`Scored by ${answer.model} v${answer.version} in ${ms.toFixed(1)} ms (round trip).`, 'ok');
    } catch (e) {
      $('result').replaceChildren();
      showApiError(e);
    } finally {
      button.disabled = false;
      $('result').removeAttribute('aria-busy');
    }
  }

  function showApiError(e) {
    const err = e.api || { message: e.message };
    const where = [];
    if (err.column !== null && err.column !== undefined) where.push(`column ${err.column}`);
    if (err.row !== null && err.row !== undefined) where.push(`row ${err.row}`);
    const detail = [err.code, ...where].filter(Boolean).join(', ');
    const field = state.fields.find((x) => x.field.name === err.column);
    if (field) {
      field.showError(err.message, detail);
      field.input.focus();
    }
    setStatus(
      h(
        'span',
        {},
        h('strong', { text: e.status ? `Refused (${e.status}): ` : 'Failed: ' }),
        err.message,
        detail ? h('span', { class: 'detail', text: ` (${detail})` }) : null,
        field ? h('span', { text: ` — see the field ${field.field.name}.` }) : null,
      ),
      'error',
    );
  }

  function renderResult(doc, row) {
    const target = doc.metadata && doc.metadata.target;
    const parts = doc.outputs.map((f, i) => {
      const v = row[f.name];
      const labelId = `out-${i}-label`;
      if (Array.isArray(v)) return renderVector(f, v, labelId);
      return h(
        'div',
        { class: 'out out-scalar' },
        h('span', { class: 'out-name', id: labelId, text: f.name }),
        h('output', { class: 'out-value', 'aria-labelledby': labelId, 'data-output': f.name, 'data-value': JSON.stringify(v), title: String(v), text: fmtValue(v) }),
        f.name === 'prediction' && target ? h('span', { class: 'muted', text: target }) : null,
      );
    });
    $('result').replaceChildren(...parts);
  }

  function renderVector(f, values, labelId) {
    const names = f.names && f.names.length === values.length ? f.names : values.map((_, j) => String(j));
    const numbers = values.every((x) => typeof x === 'number');
    const unit = numbers && values.every((x) => x >= 0 && x <= 1);
    const best = numbers ? values.indexOf(Math.max(...values)) : -1;
    const rows = values.map((x, j) => {
      const cells = [
        h('th', { scope: 'row', text: names[j] }),
        h('td', { class: 'num', 'data-value': JSON.stringify(x), title: String(x), text: fmtValue(x) }),
      ];
      if (unit) {
        const fill = h('span', { class: 'fill' });
        fill.style.width = `${(x * 100).toFixed(2)}%`;
        cells.push(h('td', { class: 'bar-cell', 'aria-hidden': 'true' }, h('span', { class: 'bar' }, fill)));
      }
      return h('tr', { class: j === best ? 'best' : null }, cells);
    });
    return h(
      'div',
      { class: 'out out-vector', 'data-output': f.name },
      h('span', { class: 'out-name', id: labelId, text: f.name }),
      h(
        'table',
        { 'aria-labelledby': labelId },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: f.names && f.names.length ? 'class' : 'index' }), h('th', { scope: 'col', text: 'value' }), unit ? h('td', {}) : null)),
        h('tbody', {}, rows),
      ),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Wiring

  async function refresh() {
    await loadList();
    const doc = state.doc;
    if (!doc || state.pinned) return;
    // Follow a newer version of the model shown (hot reload), keeping the address.
    const newest = state.models.filter((m) => m.name === doc.name).pop();
    if (newest && newest.version !== doc.version) await route(false);
  }

  async function serverInfo() {
    try {
      const d = await api('/openapi.json');
      $('server-info').textContent = `keel ${d.info.version}`;
    } catch {
      $('server-info').textContent = '';
    }
  }

  function init() {
    $('input-form').addEventListener('submit', predict);
    $('reset').addEventListener('click', () => {
      resetForm();
      setStatus(null);
    });
    $('refresh').addEventListener('click', refresh);
    $('version').addEventListener('change', (e) => {
      location.hash = `#/${encodeURIComponent(`${state.doc.name}@${e.target.value}`)}`;
    });
    window.addEventListener('hashchange', () => route(true));
    window.addEventListener('focus', refresh);
    if (typeof ResizeObserver === 'function') new ResizeObserver(drawEdges).observe($('graph'));
    window.addEventListener('resize', drawEdges);
    serverInfo();
    loadList().then(() => route(false));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
