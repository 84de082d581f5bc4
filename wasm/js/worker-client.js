// KeelWorker: the same Bundle API run in a Web Worker (worker.js), so loading and scoring never
// block the page. Every method returns a promise; errors arrive as KeelError.

import { KeelError, metadataOf, schemaOf } from './shared.js';

export class KeelWorker {
  /** Starts the worker (a module worker next to this file, unless `url` says otherwise). */
  constructor(url = new URL('./worker.js', import.meta.url)) {
    this._worker = new Worker(url, { type: 'module' });
    this._pending = new Map();
    this._next = 1;
    this._worker.onmessage = (event) => {
      const { id, ok, value, error } = event.data;
      const pending = this._pending.get(id);
      if (!pending) return;
      this._pending.delete(id);
      if (ok) pending.resolve(value);
      else pending.reject(error.code ? new KeelError(error) : Object.assign(new Error(error.message), { name: error.name }));
    };
  }

  _call(message, transfer = []) {
    const id = this._next++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      this._worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Loads a bundle (bytes, a Blob or a URL) in the worker; resolves to a WorkerBundle. */
  async load(source, options = {}) {
    const { handle, description } = await this._call({ op: 'load', source, options });
    return new WorkerBundle(this, handle, description);
  }

  /** Stops the worker; its bundles go with it. */
  terminate() {
    this._worker.terminate();
    for (const { reject } of this._pending.values()) reject(new Error('the worker was terminated'));
    this._pending.clear();
  }
}

/** A bundle living in a KeelWorker: Bundle's methods, each answering a promise. */
export class WorkerBundle {
  constructor(worker, handle, description) {
    this._worker = worker;
    this._handle = handle;
    this._description = description;
  }

  get schema() {
    return schemaOf(this._description);
  }

  get metadata() {
    return metadataOf(this._description);
  }

  describe() {
    return this._description;
  }

  transform(input, options = {}) {
    return this._worker._call({ op: 'transform', handle: this._handle, input, options });
  }

  async transformOne(row, options = {}) {
    return (await this.transform([row], options))[0];
  }

  transformText(text, options = {}) {
    return this._worker._call({ op: 'transformText', handle: this._handle, text, options });
  }

  free() {
    return this._worker._call({ op: 'free', handle: this._handle });
  }
}
