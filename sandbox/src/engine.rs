//! The [`Sandbox`]: one wasmtime engine configured for the limits, the guest compiled once
//! (and cached on disk), the epoch ticker, and the factory of guest instances.
//!
//! Compiling the guest with Cranelift takes seconds, which a `keel score --sandbox` would pay on
//! every run; so the compiled code is kept in a cache folder, under a name made of the guest's
//! sha256 and the engine's compatibility hash (wasmtime's version and every setting that
//! changes generated code), and read back with `Module::deserialize_file`. A file that wasmtime
//! refuses (another version, another CPU) is compiled again and replaced.

use crate::error::Error;
use crate::instance::{Guest, Instance};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};

/// The guest module (`wasm/sandbox-guest`, built by this crate's build script).
pub const GUEST_WASM: &[u8] = include_bytes!(env!("KEEL_SANDBOX_GUEST"));

/// What a sandboxed call may spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel per call (wasmtime fuel units, about one per wasm instruction); `None` = no fuel
    /// metering, which keeps the guest's code free of the counting it costs.
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call (epoch interruption); `None` = none.
    pub timeout: Option<Duration>,
    /// The cap on each instance's linear memory, in bytes (at most 4 GiB, wasm32's range).
    pub memory: u64,
    /// The deadline of loading a bundle (reading and planning it), which can take longer than
    /// a call; `None` = none. Loads get no fuel budget of their own: where fuel is metered
    /// they run on [`LOAD_FUEL`].
    pub load_timeout: Option<Duration>,
    /// Instances that may exist at once across all models (the pooling allocator's slots).
    pub instances: u32,
}

/// Default of [`Limits::timeout`] (`--sandbox-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`Limits::memory`] (`--sandbox-memory`): 256 MiB.
pub const DEFAULT_MEMORY: u64 = 256 << 20;
/// Default of [`Limits::load_timeout`].
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Default of [`Limits::instances`].
pub const DEFAULT_INSTANCES: u32 = 256;
/// The fuel a load may spend where fuel is metered: bounded by the load's deadline instead.
pub const LOAD_FUEL: u64 = u64::MAX;

impl Default for Limits {
    /// No fuel metering, a 10 s deadline per call, 256 MiB of memory: the deadline is the cheap
    /// bound (an epoch check per loop), fuel the deterministic one (the same budget stops the
    /// same call on every machine) at the price of counting every instruction.
    fn default() -> Self {
        Limits {
            fuel: None,
            timeout: Some(DEFAULT_TIMEOUT),
            memory: DEFAULT_MEMORY,
            load_timeout: Some(DEFAULT_LOAD_TIMEOUT),
            instances: DEFAULT_INSTANCES,
        }
    }
}

/// The epoch ticker: a thread that advances the engine's epoch every `tick` until the sandbox
/// is dropped (its sender with it).
#[derive(Debug)]
struct Ticker {
    tick: Duration,
    _stop: mpsc::Sender<()>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> Result<Ticker, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let engine = engine.clone();
        std::thread::Builder::new()
            .name("keel-sandbox-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Setup(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Ticker { tick, _stop: stop })
    }

    /// Ticks until `d` has passed (at least one).
    fn ticks(&self, d: Duration) -> u64 {
        let tick = self.tick.as_nanos().max(1);
        u64::try_from(d.as_nanos().div_ceil(tick))
            .map_or(u64::MAX / 2, |t| t.clamp(1, u64::MAX / 2))
    }
}

/// The tick of the epoch ticker for a deadline: a tenth of it, between 1 ms and 100 ms, so a
/// call overruns its deadline by at most about a tenth.
fn tick_for(timeout: Duration) -> Duration {
    (timeout / 10).clamp(Duration::from_millis(1), Duration::from_millis(100))
}

/// A wasmtime engine with the guest compiled for it; cheap to clone (one `Arc`). Every
/// [`crate::SandboxedModel`] of a sandbox shares its engine, limits and instance slots.
#[derive(Debug, Clone)]
pub struct Sandbox(Arc<Inner>);

struct Inner {
    engine: Engine,
    pre: wasmtime::InstancePre<Guest>,
    limits: Limits,
    ticker: Option<Ticker>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("limits", &self.limits)
            .field("ticker", &self.ticker)
            .finish_non_exhaustive()
    }
}

/// The default cache folder: `KEEL_SANDBOX_CACHE`, else `$XDG_CACHE_HOME/keel/sandbox`, else
/// `~/.cache/keel/sandbox`; `KEEL_SANDBOX_CACHE=off` turns the cache off.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KEEL_SANDBOX_CACHE") {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("keel").join("sandbox"))
}

fn setup(context: &str) -> impl Fn(wasmtime::Error) -> Error + '_ {
    move |e| Error::Setup(format!("{context}: {e}"))
}

impl Sandbox {
    /// A sandbox with `limits`, its compiled guest cached in [`default_cache_dir`].
    pub fn new(limits: Limits) -> Result<Sandbox, Error> {
        Self::with_cache(limits, default_cache_dir().as_deref())
    }

