//! Readers: turn a byte stream in one of the [`Format`]s into record batches typed by the
//! bundle's input schema, one batch at a time. Nothing here reads more than one batch ahead,
//! so scoring a file larger than memory takes memory proportional to the batch size.
//!
//! - CSV: the header is read here (it decides which fields feed which input), the records are
//!   split by `arrow-csv`'s decoder into text columns, and every field is parsed by its declared
//!   type (the `columns` module), so a bad value names its row and column. Fields are matched to
//!   inputs by header name, in any order; a vector input `v` of width n reads n columns named
//!   `v[name]` (the field's element names) or `v[0]`..`v[n-1]`, as the CSV writer writes them.
//! - JSON lines: each line is split into one raw slice per key with `serde_json` and parsed by
//!   the declared type; an absent key is a null (as Spark and Arrow write nulls), but a column
//!   absent from every row of the first batch is reported missing rather than read as all-null.
//! - Arrow IPC (file or stream, told apart by the file format's magic bytes): batches are taken
//!   as they come, one output batch per input batch (the worker protocol relies on that), with
//!   the input columns picked by name; the runtime checks their types.

use crate::columns::{BatchBuilder, ColumnBuilder};
use crate::error::Error;
use crate::format::Format;
use crate::ipc_check::CheckedMessages;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use keel_bundle::Field;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::sync::Arc;

/// What to do with input columns the bundle does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// Refuse the input, naming the column.
    Reject,
    /// Drop them.
    Ignore,
}

/// A stream of input batches.
pub trait Source {
    /// The next batch, or `None` at the end of the input.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error>;
}

/// Opens a reader of `format` over `input` for a bundle with input `fields`.
pub fn open<'a>(
    format: Format,
    input: Box<dyn BufRead + 'a>,
    fields: &[Field],
    batch_size: usize,
    extra: Extra,
) -> Result<Box<dyn Source + 'a>, Error> {
    let batch_size = batch_size.max(1);
    Ok(match format {
        Format::Csv => Box::new(CsvSource::new(input, fields, batch_size, extra)?),
        Format::Jsonl => Box::new(JsonSource::new(input, fields, batch_size, extra)?),
        Format::Arrow | Format::Arrows => Box::new(ArrowSource::new(input, fields, extra)?),
    })
}

pub(crate) fn extra_column(column: &str) -> Error {
    Error::ExtraColumn {
        column: column.to_string(),
        message: format!(
            "input column `{column}` is not part of the bundle's input schema \
             (pass --ignore-extra-columns to ignore it)"
        ),
    }
}

fn missing_column(column: &str, found: &[String]) -> Error {
    const SHOW: usize = 12;
    let mut list = found
        .iter()
        .take(SHOW)
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if found.len() > SHOW {
        list.push_str(&format!(", ... ({} in all)", found.len()));
    }
    if list.is_empty() {
        list = "none".into();
    }
    Error::MissingColumn {
        column: column.to_string(),
        message: format!("input column `{column}` is missing (the input has: {list})"),
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------------------------
// CSV

/// Splits one CSV record (the header) into fields: RFC 4180 quoting, `""` for a quote inside
/// quotes. The data records are split by `arrow-csv`; the header is split here because it
/// decides how many fields the records have.
fn split_record(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
            at_start = true;
        } else {
            field.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("the header has an unterminated quote".into());
    }
    fields.push(field);
    Ok(fields)
}

/// Reads the header record: up to the first line break outside quotes.
fn read_header(input: &mut dyn BufRead) -> Result<Vec<u8>, Error> {
    let mut header = Vec::new();
    loop {
        let n = input
            .read_until(b'\n', &mut header)
            .map_err(Error::ReadInput)?;
        let quotes = header.iter().filter(|&&b| b == b'"').count();
        if n == 0 || quotes % 2 == 0 {
            return Ok(header);
        }
        if header.len() > 1 << 24 {
            return Err(Error::Input(
                "the CSV header is longer than 16 MiB (an unterminated quote?)".into(),
            ));
        }
    }
}

/// Where one input column's values come from in a CSV record.
#[derive(Debug)]
struct CsvColumn {
    /// Whether the input is a vector (its elements are separate CSV columns).
    vector: bool,
    /// Positions in the decoder's projected batch, one per element (one for a scalar).
    sources: Vec<usize>,
    /// The header names of those positions, for messages.
    names: Vec<String>,
}

struct CsvSource<'a> {
    input: Box<dyn BufRead + 'a>,
    decoder: arrow_csv::reader::Decoder,
    utf8: Utf8Check,
    columns: Vec<CsvColumn>,
    builder: BatchBuilder,
    rows: u64,
}

