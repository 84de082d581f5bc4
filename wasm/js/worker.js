// The Web Worker side of KeelWorker (worker-client.js): bundles are loaded and scored here, off
// the page's main thread. Messages are {id, op, ...}; every answer is {id, ok, value} or
// {id, ok: false, error: {name, code, message, column, row}}.

import { Bundle } from './index.js';

const bundles = new Map();
let next = 1;

async function handle(message) {
  switch (message.op) {
    case 'load': {
      const bundle = await Bundle.load(message.source, message.options);
      const handle = next++;
      bundles.set(handle, bundle);
      return { handle, description: bundle.describe() };
    }
    case 'transform':
      return owned(message.handle).transform(message.input, message.options);
    case 'transformText':
      return owned(message.handle).transformText(message.text, message.options);
    case 'free':
      owned(message.handle).free();
      bundles.delete(message.handle);
      return null;
    default:
      throw new TypeError(`unknown operation ${message.op}`);
  }
}

function owned(handle) {
  const bundle = bundles.get(handle);
  if (!bundle) throw new Error('this bundle was freed');
  return bundle;
}

self.onmessage = async (event) => {
  const { id } = event.data;
  try {
    const value = await handle(event.data);
    self.postMessage({ id, ok: true, value });
  } catch (e) {
    self.postMessage({
      id,
      ok: false,
      error: { name: e.name, code: e.code ?? null, message: e.message ?? String(e), column: e.column ?? null, row: e.row ?? null },
    });
  }
};
