//! One instance of the guest in its own store: its exports, its memory cap, and a call under a
//! budget. A call that traps leaves the instance in an unknown state, so [`Instance::call`]
//! consumes the instance on failure of that kind, and the caller makes a new one.

use crate::error::Error;
use std::time::Duration;
use wasmtime::{Engine, InstancePre, Memory, ResourceLimiter, Store, Trap, TypedFunc};

/// The store's data: the memory limiter, which also remembers that it refused a growth so a
/// trap that follows is reported as the memory cap, not as a crash.
#[derive(Debug)]
pub(crate) struct Guest {
    memory_cap: usize,
    refused_growth: bool,
}

/// Tables grow by one element per function made indirectly callable; a guest never needs more
/// than this many (keel's has a few thousand).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for Guest {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_cap;
        if !allowed {
            self.refused_growth = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The epoch deadline of a call without one: far enough to never come, near enough that
/// wasmtime's `current epoch + ticks` cannot overflow.
const NO_DEADLINE: u64 = u64::MAX / 2;

/// What one call may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Fuel units, where the engine meters fuel.
    pub fuel: Option<u64>,
    /// The deadline, and the epoch ticks it lasts; `None` = no deadline.
    pub deadline: Option<(Duration, u64)>,
    /// The memory cap (for the error message).
    pub memory: u64,
}

/// The guest's exports, typed.
struct Exports {
    memory: Memory,
    input: TypedFunc<u32, u32>,
    load: TypedFunc<(), u32>,
    score: TypedFunc<(u32, u32, u32), u32>,
    result_ptr: TypedFunc<(), u32>,
    result_len: TypedFunc<(), u32>,
}

/// What a call asks the guest to do with its argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// Plan the argument as the bundle.
    Load,
    /// Score the argument: input format, output format, flags.
    Score(u32, u32, u32),
}

/// An instance of the guest.
pub(crate) struct Instance {
    store: Store<Guest>,
    exports: Exports,
    fuel_metered: bool,
    epochs: bool,
}

fn setup(e: wasmtime::Error) -> Error {
    Error::Setup(format!("cannot instantiate the guest: {e}"))
}

impl Instance {
    pub(crate) fn new(
        engine: &Engine,
        pre: &InstancePre<Guest>,
        memory_cap: u64,
        fuel_metered: bool,
        epochs: bool,
    ) -> Result<Instance, Error> {
        let mut store = Store::new(
            engine,
            Guest {
                memory_cap: usize::try_from(memory_cap).unwrap_or(usize::MAX),
                refused_growth: false,
            },
        );
        store.limiter(|guest| guest);
        if fuel_metered {
            // Instantiation runs the guest's start code, if any: give it room.
            store.set_fuel(u64::MAX).map_err(setup)?;
        }
        if epochs {
            store.set_epoch_deadline(NO_DEADLINE);
        }
        let instance = pre.instantiate(&mut store).map_err(|e| {
            if store.data().refused_growth {
                Error::Memory { limit: memory_cap }
            } else {
                setup(e)
            }
        })?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| Error::Setup("the guest exports no memory".into()))?;
        let func = |store: &mut Store<Guest>, name: &str| {
            instance
                .get_func(&mut *store, name)
                .ok_or_else(|| Error::Setup(format!("the guest does not export `{name}`")))
        };
        let typed = |e: wasmtime::Error| Error::Setup(format!("the guest's ABI differs: {e}"));
        let exports = Exports {
            memory,
            input: func(&mut store, "keel_input")?
                .typed(&store)
                .map_err(typed)?,
            load: func(&mut store, "keel_load")?
                .typed(&store)
                .map_err(typed)?,
            score: func(&mut store, "keel_score")?
                .typed(&store)
                .map_err(typed)?,
            result_ptr: func(&mut store, "keel_result_ptr")?
                .typed(&store)
                .map_err(typed)?,
            result_len: func(&mut store, "keel_result_len")?
                .typed(&store)
                .map_err(typed)?,
        };
        Ok(Instance {
            store,
            exports,
            fuel_metered,
            epochs,
        })
    }

    /// Runs `op` on `arg` under `budget`. `Ok(Ok(bytes))` is the guest's result,
    /// `Ok(Err(e))` its refusal (the instance stays usable); `Err((e, None))` means the
    /// instance trapped or failed and is gone.
    pub(crate) fn call(
        mut self,
        op: Op,
        arg: &[u8],
        budget: Budget,
    ) -> Result<(Instance, Result<Vec<u8>, Error>), Error> {
        self.store.data_mut().refused_growth = false;
        if self.fuel_metered {
            let fuel = budget.fuel.unwrap_or(crate::engine::LOAD_FUEL);
            self.store
                .set_fuel(fuel)
                .map_err(|e| self.failure(e, budget))?;
        }
        if self.epochs {
            self.store
                .set_epoch_deadline(budget.deadline.map_or(NO_DEADLINE, |(_, ticks)| ticks));
        }
        match self.run(op, arg) {
            Ok((status, bytes)) => {
                let result = if status == 0 {
                    Ok(bytes)
                } else if self.store.data().refused_growth {
                    // The guest met the cap and failed cleanly (a reader that reserves before
                    // it reads reports "out of memory"): the cause is still the cap.
                    Err(Error::Memory {
                        limit: budget.memory,
                    })
                } else {
                    Err(Error::from_guest(&bytes))
                };
                Ok((self, result))
            }
            Err(e) => Err(self.failure(e, budget)),
        }
    }

    fn run(&mut self, op: Op, arg: &[u8]) -> wasmtime::Result<(u32, Vec<u8>)> {
        let len = u32::try_from(arg.len())
            .map_err(|_| wasmtime::format_err!("the argument is larger than 4 GiB"))?;
        let ptr = self.exports.input.call(&mut self.store, len)?;
        if ptr == 0 && len > 0 {
            self.store.data_mut().refused_growth = true;
            return Err(wasmtime::format_err!(
                "the guest could not allocate the argument"
            ));
        }
        self.exports
            .memory
            .write(&mut self.store, to_usize(ptr), arg)?;
        let status = match op {
            Op::Load => self.exports.load.call(&mut self.store, ())?,
            Op::Score(i, o, f) => self.exports.score.call(&mut self.store, (i, o, f))?,
        };
        let ptr = self.exports.result_ptr.call(&mut self.store, ())?;
        let len = self.exports.result_len.call(&mut self.store, ())?;
        let mut out = vec![0; to_usize(len)];
        self.exports
            .memory
            .read(&self.store, to_usize(ptr), &mut out)?;
        Ok((status, out))
    }

    /// The error of a call that failed inside wasmtime, by its cause.
    fn failure(&self, e: wasmtime::Error, budget: Budget) -> Error {
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Error::Fuel {
                budget: budget.fuel.unwrap_or(crate::engine::LOAD_FUEL),
            },
            Some(Trap::Interrupt) => Error::Timeout {
                after: budget.deadline.map_or(Duration::ZERO, |(d, _)| d),
            },
            _ if self.store.data().refused_growth => Error::Memory {
                limit: budget.memory,
            },
            _ => Error::Trap {
                message: e.to_string(),
            },
        }
    }
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