/// The header names a vector input reads, as the CSV writer names a vector's elements.
pub(crate) fn element_names(field: &Field, width: usize) -> Vec<String> {
    (0..width)
        .map(|j| match field.names.get(j) {
            Some(n) if field.names.len() == width => format!("{}[{n}]", field.name),
            _ => format!("{}[{j}]", field.name),
        })
        .collect()
}

impl<'a> CsvSource<'a> {
    fn new(
        mut input: Box<dyn BufRead + 'a>,
        fields: &[Field],
        batch_size: usize,
        extra: Extra,
    ) -> Result<Self, Error> {
        let raw = read_header(&mut input)?;
        if raw.is_empty() {
            return Err(Error::Input(
                "the CSV input is empty: expected a header row naming the columns".into(),
            ));
        }
        // A byte-order mark (spreadsheet exports) is not part of the first column's name.
        let body = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw);
        let text = std::str::from_utf8(body)
            .map_err(|_| Error::Input("the CSV header is not valid UTF-8".into()))?;
        let header = split_record(text.trim_end_matches(['\n', '\r'])).map_err(Error::Input)?;

        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut twice: Vec<&str> = Vec::new();
        for (i, name) in header.iter().enumerate() {
            if position.insert(name.as_str(), i).is_some() {
                twice.push(name);
            }
        }
        let mut projection = Vec::new();
        let mut columns = Vec::new();
        for f in fields {
            let builder = ColumnBuilder::new(f).map_err(Error::Input)?;
            let vector = builder.width().is_some();
            let names = match builder.width() {
                Some(w) => element_names(f, w),
                None => vec![f.name.clone()],
            };
            let mut sources = Vec::new();
            for n in &names {
                if twice.contains(&n.as_str()) {
                    return Err(Error::Input(format!(
                        "the CSV header names column `{n}` more than once"
                    )));
                }
                let i = position
                    .get(n.as_str())
                    .ok_or_else(|| missing_column(n, &header))?;
                sources.push(projection.len());
                projection.push(*i);
            }
            columns.push(CsvColumn {
                vector,
                sources,
                names,
            });
        }
        if extra == Extra::Reject
            && let Some((_, name)) = header
                .iter()
                .enumerate()
                .find(|(i, _)| !projection.contains(i))
        {
            return Err(extra_column(name));
        }

