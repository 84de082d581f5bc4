//! Arrow IPC messages checked before arrow-rs decodes them. arrow-rs trusts a record batch's
//! metadata when it slices the message body into buffers (an offset past the body panics inside
//! arrow-buffer) and when it sizes allocations (a body length or a compressed buffer's declared
//! length is allocated before anything is read). [`CheckedMessages`] sits between the input and
//! arrow-rs's `StreamReader`: it reads one encapsulated message at a time, verifies its
//! flatbuffer, checks every buffer of a record or dictionary batch against the body actually
//! read, bounds declared sizes, and only then hands the message's bytes on. A damaged input is
//! a typed error naming the message, never a panic and never an allocation the input's own
//! size does not pay for.

use crate::error::Error;
use std::io::{BufRead, Read};

/// The largest metadata flatbuffer accepted (real schemas and batch headers are kilobytes).
const MAX_METADATA: usize = 64 << 20;
/// The largest decompressed size one compressed buffer may declare.
const MAX_DECOMPRESSED: i64 = 1 << 31;
/// The marker before a message's length in the current IPC framing.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// A reader over IPC stream messages that passes on only messages whose framing and buffer
/// layout are consistent (see the module doc).
pub struct CheckedMessages<R> {
    inner: R,
    /// The current message's bytes, as read, not yet passed on.
    pending: Vec<u8>,
    /// How much of `pending` has been passed on.
    at: usize,
    /// Messages read so far (for errors: "message 3").
    count: usize,
    /// The end of the stream was reached (or an end marker read): nothing more is read.
    done: bool,
    /// The stream's schema, once its message has been read: which buffers need whole elements.
    schema: Option<arrow_schema::SchemaRef>,
}

impl<R: BufRead> CheckedMessages<R> {
    /// Wraps `inner`, positioned at the first message (after a file's magic, if any).
    pub fn new(inner: R) -> Self {
        CheckedMessages {
            inner,
            pending: Vec::new(),
            at: 0,
            count: 0,
            done: false,
            schema: None,
        }
    }

    /// Reads exactly `n` bytes, growing the buffer only as bytes arrive (so a length the input
    /// does not back costs nothing). `Ok(false)` when the input ended first.
    fn read_exact_bounded(&mut self, n: usize, out: &mut Vec<u8>) -> std::io::Result<bool> {
        let start = out.len();
        let got = (&mut self.inner)
            .take(u64::try_from(n).unwrap_or(u64::MAX))
            .read_to_end(out)?;
        Ok(got == n && out.len() - start == n)
    }

