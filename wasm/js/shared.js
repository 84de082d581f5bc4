// What the Bundle API and its Web Worker twin share: the error class and the views of a
// bundle's description.

/** An error of keel: `code` is the runtime's error code, shared by every front end. */
export class KeelError extends Error {
  constructor({ code, message, column = null, row = null }) {
    super(message);
    this.name = 'KeelError';
    /** A stable, machine-readable code (`missing_column`, `unknown_category`, `bundle`, ...). */
    this.code = code;
    /** The input column involved, or null. */
    this.column = column;
    /** The row involved (from 0, within the call's input), or null. */
    this.row = row;
  }
}

/** `bundle.schema`: the input and output fields of a description. */
export function schemaOf(d) {
  return { inputs: d.inputs, outputs: d.outputs };
}

/** `bundle.metadata`: who made the bundle and what it says about itself. */
export function metadataOf(d) {
  return {
    name: d.name,
    uid: d.uid,
    created: d.created,
    formatVersion: d.format_version,
    producer: d.producer,
    metadata: d.metadata,
  };
}