        // Every field is read as text and parsed by `columns`, so the decoder's schema is all
        // strings; its width is the header's, which it enforces on every record.
        let text_schema = Arc::new(Schema::new(
            (0..header.len())
                .map(|i| ArrowField::new(format!("c{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let mut decoder = arrow_csv::ReaderBuilder::new(text_schema)
            .with_header(true)
            .with_batch_size(batch_size)
            .with_projection(projection)
            .build_decoder();
        // The decoder skips the header itself; feeding it keeps its line numbers equal to the
        // file's (line 1 = the header) in its messages about malformed records.
        decoder
            .decode(&raw)
            .map_err(|e| Error::Input(format!("csv: {e}")))?;
        Ok(CsvSource {
            input,
            decoder,
            utf8: Utf8Check::default(),
            builder: BatchBuilder::new(fields).map_err(Error::Input)?,
            columns,
            rows: 0,
        })
    }

    fn fill(&mut self) -> Result<Option<RecordBatch>, Error> {
        // The decoder counts lines itself (the header is line 1), so its message locates the
        // record better than the batch's first row would.
        let csv_err = |e: arrow_schema::ArrowError| match e {
            arrow_schema::ArrowError::CsvError(m) => {
                Error::Input(format!("malformed CSV input: {m} (the header is line 1)"))
            }
            other => Error::Arrow {
                context: "cannot read the CSV input",
                source: other,
            },
        };
        loop {
            let buf = self.input.fill_buf().map_err(Error::ReadInput)?;
            let at_end = buf.is_empty();
            let decoded = self.decoder.decode(buf).map_err(csv_err)?;
            // The decoder hands its fields out as `&str` without checking them, so the bytes
            // it took are checked here, before `flush` builds strings from them.
            self.utf8.check(&buf[..decoded], at_end)?;
            self.input.consume(decoded);
            if decoded == 0 || self.decoder.capacity() == 0 {
                break;
            }
        }
        self.decoder.flush().map_err(csv_err)
    }
}

/// UTF-8 validation of a byte stream fed in pieces that may split a character.
#[derive(Default)]
struct Utf8Check {
    /// The start of a character the previous piece ended inside (at most 3 bytes).
    pending: Vec<u8>,
    /// Bytes checked so far, for the message.
    offset: u64,
}

impl Utf8Check {
    fn check(&mut self, piece: &[u8], at_end: bool) -> Result<(), Error> {
        let invalid = |at: u64| {
            Error::Input(format!(
                "the CSV input is not valid UTF-8 (byte {at} after the header)"
            ))
        };
        let mut rest = piece;
        // Complete a character split by the previous piece, a byte at a time.
        while !self.pending.is_empty() {
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            self.pending.push(b);
            rest = tail;
            match std::str::from_utf8(&self.pending) {
                Ok(_) => {
                    self.offset += to_u64(self.pending.len());
                    self.pending.clear();
                }
                Err(e) if e.error_len().is_none() && self.pending.len() < 4 => {}
                Err(_) => return Err(invalid(self.offset)),
            }
        }
        match std::str::from_utf8(rest) {
            Ok(_) => self.offset += to_u64(rest.len()),
            Err(e) if e.error_len().is_none() => {
                self.offset += to_u64(e.valid_up_to());
                self.pending.extend_from_slice(&rest[e.valid_up_to()..]);
            }
            Err(e) => return Err(invalid(self.offset + to_u64(e.valid_up_to()))),
        }
        if at_end && !self.pending.is_empty() {
            return Err(invalid(self.offset));
        }
        Ok(())
    }
}

impl Source for CsvSource<'_> {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        let Some(text) = self.fill()? else {
            return Ok(None);
        };
        let rows = text.num_rows();
        let strings: Vec<&StringArray> = text
            .columns()
            .iter()
            .map(|c| c.as_string_opt::<i32>())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::Input("csv: the decoder returned a non-text column".into()))?;
        let get = |k: usize, i: usize| -> Option<&str> {
            let a = strings.get(k)?;
            (!a.is_null(i)).then(|| a.value(i))
        };
        for (c, col) in self.columns.iter_mut().zip(&mut self.builder.columns) {
            for i in 0..rows {
                let row = self.rows + to_u64(i);
                if !c.vector {
                    let k = c.sources.first().copied().unwrap_or(usize::MAX);
                    col.append_text(get(k, i)).map_err(|message| Error::Value {
                        row,
                        column: c.names.first().cloned().unwrap_or_default(),
                        message,
                    })?;
                } else {
                    col.append_text_row(c.sources.iter().map(|&k| get(k, i)))
                        .map_err(|(j, message)| Error::Value {
                            row,
                            column: c.names.get(j).cloned().unwrap_or_default(),
                            message,
                        })?;
                }
            }
        }
        let batch = self.builder.finish(rows).map_err(Error::Input)?;
        self.rows += to_u64(rows);
        Ok(Some(batch))
    }
}

// ---------------------------------------------------------------------------------------------
// JSON lines

/// A key of a row object: the index of a known input column, or an unknown name.
enum Key {
    Known(usize),
    Unknown(String),
}

struct KeySeed<'a>(&'a HashMap<String, usize>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        Ok(match self.0.get(s) {
            Some(&i) => Key::Known(i),
            None => Key::Unknown(s.to_string()),
        })
    }
}

/// Splits one row object into a raw slice per input column without building a JSON tree.
struct RowSeed<'a, 'de> {
    index: &'a HashMap<String, usize>,
    slots: &'a mut [Option<&'de RawValue>],
    unknown: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with one key per column")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(self.index))? {
            match key {
                Key::Known(i) => {
                    let v: &'de RawValue = map.next_value()?;
                    match self.slots.get_mut(i) {
                        Some(slot @ None) => *slot = Some(v),
                        _ => return Err(de::Error::custom("a column appears twice in the object")),
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    self.unknown.get_or_insert(name);
                }
            }
        }
        Ok(())
    }
}

/// Longest line accepted: a bound on memory for input that is not JSON lines at all.
const MAX_LINE: u64 = 64 << 20;

