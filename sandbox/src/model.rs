//! [`SandboxedModel`]: one bundle loaded into guest instances, scored under the sandbox's
//! budget. Instances are pooled per model: a call takes an idle one (or makes one: instantiate,
//! then load the bundle under the load budget), and gives it back after an answer or a
//! refusal. An instance that trapped (fuel, deadline, memory, crash) is dropped, never reused:
//! its memory may hold half-written state, and the next call gets a fresh one. So the pool
//! holds as many instances as calls ever ran at once on the model (the server's scoring
//! threads, at most).

use crate::engine::Sandbox;
use crate::error::Error;
use crate::instance::{Budget, Instance, Op};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use keel_io::format::Format;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

/// `keel_score`'s flag: drop input columns the bundle does not declare.
const FLAG_IGNORE_EXTRA: u32 = 1;

/// A bundle loaded in the sandbox.
pub struct SandboxedModel {
    sandbox: Sandbox,
    bundle: Arc<[u8]>,
    output_schema: SchemaRef,
    idle: Mutex<Vec<Instance>>,
}

impl std::fmt::Debug for SandboxedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxedModel")
            .field("bundle_bytes", &self.bundle.len())
            .field("output_schema", &self.output_schema)
            .finish_non_exhaustive()
    }
}

fn format_code(format: Format) -> u32 {
    match format {
        Format::Csv => 0,
        Format::Jsonl => 1,
        Format::Arrow => 2,
        Format::Arrows => 3,
    }
}

fn protocol(context: &str) -> impl Fn(arrow_schema::ArrowError) -> Error + '_ {
    move |e| Error::Protocol(format!("{context}: {e}"))
}

impl SandboxedModel {
    /// Loads a keel bundle (its bytes, as `Model::from_bytes` takes them) in a new instance of
    /// `sandbox`'s guest: the guest reads, verifies and plans it under the load budget.
    pub fn load(sandbox: &Sandbox, bundle: &[u8]) -> Result<SandboxedModel, Error> {
        let bundle: Arc<[u8]> = Arc::from(bundle);
        let (instance, schema) = fresh(sandbox, &bundle)?;
        let reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(schema), None)
            .map_err(protocol("the guest's output schema"))?;
        Ok(SandboxedModel {
            sandbox: sandbox.clone(),
            bundle,
            output_schema: reader.schema(),
            idle: Mutex::new(vec![instance]),
        })
    }

    /// The schema of the scored batches (the bundle's outputs), as the guest's planner typed it.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The number of idle instances (for tests and metrics).
    pub fn idle_instances(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Scores `input` (a whole document in `input_format`) and returns the answer in
    /// `output_format`, as `keel score` writes it. Errors name rows within `input`.
    pub fn score_bytes(
        &self,
        input: &[u8],
        input_format: Format,
        output_format: Format,
        ignore_extra_columns: bool,
    ) -> Result<Vec<u8>, Error> {
        let flags = if ignore_extra_columns {
            FLAG_IGNORE_EXTRA
        } else {
            0
        };
        let op = Op::Score(format_code(input_format), format_code(output_format), flags);
        self.call(op, input)
    }

    /// Scores one batch (columns typed by the bundle's input schema, as keel-io reads them).
    /// An empty batch gives an empty answer.
    pub fn score(&self, batch: &RecordBatch) -> Result<RecordBatch, Error> {
        if batch.num_rows() == 0 {
            return Ok(RecordBatch::new_empty(self.output_schema.clone()));
        }
        let mut input = Vec::new();
        {
            let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut input, &batch.schema())
                .map_err(protocol("cannot encode the input"))?;
            writer
                .write(batch)
                .and_then(|()| writer.finish())
                .map_err(protocol("cannot encode the input"))?;
        }
        let answer = self.score_bytes(&input, Format::Arrows, Format::Arrows, false)?;
        let mut reader = arrow_ipc::reader::StreamReader::try_new(Cursor::new(answer), None)
            .map_err(protocol("the guest's answer"))?;
        match reader.next() {
            Some(batch) => batch.map_err(protocol("the guest's answer")),
            None => Ok(RecordBatch::new_empty(self.output_schema.clone())),
        }
    }

    fn call(&self, op: Op, arg: &[u8]) -> Result<Vec<u8>, Error> {
        let popped = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let instance = match popped {
            Some(instance) => instance,
            None => fresh(&self.sandbox, &self.bundle)?.0,
        };
        let (instance, result) = instance.call(op, arg, call_budget(&self.sandbox))?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(instance);
        result
    }
}

fn call_budget(sandbox: &Sandbox) -> Budget {
    let limits = sandbox.limits();
    Budget {
        fuel: limits.fuel,
        deadline: limits
            .timeout
            .and_then(|d| Some((d, sandbox.deadline_ticks(d)?))),
        memory: limits.memory,
    }
}

/// A new instance with `bundle` loaded, and the guest's answer to the load (the output schema).
fn fresh(sandbox: &Sandbox, bundle: &[u8]) -> Result<(Instance, Vec<u8>), Error> {
    let limits = sandbox.limits();
    let budget = Budget {
        fuel: None,
        deadline: limits
            .load_timeout
            .and_then(|d| Some((d, sandbox.deadline_ticks(d)?))),
        memory: limits.memory,
    };
    let (instance, result) = sandbox.instantiate()?.call(Op::Load, bundle, budget)?;
    Ok((instance, result?))
}