    /// Reads, checks and buffers the next message; `Ok(false)` at the end of the stream.
    fn next_message(&mut self) -> Result<bool, Error> {
        self.pending.clear();
        self.at = 0;
        let mut word = Vec::with_capacity(8);
        if !self
            .read_exact_bounded(4, &mut word)
            .map_err(Error::ReadInput)?
        {
            // The input ends between messages (possibly with a partial word): arrow-rs reports
            // a truncated stream itself if the bytes are passed on, so pass them.
            self.pending = word;
            return Ok(false);
        }
        let continued = word[..4] == CONTINUATION;
        if continued
            && !self
                .read_exact_bounded(4, &mut word)
                .map_err(Error::ReadInput)?
        {
            self.pending = word;
            return Ok(false);
        }
        let len_bytes: [u8; 4] = word[word.len() - 4..].try_into().unwrap_or([0; 4]);
        let meta_len = i32::from_le_bytes(len_bytes);
        self.count += 1;
        let n = self.count;
        if meta_len == 0 {
            // The end-of-stream marker.
            self.pending = word;
            return Ok(false);
        }
        let meta_len = usize::try_from(meta_len)
            .ok()
            .filter(|&l| l <= MAX_METADATA)
            .ok_or_else(|| {
                malformed(n, format!("its metadata length {meta_len} is out of range"))
            })?;
        let mut bytes = word;
        if !self
            .read_exact_bounded(meta_len, &mut bytes)
            .map_err(Error::ReadInput)?
        {
            return Err(malformed(n, "the input ends inside its metadata".into()));
        }
        let meta_start = bytes.len() - meta_len;
        let body_len = {
            let meta = &bytes[meta_start..];
            let message = arrow_ipc::root_as_message(meta)
                .map_err(|e| malformed(n, format!("its metadata is not a valid message: {e}")))?;
            let body_len = usize::try_from(message.bodyLength())
                .map_err(|_| malformed(n, "it declares a negative body length".into()))?;
            if let Some(schema) = message.header_as_schema() {
                let schema = arrow_ipc::convert::try_fb_to_schema(schema)
                    .map_err(|e| malformed(n, format!("its schema is not valid: {e}")))?;
                refuse_unions(n, &schema)?;
                self.schema = Some(std::sync::Arc::new(schema));
            }
            if let Some(batch) = message.header_as_record_batch() {
                check_buffers(n, &batch, body_len)?;
                if let Some(schema) = &self.schema {
                    check_node_lengths(n, &batch, schema)?;
                }
                if let (Some(schema), None) = (&self.schema, batch.compression()) {
                    check_element_sizes(n, &buffer_lengths(&batch, None), schema)?;
                }
            }
            if let Some(batch) = message.header_as_dictionary_batch().and_then(|d| d.data()) {
                check_buffers(n, &batch, body_len)?;
            }
            body_len
        };
        if !self
            .read_exact_bounded(body_len, &mut bytes)
            .map_err(Error::ReadInput)?
        {
            return Err(malformed(
                n,
                format!("the input ends inside its body ({body_len} bytes declared)"),
            ));
        }
        // The metadata is parsed again (it is kilobytes) rather than the body copied aside: the
        // message borrows `bytes`, which the body was read into.
        let (meta, body) = bytes[meta_start..].split_at(meta_len);
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| malformed(n, format!("its metadata is not a valid message: {e}")))?;
        let batch = match message.header_as_record_batch() {
            Some(b) => Some((b, true)),
            None => message
                .header_as_dictionary_batch()
                .and_then(|d| d.data())
                .map(|b| (b, false)),
        };
        if let Some((batch, is_record)) = batch
            && batch.compression().is_some()
        {
            check_compressed_lengths(n, &batch, body)?;
            if let (true, Some(schema)) = (is_record, &self.schema) {
                check_element_sizes(n, &buffer_lengths(&batch, Some(body)), schema)?;
            }
        }
        self.pending = bytes;
        Ok(true)
    }
}

/// Refuses a schema with a union anywhere in it. arrow-rs slices a union's type-id and offset
/// buffers by the row count its field node declares, unchecked (a short buffer panics inside
/// arrow-buffer), and no keel input reads a union, so a stream that carries one is refused
/// when its schema arrives, before any batch is decoded, even in a column that would be
/// dropped.
fn refuse_unions(n: usize, schema: &arrow_schema::Schema) -> Result<(), Error> {
    use arrow_schema::DataType as T;
    fn has_union(t: &T) -> bool {
        match t {
            T::Union(..) => true,
            T::List(c)
            | T::LargeList(c)
            | T::ListView(c)
            | T::LargeListView(c)
            | T::FixedSizeList(c, _)
            | T::Map(c, _) => has_union(c.data_type()),
            T::Struct(children) => children.iter().any(|c| has_union(c.data_type())),
            T::Dictionary(k, v) => has_union(k) || has_union(v),
            T::RunEndEncoded(r, v) => has_union(r.data_type()) || has_union(v.data_type()),
            _ => false,
        }
    }
    match schema.fields().iter().find(|f| has_union(f.data_type())) {
        Some(f) => Err(malformed(
            n,
            format!(
                "column {:?} has an Arrow union type, which keel does not read",
                f.name()
            ),
        )),
        None => Ok(()),
    }
}