/// Row objects (`{"column": value, ...}`) parsed into typed columns by the bundle's input
/// schema. JSON lines feed it one line at a time; the REST server feeds it the elements of a
/// `{"rows": [...]}` document. An absent key is a null, but a column absent from every row of
/// a batch is reported missing ([`JsonRows::check_seen`]) rather than read as all-null.
pub struct JsonRows {
    fields: Vec<Field>,
    index: HashMap<String, usize>,
    builder: BatchBuilder,
    extra: Extra,
    /// Per column, whether any row so far had its key.
    seen: Vec<bool>,
}

impl JsonRows {
    /// A parser for rows of the bundle's input `fields`.
    pub fn new(fields: &[Field], extra: Extra) -> Result<Self, Error> {
        Self::with_capacity(fields, extra, 1024)
    }

    /// A parser sized for `rows` rows per batch.
    pub fn with_capacity(fields: &[Field], extra: Extra, rows: usize) -> Result<Self, Error> {
        Ok(JsonRows {
            fields: fields.to_vec(),
            index: fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect(),
            builder: BatchBuilder::with_capacity(fields, rows).map_err(Error::Input)?,
            extra,
            seen: vec![false; fields.len()],
        })
    }

    /// Parses one row object (its JSON text) and appends its values; `row` numbers it in
    /// messages.
    pub fn push(&mut self, text: &str, row: u64) -> Result<(), Error> {
        let mut slots: Vec<Option<&RawValue>> = vec![None; self.fields.len()];
        let mut unknown = None;
        let mut de = serde_json::Deserializer::from_str(text);
        RowSeed {
            index: &self.index,
            slots: &mut slots,
            unknown: &mut unknown,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| Error::Row {
            row,
            message: format!("invalid JSON: {e}"),
        })?;
        if let (Some(name), Extra::Reject) = (unknown, self.extra) {
            return Err(extra_column(&name));
        }
        for (i, ((col, slot), field)) in self
            .builder
            .columns
            .iter_mut()
            .zip(&slots)
            .zip(&self.fields)
            .enumerate()
        {
            if slot.is_some()
                && let Some(s) = self.seen.get_mut(i)
            {
                *s = true;
            }
            col.append_json(*slot).map_err(|message| Error::Value {
                row,
                column: field.name.clone(),
                message,
            })?;
        }
        Ok(())
    }

    /// Refuses the rows so far if some column appeared in none of them (`n` rows).
    pub fn check_seen(&self, n: usize) -> Result<(), Error> {
        match self.fields.iter().zip(&self.seen).find(|(_, s)| !**s) {
            Some((f, _)) => Err(Error::MissingColumn {
                column: f.name.clone(),
                message: format!(
                    "input column `{}` is missing: no row of the first {n} has that key \
                     (write null for a missing value)",
                    f.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// The `rows` rows pushed since the last call, as one batch.
    pub fn finish(&mut self, rows: usize) -> Result<RecordBatch, Error> {
        self.builder.finish(rows).map_err(Error::Input)
    }
}

struct JsonSource<'a> {
    input: Box<dyn BufRead + 'a>,
    parser: JsonRows,
    batch_size: usize,
    line: Vec<u8>,
    rows: u64,
    checked: bool,
}

impl<'a> JsonSource<'a> {
    fn new(
        input: Box<dyn BufRead + 'a>,
        fields: &[Field],
        batch_size: usize,
        extra: Extra,
    ) -> Result<Self, Error> {
        Ok(JsonSource {
            input,
            parser: JsonRows::new(fields, extra)?,
            batch_size,
            line: Vec::new(),
            rows: 0,
            checked: false,
        })
    }

    /// Reads the next non-blank line into `self.line`; `false` at the end of the input.
    fn read_line(&mut self) -> Result<bool, Error> {
        loop {
            self.line.clear();
            let n = (&mut self.input)
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut self.line)
                .map_err(Error::ReadInput)?;
            if n == 0 {
                return Ok(false);
            }
            if to_u64(self.line.len()) > MAX_LINE {
                return Err(Error::Row {
                    row: self.rows,
                    message: format!("the line is longer than {} MiB", MAX_LINE >> 20),
                });
            }
            if !self.line.trim_ascii().is_empty() {
                return Ok(true);
            }
        }
    }

    fn parse_line(&mut self, row: u64) -> Result<(), Error> {
        let text = std::str::from_utf8(&self.line).map_err(|_| Error::Row {
            row,
            message: "the line is not valid UTF-8".into(),
        })?;
        match self.parser.push(text, row) {
            Err(Error::Row { row, message }) if row == 0 && text.trim_start().starts_with('[') => {
                Err(Error::Row {
                    row,
                    message: format!(
                        "{message} (the input must be JSON lines, one object per line, not a \
                         JSON array)"
                    ),
                })
            }
            other => other,
        }
    }
}

impl Source for JsonSource<'_> {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        let mut n = 0;
        while n < self.batch_size && self.read_line()? {
            self.parse_line(self.rows + to_u64(n))?;
            n += 1;
        }
        if n == 0 {
            return Ok(None);
        }
        if !self.checked {
            self.checked = true;
            self.parser.check_seen(n)?;
        }
        let batch = self.parser.finish(n)?;
        self.rows += to_u64(n);
        Ok(Some(batch))
    }
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC

/// The magic bytes and padding that open an Arrow IPC file. After them, a file holds exactly an
/// IPC stream (schema, dictionaries, batches, end marker) followed by a footer, so reading the
/// stream part serves both formats, from a pipe as well as a file, without seeking.
const FILE_MAGIC: &[u8; 6] = b"ARROW1";

/// Skips an Arrow IPC file's magic and the zero padding after it. Writers pad to their own
/// alignment (pyarrow to 8 bytes, arrow-rs to 64), so the padding is skipped a 4-byte word at a
/// time until the first message: it is the schema, whose first word (the continuation marker,
/// or in the legacy layout its length) is never zero.
fn skip_file_header<'a>(mut input: Box<dyn BufRead + 'a>) -> Result<Box<dyn BufRead + 'a>, Error> {
    let mut magic = [0u8; 6];
    input.read_exact(&mut magic).map_err(Error::ReadInput)?;
    let mut pad = [0u8; 2];
    input.read_exact(&mut pad).map_err(Error::ReadInput)?;
    loop {
        let mut word = [0u8; 4];
        input.read_exact(&mut word).map_err(Error::ReadInput)?;
        if word != [0; 4] {
            return Ok(Box::new(std::io::Cursor::new(word).chain(input)));
        }
    }
}

