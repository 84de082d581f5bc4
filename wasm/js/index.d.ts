// Types of keel's npm package (index.js, worker-client.js).

/** A field of a bundle's input or output schema. */
export interface Field {
  name: string;
  /** f64, f32, f16, bf16, i64, i32, i8, u8, bool, utf8, list<utf8>, binary. */
  dtype: string;
  /** Per-row shape: [] for a scalar, [n] for a vector, more for a tensor (symbolic dims as names). */
  shape: (number | string)[];
  nullable: boolean;
  names?: string[];
  [key: string]: unknown;
}

export interface Schema {
  inputs: Field[];
  outputs: Field[];
}

export interface Metadata {
  name: string;
  uid: string;
  created: string;
  formatVersion: string;
  producer: { name: string; version: string; framework: string; framework_version: string };
  metadata: Record<string, unknown>;
}

/** A cell: a number, string, boolean, null, or (vectors, tensors, token lists) nested arrays. */
export type Cell = number | string | boolean | null | Cell[];
export type Row = Record<string, Cell | ArrayBufferView>;
export type Columns = Record<string, (Cell | ArrayBufferView)[]>;

export interface LoadOptions {
  /** Largest uncompressed bundle accepted, in bytes (default: keel's native limit, 2 GiB). */
  maxBytes?: number;
  /** Another location of keel_wasm_bg.wasm (see initialize). */
  wasm?: WasmSource;
}

export interface TransformOptions {
  /** Drop input columns the bundle does not declare instead of refusing them. */
  ignoreExtraColumns?: boolean;
  /** Rows per scored batch for CSV, JSON lines (Arrow keeps its own batches). */
  batchSize?: number;
}

export interface TextOptions extends TransformOptions {
  format?: 'csv' | 'jsonl';
  outputFormat?: 'csv' | 'jsonl' | 'arrow' | 'arrows';
}

export type WasmSource = string | URL | Response | BufferSource | WebAssembly.Module;
export type BundleSource = Uint8Array | ArrayBuffer | ArrayBufferView | Blob | Response | URL | string;

/** An error of keel; `code` is the runtime's error code, as the REST server and CLI report it. */
export class KeelError extends Error {
  readonly code: string;
  readonly column: string | null;
  readonly row: number | null;
}

/** Compiles the wasm module once (Bundle.load calls it). */
export function initialize(wasm?: WasmSource): Promise<void>;

export class Bundle {
  static load(source: BundleSource, options?: LoadOptions): Promise<Bundle>;
  readonly schema: Schema;
  readonly metadata: Metadata;
  /** The whole description, graph included (`keel inspect --json`). */
  describe(): Record<string, unknown>;
  transform(rows: Row[], options?: TransformOptions): Row[];
  transform(columns: Columns, options?: TransformOptions): Columns;
  /** Arrow IPC (file or stream) in, the same IPC format out. */
  transform(ipc: Uint8Array | ArrayBuffer, options?: TransformOptions): Uint8Array;
  transformOne(row: Row, options?: TransformOptions): Row;
  /** Text for CSV and JSON lines answers, bytes for Arrow IPC ones. */
  transformText(text: string | Uint8Array, options?: TextOptions): string | Uint8Array;
  free(): void;
}

/** The Bundle API in a Web Worker: nothing blocks the page. */
export class KeelWorker {
  constructor(url?: string | URL);
  load(source: BundleSource, options?: LoadOptions): Promise<WorkerBundle>;
  terminate(): void;
}

export class WorkerBundle {
  readonly schema: Schema;
  readonly metadata: Metadata;
  describe(): Record<string, unknown>;
  transform(rows: Row[], options?: TransformOptions): Promise<Row[]>;
  transform(columns: Columns, options?: TransformOptions): Promise<Columns>;
  transform(ipc: Uint8Array | ArrayBuffer, options?: TransformOptions): Promise<Uint8Array>;
  transformOne(row: Row, options?: TransformOptions): Promise<Row>;
  transformText(text: string | Uint8Array, options?: TextOptions): Promise<string | Uint8Array>;
  free(): Promise<void>;
}