/// Every buffer of a batch lies inside the body.
fn check_buffers(
    n: usize,
    batch: &arrow_ipc::RecordBatch<'_>,
    body_len: usize,
) -> Result<(), Error> {
    let Some(buffers) = batch.buffers() else {
        return Ok(());
    };
    for (k, b) in buffers.iter().enumerate() {
        let end = u64::try_from(b.offset())
            .ok()
            .zip(u64::try_from(b.length()).ok())
            .and_then(|(o, l)| o.checked_add(l));
        match end {
            Some(end) if end <= u64::try_from(body_len).unwrap_or(u64::MAX) => {}
            _ => {
                return Err(malformed(
                    n,
                    format!(
                        "buffer {k} (offset {}, length {}) lies outside its {body_len}-byte body",
                        b.offset(),
                        b.length()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The buffers of a record batch (`lengths`, from [`buffer_lengths`]), field by field in the
/// schema's order, hold whole elements
/// where the type has a fixed width (values, offsets, dictionary keys): arrow-rs asserts that
/// when it reads them as typed slices. Types whose layout is not followed here (unions, views,
/// run-end encoding) end the check; arrow-rs's own validation covers them.
fn check_element_sizes(
    n: usize,
    lengths: &[i64],
    schema: &arrow_schema::Schema,
) -> Result<(), Error> {
    let mut next = 0usize;
    for field in schema.fields() {
        if !walk(n, field.data_type(), lengths, &mut next)? {
            break;
        }
    }
    Ok(())
}

/// The field nodes' lengths (rows per field and child, in the schema's depth-first order) are
/// not negative, and a fixed-size list's length times its width fits an `i64`: arrow-rs
/// multiplies them to size the child and panics on overflow. Types whose children are not
/// followed here (unions, run-end encoding) end the check; arrow-rs validates them.
fn check_node_lengths(
    n: usize,
    batch: &arrow_ipc::RecordBatch<'_>,
    schema: &arrow_schema::Schema,
) -> Result<(), Error> {
    use arrow_schema::DataType as T;
    let Some(nodes) = batch.nodes() else {
        return Ok(());
    };
    let lengths: Vec<i64> = nodes.iter().map(|node| node.length()).collect();
    fn visit(n: usize, t: &T, lengths: &[i64], next: &mut usize) -> Result<bool, Error> {
        let k = *next;
        *next += 1;
        let Some(&len) = lengths.get(k) else {
            return Err(malformed(
                n,
                format!("it has fewer field nodes than its schema needs ({k})"),
            ));
        };
        if len < 0 {
            return Err(malformed(n, format!("field node {k} has length {len}")));
        }
        match t {
            T::FixedSizeList(child, w) => {
                if len.checked_mul(i64::from(*w)).is_none() {
                    return Err(malformed(
                        n,
                        format!("field node {k}: {len} lists of {w} elements overflow"),
                    ));
                }
                visit(n, child.data_type(), lengths, next)
            }
            T::List(child) | T::LargeList(child) | T::Map(child, _) => {
                visit(n, child.data_type(), lengths, next)
            }
            T::Struct(children) => {
                for c in children {
                    if !visit(n, c.data_type(), lengths, next)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            T::Union(..) | T::RunEndEncoded(..) => Ok(false),
            _ => Ok(true),
        }
    }
    let mut next = 0usize;
    for field in schema.fields() {
        if !visit(n, field.data_type(), &lengths, &mut next)? {
            break;
        }
    }
    Ok(())
}

/// The byte lengths of a batch's buffers as arrow-rs will see them: as declared, or for a
/// compressed batch (whose body has been read) the decompressed lengths their prefixes declare.
fn buffer_lengths(batch: &arrow_ipc::RecordBatch<'_>, body: Option<&[u8]>) -> Vec<i64> {
    let Some(buffers) = batch.buffers() else {
        return Vec::new();
    };
    buffers
        .iter()
        .map(|b| match (batch.compression(), body) {
            (Some(_), Some(body)) if b.length() > 0 => usize::try_from(b.offset())
                .ok()
                .and_then(|o| body.get(o..o.checked_add(8)?))
                .and_then(|p| <[u8; 8]>::try_from(p).ok())
                .map(i64::from_le_bytes)
                // -1: stored uncompressed after the prefix.
                .map_or(0, |d| if d == -1 { b.length() - 8 } else { d }),
            _ => b.length(),
        })
        .collect()
}

/// Consumes the buffers of one field of type `t` from `lengths[*next..]`, checking fixed-width
/// ones; `Ok(false)` for a layout not followed here (the rest of the batch is not checked).
fn walk(
    n: usize,
    t: &arrow_schema::DataType,
    lengths: &[i64],
    next: &mut usize,
) -> Result<bool, Error> {
    use arrow_schema::DataType as T;
    let mut take = |width: usize| -> Result<(), Error> {
        let k = *next;
        *next += 1;
        let Some(&len) = lengths.get(k) else {
            return Err(malformed(
                n,
                format!("it has fewer buffers than its schema needs ({k})"),
            ));
        };
        if width > 1 && usize::try_from(len).map_or(true, |l| l % width != 0) {
            return Err(malformed(
                n,
                format!("buffer {k} is {len} bytes, not a whole number of {width}-byte elements"),
            ));
        }
        Ok(())
    };
    match t {
        T::Null => {}
        T::Boolean | T::FixedSizeBinary(_) => {
            take(1)?;
            take(1)?;
        }
        T::Utf8 | T::Binary => {
            take(1)?;
            take(4)?;
            take(1)?;
        }
        T::LargeUtf8 | T::LargeBinary => {
            take(1)?;
            take(8)?;
            take(1)?;
        }
        T::List(child) | T::Map(child, _) => {
            take(1)?;
            take(4)?;
            return walk(n, child.data_type(), lengths, next);
        }
        T::LargeList(child) => {
            take(1)?;
            take(8)?;
            return walk(n, child.data_type(), lengths, next);
        }
        T::FixedSizeList(child, _) => {
            take(1)?;
            return walk(n, child.data_type(), lengths, next);
        }
        T::Struct(children) => {
            take(1)?;
            for c in children {
                if !walk(n, c.data_type(), lengths, next)? {
                    return Ok(false);
                }
            }
        }
        T::Dictionary(key, _) => {
            take(1)?;
            take(key.primitive_width().unwrap_or(1))?;
        }
        other => match other.primitive_width() {
            Some(width) => {
                take(1)?;
                take(width)?;
            }
            None => return Ok(false),
        },
    }
    Ok(true)
}

/// A compressed buffer starts with its decompressed length (little-endian i64, -1 when the
/// buffer is stored uncompressed); arrow-rs allocates that much before decompressing.
fn check_compressed_lengths(
    n: usize,
    batch: &arrow_ipc::RecordBatch<'_>,
    body: &[u8],
) -> Result<(), Error> {
    let Some(buffers) = batch.buffers() else {
        return Ok(());
    };
    for (k, b) in buffers.iter().enumerate() {
        let (Ok(offset), Ok(length)) = (usize::try_from(b.offset()), usize::try_from(b.length()))
        else {
            continue;
        };
        if length == 0 {
            continue;
        }
        let Some(prefix) = body.get(offset..offset.saturating_add(8)) else {
            return Err(malformed(
                n,
                format!("compressed buffer {k} is shorter than its length prefix"),
            ));
        };
        let declared = i64::from_le_bytes(prefix.try_into().unwrap_or([0; 8]));
        if !(-1..=MAX_DECOMPRESSED).contains(&declared) {
            return Err(malformed(
                n,
                format!("compressed buffer {k} declares {declared} decompressed bytes"),
            ));
        }
    }
    Ok(())
}

fn malformed(message: usize, what: String) -> Error {
    Error::Input(format!(
        "the Arrow IPC input is malformed: message {message}: {what}"
    ))
}

impl<R: BufRead> Read for CheckedMessages<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            match self.next_message() {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.to_string(),
                    ));
                }
            }
        }
        let rest = &self.pending[self.at..];
        let k = rest.len().min(out.len());
        out[..k].copy_from_slice(&rest[..k]);
        self.at += k;
        Ok(k)
    }
}