struct ArrowSource<'a> {
    reader: arrow_ipc::reader::StreamReader<CheckedMessages<Box<dyn BufRead + 'a>>>,
    /// For each bundle input, its position in the incoming batches.
    picks: Vec<usize>,
}

impl<'a> ArrowSource<'a> {
    fn new(
        mut input: Box<dyn BufRead + 'a>,
        fields: &[Field],
        extra: Extra,
    ) -> Result<Self, Error> {
        let head = input.fill_buf().map_err(Error::ReadInput)?;
        if head.is_empty() {
            return Err(Error::Input(
                "the Arrow input is empty: expected an Arrow IPC stream or file".into(),
            ));
        }
        if head.starts_with(FILE_MAGIC) {
            input = skip_file_header(input)?;
        }
        // Messages reach arrow-rs only once their buffers are known to lie inside their bodies.
        let reader = arrow_ipc::reader::StreamReader::try_new(CheckedMessages::new(input), None)
            .map_err(|source| Error::Arrow {
                context: "cannot read the Arrow IPC input",
                source,
            })?;
        let incoming = reader.schema();
        let names: Vec<String> = incoming.fields().iter().map(|f| f.name().clone()).collect();
        let mut picks = Vec::new();
        for f in fields {
            let i = incoming
                .index_of(&f.name)
                .map_err(|_| missing_column(&f.name, &names))?;
            picks.push(i);
        }
        if extra == Extra::Reject
            && let Some(name) = names.iter().find(|n| !fields.iter().any(|f| &f.name == *n))
        {
            return Err(extra_column(name));
        }
        Ok(ArrowSource { reader, picks })
    }
}

/// Dictionary-encoded strings (pandas categoricals become these in Arrow) are unpacked to plain
/// strings, the representation the runtime takes; every other type goes to the runtime as is,
/// which checks it against the declared type and names the column if it does not fit.
///
/// The values are copied key by key with `MutableArrayData` rather than arrow-cast's general
/// `cast` (or arrow-select's `take`), whose dispatchers over every type were a third of the
/// browser build's code.
fn unpack(column: &ArrayRef) -> Result<ArrayRef, Error> {
    let Some(dict) = column.as_any_dictionary_opt() else {
        return Ok(column.clone());
    };
    let values = dict.values().to_data();
    let keys = dict.normalized_keys();
    let mut out = arrow_data::transform::MutableArrayData::new(vec![&values], true, keys.len());
    let arrow = |source| Error::Arrow {
        context: "cannot unpack a dictionary-encoded column",
        source,
    };
    for (i, &k) in keys.iter().enumerate() {
        if dict.keys().is_null(i) || k >= values.len() {
            out.try_extend_nulls(1).map_err(arrow)?;
        } else {
            out.try_extend(0, k, k + 1).map_err(arrow)?;
        }
    }
    Ok(arrow_array::make_array(out.freeze()))
}