    /// A sandbox with `limits`, caching the compiled guest in `cache` (`None` = compile in
    /// memory every time).
    pub fn with_cache(limits: Limits, cache: Option<&Path>) -> Result<Sandbox, Error> {
        if GUEST_WASM.is_empty() {
            return Err(Error::Setup(
                "this keel was built without the sandbox's guest module, because the Rust \
                 target wasm32-unknown-unknown was not installed: run `rustup target add \
                 wasm32-unknown-unknown` and build keel again"
                    .into(),
            ));
        }
        if limits.memory == 0 || limits.memory > 1 << 32 {
            return Err(Error::Setup(format!(
                "the memory cap must be between 1 byte and 4 GiB (wasm32's range), not {}",
                limits.memory
            )));
        }
        let mut pool = PoolingAllocationConfig::default();
        pool.total_memories(limits.instances)
            .total_tables(limits.instances)
            .total_core_instances(limits.instances)
            .max_memory_size(usize::try_from(limits.memory).unwrap_or(usize::MAX));
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .consume_fuel(limits.fuel.is_some())
            .epoch_interruption(limits.timeout.is_some() || limits.load_timeout.is_some())
            // The guest is built with SIMD128; the rest of wasm's post-MVP features it uses are
            // on by default.
            .wasm_simd(true);
        let engine = Engine::new(&config).map_err(setup("cannot configure wasmtime"))?;
        let module = compile(&engine, cache)?;
        let mut linker = Linker::new(&engine);
        refuse_placeholders(&mut linker, &module)?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(setup("the guest needs imports the sandbox does not give"))?;
        let timeouts = [limits.timeout, limits.load_timeout];
        let ticker = match timeouts.iter().flatten().min() {
            Some(shortest) => Some(Ticker::start(&engine, tick_for(*shortest))?),
            None => None,
        };
        Ok(Sandbox(Arc::new(Inner {
            engine,
            pre,
            limits,
            ticker,
        })))
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// A new instance of the guest, with no bundle loaded.
    pub(crate) fn instantiate(&self) -> Result<Instance, Error> {
        let limits = &self.0.limits;
        Instance::new(
            &self.0.engine,
            &self.0.pre,
            limits.memory,
            limits.fuel.is_some(),
            limits.timeout.is_some() || limits.load_timeout.is_some(),
        )
    }

    /// Epoch ticks until `d` has passed; `None` when no ticker runs.
    pub(crate) fn deadline_ticks(&self, d: Duration) -> Option<u64> {
        self.0.ticker.as_ref().map(|t| t.ticks(d))
    }
}

/// The modules of wasm-bindgen's placeholder imports. The bundle reader's zip crate turns on
/// getrandom's JS backend on wasm32 (for encrypted archives, which keel never reads), which
/// links wasm-bindgen's glue into the guest: imports that the `wasm-bindgen` tool would replace
/// with JavaScript. The guest never calls them, and no other getrandom backend builds with that
/// feature on, so the sandbox gives each a function that traps; any other import is refused.
const PLACEHOLDER_MODULES: &[&str] = &["__wbindgen_placeholder__", "__wbindgen_externref_xform__"];

/// Satisfies the guest's placeholder imports with traps (see [`PLACEHOLDER_MODULES`]); an
/// import from anywhere else is a guest the sandbox refuses to run.
fn refuse_placeholders(linker: &mut Linker<Guest>, module: &Module) -> Result<(), Error> {
    if let Some(other) = module
        .imports()
        .find(|i| !PLACEHOLDER_MODULES.contains(&i.module()))
    {
        return Err(Error::Setup(format!(
            "the guest imports `{}::{}`, and the sandbox gives it nothing",
            other.module(),
            other.name()
        )));
    }
    linker
        .define_unknown_imports_as_traps(module)
        .map_err(setup("cannot stub the guest's placeholder imports"))
}

/// The compiled guest: from the cache when it holds a file wasmtime accepts, else compiled
/// (and written to the cache, best effort: a read-only cache only costs the compile time).
fn compile(engine: &Engine, cache: Option<&Path>) -> Result<Module, Error> {
    // One compilation at a time in a process: sandboxes started together (a server's, a test
    // binary's) then compile once and read the others from the cache, instead of each spending
    // seconds of every core on the same work.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _one = COMPILING.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(dir) = cache else {
        return Module::new(engine, GUEST_WASM).map_err(setup("cannot compile the guest"));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let name = format!(
        "guest-{}-{:016x}.cwasm",
        &hex::encode(Sha256::digest(GUEST_WASM))[..32],
        hasher.finish()
    );
    let path = dir.join(name);
    if path.is_file()
        && let Ok(module) = deserialize_cached(engine, &path)
    {
        return Ok(module);
    }
    let compiled = engine
        .precompile_module(GUEST_WASM)
        .map_err(setup("cannot compile the guest"))?;
    let _ = write_cache(dir, &path, &compiled);
    match deserialize_cached(engine, &path) {
        Ok(module) => Ok(module),
        // The cache is not writable: compile in memory.
        Err(_) => Module::new(engine, GUEST_WASM).map_err(setup("cannot compile the guest")),
    }
}

fn write_cache(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    // Written under a private name and renamed into place, so a reader never sees half a file.
    let partial = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// Reads a compiled guest from the cache.
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, path: &Path) -> Result<Module, wasmtime::Error> {
    // SAFETY: `Module::deserialize_file` runs the file's machine code, so it must be code that
    // wasmtime compiled. This file is: `compile` writes it from `Engine::precompile_module` of
    // the embedded guest, under a name made of the guest's sha256 and the engine's
    // compatibility hash, in the user's own cache folder (writable by whoever can already
    // replace the `keel` binary); wasmtime itself checks the header, its version and the
    // engine settings, and refuses a file made by another build.
    unsafe { Module::deserialize_file(engine, path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_cover_the_deadline() {
        assert_eq!(
            tick_for(Duration::from_millis(50)),
            Duration::from_millis(5)
        );
        assert_eq!(tick_for(Duration::from_millis(2)), Duration::from_millis(1));
        assert_eq!(
            tick_for(Duration::from_secs(60)),
            Duration::from_millis(100)
        );
    }
}
