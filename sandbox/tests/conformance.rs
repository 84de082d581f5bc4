//! Conformance target `sandbox`: every fixture case loaded and scored inside the sandbox
//! (`SandboxedModel` on an Arrow batch, the path `keel score --sandbox` and `keel serve
//! --sandbox` take), compared with the frameworks' outputs like every other target.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_conformance::{Case, Outputs, Skip, Target, arrow, cases, check};
use keel_import::load::Origin;
use keel_sandbox::{Limits, Sandbox, SandboxedModel};
use std::borrow::Cow;
use std::path::Path;

/// Cases this target cannot run, with the reason. None: the guest is the runtime itself.
const SKIPS: &[Skip] = &[];

struct Sandboxed {
    sandbox: Sandbox,
}

impl Target for Sandboxed {
    fn name(&self) -> &str {
        "sandbox"
    }

    fn score(&self, case: &Case) -> Result<Outputs, String> {
        // The host reads the file as every front end does (an MLeap zip is imported); the
        // guest gets keel bundle bytes.
        let loaded = keel_import::load::read_bytes(&case.bundle).map_err(|e| e.to_string())?;
        let bytes = match loaded.origin {
            Origin::Keel => Cow::Borrowed(&case.bundle[..]),
            _ => Cow::Owned(
                loaded
                    .bundle
                    .to_bytes(loaded.bundle.encoding)
                    .map_err(|e| e.to_string())?,
            ),
        };
        let model = SandboxedModel::load(&self.sandbox, &bytes).map_err(|e| e.to_string())?;
        let batch = arrow::input_batch(case, &loaded.bundle.manifest.inputs)?;
        let scored = model.score(&batch).map_err(|e| e.to_string())?;
        arrow::outputs(&scored)
    }
}

#[test]
fn every_case_matches_its_framework_in_the_sandbox() {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-cache");
    let sandbox = Sandbox::with_cache(Limits::default(), Some(&cache)).unwrap();
    let cases = cases().unwrap_or_else(|e| panic!("{e}"));
    if let Err(failures) = check(&Sandboxed { sandbox }, &cases, SKIPS) {
        panic!("{failures}");
    }
}