impl Source for ArrowSource<'_> {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, Error> {
        let Some(batch) = self.reader.next() else {
            return Ok(None);
        };
        let batch = batch.map_err(|source| Error::Arrow {
            context: "cannot read the Arrow IPC input",
            source,
        })?;
        let incoming = batch.schema();
        let mut columns = Vec::with_capacity(self.picks.len());
        let mut fields = Vec::with_capacity(self.picks.len());
        for &i in &self.picks {
            let (Some(col), Some(field)) = (batch.columns().get(i), incoming.fields().get(i))
            else {
                return Err(Error::Input(
                    "an Arrow batch does not match its stream's schema".into(),
                ));
            };
            let col = unpack(col)?;
            fields.push(
                field
                    .as_ref()
                    .clone()
                    .with_data_type(col.data_type().clone())
                    .with_nullable(true),
            );
            columns.push(col);
        }
        let schema = Arc::new(Schema::new(fields));
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(schema, columns, &options)
            .map(Some)
            .map_err(|source| Error::Arrow {
                context: "cannot assemble the input batch",
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use keel_bundle::DType;

    #[test]
    fn dictionary_strings_unpack_with_their_nulls() {
        let dict: arrow_array::DictionaryArray<arrow_array::types::Int8Type> =
            vec![Some("b"), None, Some("a"), Some("b")]
                .into_iter()
                .collect();
        let column: ArrayRef = Arc::new(dict);
        let plain = unpack(&column).unwrap();
        let strings = plain.as_string::<i32>();
        assert_eq!(
            strings.iter().collect::<Vec<_>>(),
            vec![Some("b"), None, Some("a"), Some("b")]
        );
    }

    fn fields() -> Vec<Field> {
        vec![
            Field::scalar("a", DType::F64, true),
            Field::scalar("b, c", DType::Utf8, true),
        ]
    }

    #[test]
    fn header_splitting_follows_rfc4180() {
        assert_eq!(
            split_record(r#"a,"b, c","say ""hi""",,d"#).unwrap(),
            vec!["a", "b, c", "say \"hi\"", "", "d"]
        );
        assert!(split_record("\"open").is_err());
    }

    #[test]
    fn csv_columns_are_matched_by_name_and_rows_counted_globally() {
        let data = "\u{feff}\"b, c\",a\r\nx,1\r\ny,2\r\nz,oops\r\n";
        let mut src =
            CsvSource::new(Box::new(data.as_bytes()), &fields(), 2, Extra::Reject).unwrap();
        let b = src.next_batch().unwrap().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_primitive::<Float64Type>().value(1), 2.0);
        assert_eq!(b.column(1).as_string::<i32>().value(0), "x");
        let e = src.next_batch().unwrap_err().to_string();
        assert_eq!(e, "row 2, column `a`: cannot read \"oops\" as f64");
    }

    #[test]
    fn csv_missing_and_extra_columns_are_refused() {
        let e = CsvSource::new(Box::new("a\n1\n".as_bytes()), &fields(), 2, Extra::Reject)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`b, c` is missing"), "{e}");
        let e = CsvSource::new(
            Box::new("a,b, c,z\n".as_bytes()),
            &fields()[..1],
            2,
            Extra::Reject,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("`b` is not part"), "{e}");
        assert!(
            CsvSource::new(
                Box::new("a,z\n1,2\n".as_bytes()),
                &fields()[..1],
                2,
                Extra::Ignore
            )
            .is_ok()
        );
    }

    #[test]
    fn csv_vector_inputs_read_one_column_per_element() {
        let v = Field {
            names: vec!["p".into(), "q".into()],
            ..Field::vector("v", DType::F64, 2)
        };
        let data = "v[q],v[p]\n1,2\n,4\n";
        let mut src = CsvSource::new(
            Box::new(data.as_bytes()),
            std::slice::from_ref(&v),
            8,
            Extra::Reject,
        )
        .unwrap();
        let b = src.next_batch().unwrap().unwrap();
        let l = b.column(0).as_fixed_size_list();
        let vals = l.values().as_primitive::<Float64Type>();
        assert_eq!(
            (vals.value(0), vals.value(1), vals.value(2)),
            (2.0, 1.0, 4.0)
        );
        assert!(vals.value(3).is_nan(), "an empty element is missing");
        let e = CsvSource::new(Box::new("v[p]\n".as_bytes()), &[v], 8, Extra::Reject)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`v[q]` is missing"), "{e}");
    }

    #[test]
    fn json_lines_parse_by_schema() {
        let data =
            "{\"a\": 1, \"b, c\": \"x\"}\n\n{\"a\": null}\n{\"a\": \"x\", \"b, c\": \"y\"}\n";
        let mut src =
            JsonSource::new(Box::new(data.as_bytes()), &fields(), 2, Extra::Reject).unwrap();
        let b = src.next_batch().unwrap().unwrap();
        assert_eq!(b.num_rows(), 2);
        assert!(b.column(0).is_null(1) && b.column(1).is_null(1));
        let e = src.next_batch().unwrap_err().to_string();
        assert!(e.starts_with("row 2, column `a`: expected a number"), "{e}");

        let mut src = JsonSource::new(
            Box::new("{\"a\": 1}\n".as_bytes()),
            &fields(),
            8,
            Extra::Reject,
        )
        .unwrap();
        let e = src.next_batch().unwrap_err().to_string();
        assert!(e.contains("`b, c` is missing"), "{e}");

        let mut src = JsonSource::new(
            Box::new("[{\"a\": 1}]\n".as_bytes()),
            &fields(),
            8,
            Extra::Reject,
        )
        .unwrap();
        let e = src.next_batch().unwrap_err().to_string();
        assert!(e.contains("not a JSON array"), "{e}");
    }

    #[test]
    fn binary_cells_are_base64_in_csv_and_json_lines() {
        let fields = vec![Field::scalar("img", DType::Binary, true)];
        // "AAEC/w==" is the bytes 0, 1, 2, 255; an empty CSV field is a null.
        let data = "img\nAAEC/w==\n\"\"\naGk=\n";
        let mut src = CsvSource::new(Box::new(data.as_bytes()), &fields, 8, Extra::Reject).unwrap();
        let b = src.next_batch().unwrap().unwrap();
        let col = b.column(0).as_binary::<i32>();
        assert_eq!(col.value(0), &[0, 1, 2, 255]);
        assert!(col.is_null(1));
        assert_eq!(col.value(2), b"hi");
        let lines = "{\"img\": \"AAEC/w==\"}\n{\"img\": null}\n{\"img\": \"\"}\n";
        let mut src =
            JsonSource::new(Box::new(lines.as_bytes()), &fields, 8, Extra::Reject).unwrap();
        let b = src.next_batch().unwrap().unwrap();
        let col = b.column(0).as_binary::<i32>();
        assert_eq!(col.value(0), &[0, 1, 2, 255]);
        assert!(col.is_null(1));
        assert!(col.is_valid(2) && col.value(2).is_empty());
    }

    #[test]
    fn bad_base64_names_the_column_and_row() {
        let fields = vec![Field::scalar("img", DType::Binary, true)];
        // Unpadded, a URL-safe character, embedded whitespace, and a number.
        for (bad, says) in [
            ("\"aGk\"", "base64"),
            ("\"a-k=\"", "base64"),
            ("\"aG k=\"", "base64"),
            ("12", "base64 string"),
        ] {
            let lines = format!("{{\"img\": \"aGk=\"}}\n{{\"img\": {bad}}}\n");
            let mut src =
                JsonSource::new(Box::new(lines.as_bytes()), &fields, 8, Extra::Reject).unwrap();
            let e = src.next_batch().unwrap_err().to_string();
            assert!(e.starts_with("row 1, column `img`:"), "{bad}: {e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
        let data = "img\naGk=\n%%%\n";
        let mut src = CsvSource::new(Box::new(data.as_bytes()), &fields, 8, Extra::Reject).unwrap();
        let e = src.next_batch().unwrap_err().to_string();
        assert!(
            e.starts_with("row 1, column `img`: cannot read \"%%%\" as base64"),
            "{e}"
        );
    }
}
