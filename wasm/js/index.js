// keel in JavaScript: load a keel bundle and score it inside WebAssembly, in the browser or in
// Node 20+. The wasm module (keel_wasm.js + keel_wasm_bg.wasm, made by wasm-bindgen from
// wasm/browser) does the work; this module turns JS values into the documents it reads
// ({"rows": ...} / {"columns": ...}, CSV, JSON lines, Arrow IPC) and its errors into KeelError.

import init, { Scorer } from './keel_wasm.js';
import { KeelError, metadataOf, schemaOf } from './shared.js';

export { KeelError };

const isNode = typeof process !== 'undefined' && !!process.versions && !!process.versions.node;

let ready = null;

/**
 * Compiles and instantiates the wasm module once. `Bundle.load` calls it; call it yourself to
 * pass another location of `keel_wasm_bg.wasm` (a URL, a Response, bytes or a compiled
 * WebAssembly.Module).
 */
export function initialize(wasm) {
  if (!ready) {
    ready = (async () => {
      let source = wasm;
      if (source === undefined) {
        const url = new URL('./keel_wasm_bg.wasm', import.meta.url);
        // Node's fetch has no file: URLs; read the file next to this module instead.
        source = isNode ? await readLocal(url) : url;
      }
      await init({ module_or_path: source });
    })();
    ready.catch(() => { ready = null; });
  }
  return ready;
}

async function readLocal(pathOrUrl) {
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(pathOrUrl));
}

function rethrow(e) {
  if (typeof e === 'string') {
    let detail = null;
    try { detail = JSON.parse(e); } catch { /* not one of keel's errors */ }
    if (detail && typeof detail.code === 'string') throw new KeelError(detail);
  }
  throw e;
}

function call(f) {
  try { return f(); } catch (e) { return rethrow(e); }
}

// JSON has no NaN or infinities; keel's readers take them as the strings below. Typed arrays
// (tensor rows) become plain arrays.
function replacer(_key, value) {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value);
  return value;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function bundleBytes(source) {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (typeof Blob !== 'undefined' && source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (typeof Response !== 'undefined' && source instanceof Response) return responseBytes(source, source.url);
  if (typeof source === 'string' || source instanceof URL) {
    const text = String(source);
    if (isNode && !/^(https?|data|blob):/i.test(text)) return readLocal(text.startsWith('file:') ? new URL(text) : text);
    return responseBytes(await fetch(source), text);
  }
  throw new TypeError('Bundle.load: expected bytes (Uint8Array, ArrayBuffer), a Blob, a Response, a URL or a path');
}

async function responseBytes(response, where) {
  if (!response.ok) {
    throw new KeelError({ code: 'fetch', message: `cannot fetch the bundle ${where}: HTTP ${response.status}` });
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  // A download cut short is refused by the bundle reader too (its zip is incomplete); this
  // says so in plainer words when the server announced the length.
  const length = Number(response.headers.get('content-length'));
  const encoded = response.headers.get('content-encoding');
  if (!encoded && Number.isFinite(length) && length > 0 && bytes.length < length) {
    throw new KeelError({ code: 'bundle', message: `the bundle download from ${where} is truncated: ${bytes.length} of ${length} bytes` });
  }
  return bytes;
}

const ARROW_FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

function ipcFormat(bytes) {
  return ARROW_FILE_MAGIC.every((b, i) => bytes[i] === b) ? 'arrow' : 'arrows';
}

/** A keel bundle, read, verified and planned once, then scored any number of times. */
export class Bundle {
  /**
   * Loads a bundle from bytes, a Blob, a Response, a URL (fetched) or, in Node, a file path.
   * `options.maxBytes` caps the bundle's uncompressed size (default: keel's native limit).
   */
  static async load(source, options = {}) {
    await initialize(options.wasm);
    const bytes = await bundleBytes(source);
    const scorer = call(() => new Scorer(bytes, options.maxBytes ?? 0));
    return new Bundle(scorer);
  }

  constructor(scorer) {
    if (!(scorer instanceof Scorer)) throw new TypeError('use Bundle.load(...)');
    this._scorer = scorer;
    this._description = JSON.parse(scorer.describe());
  }

  /** The input and output fields: `{inputs: [...], outputs: [...]}` (name, dtype, shape, ...). */
  get schema() {
    return schemaOf(this._description);
  }

  /** Who made the bundle and what it says about itself. */
  get metadata() {
    return metadataOf(this._description);
  }

  /** The whole description, graph included (what `keel inspect --json` prints). */
  describe() {
    return this._description;
  }

  /**
   * Scores rows (an array of objects), columns (an object of arrays) or Arrow IPC bytes (a
   * file or a stream), answering in the same form. NaN and the infinities in the answer come
   * back as `null`, as the REST server writes them. `options.ignoreExtraColumns` drops input
   * columns the bundle does not declare instead of refusing them.
   */
  transform(input, options = {}) {
    const ignore = !!options.ignoreExtraColumns;
    if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
      const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
      const format = ipcFormat(bytes);
      return call(() => this._scorer.scoreStream(bytes, format, format, options.batchSize ?? 8192, ignore));
    }
    let doc;
    if (Array.isArray(input)) doc = { rows: input };
    else if (input !== null && typeof input === 'object') doc = { columns: input };
    else throw new TypeError('transform: expected rows (an array of objects), columns (an object of arrays) or Arrow IPC bytes');
    const body = encoder.encode(JSON.stringify(doc, replacer));
    const answer = JSON.parse(decoder.decode(call(() => this._scorer.scoreDocument(body, ignore))));
    return Array.isArray(input) ? answer.rows : answer.columns;
  }

  /** Scores one row (an object); answers with one object. */
  transformOne(row, options = {}) {
    return this.transform([row], options)[0];
  }

  /**
   * Scores CSV or JSON lines text (`options.format`: 'csv' or 'jsonl', default 'csv') as
   * `keel score` would, answering in `options.outputFormat` (default: the input's): text for
   * CSV and JSON lines, bytes (a Uint8Array) for Arrow IPC ('arrow' file, 'arrows' stream).
   */
  transformText(text, options = {}) {
    const format = options.format ?? 'csv';
    const out = options.outputFormat ?? format;
    const bytes = typeof text === 'string' ? encoder.encode(text) : text;
    const answer = call(() => this._scorer.scoreStream(bytes, format, out, options.batchSize ?? 8192, !!options.ignoreExtraColumns));
    return out === 'arrow' || out === 'arrows' ? answer : decoder.decode(answer);
  }

  /** Frees the bundle's memory inside the wasm module now rather than at garbage collection. */
  free() {
    if (this._scorer) {
      this._scorer.free();
      this._scorer = null;
    }
  }
}

export { KeelWorker } from './worker-client.js';
