//! The sandbox's error type. Each variant has a stable code ([`Error::code`]) that the front
//! ends map in one place (the command line's exit message, the REST server's status): the four
//! `sandbox_*` codes for a call the sandbox stopped, and the guest's own codes (keel-io's and
//! the runtime's, as every other front end answers them) for an input or bundle it refused.

use std::time::Duration;

/// Why a sandboxed load or call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call used up its fuel budget (`--sandbox-fuel`) and was stopped.
    #[error(
        "the model used up its fuel budget of {budget} units and was stopped (raise \
         --sandbox-fuel, or score smaller batches)"
    )]
    Fuel {
        /// The budget, in wasmtime fuel units.
        budget: u64,
    },
    /// The call ran past its deadline (`--sandbox-timeout`) and was stopped.
    #[error(
        "the model ran past its deadline of {} and was stopped (raise --sandbox-timeout, or \
         score smaller batches)",
        humanize(.after)
    )]
    Timeout {
        /// The deadline.
        after: Duration,
    },
    /// The guest asked for more linear memory than the cap (`--sandbox-memory`) allows.
    #[error(
        "the model needed more than its memory cap of {limit} bytes and was stopped (raise \
         --sandbox-memory, or score smaller batches)"
    )]
    Memory {
        /// The cap, in bytes.
        limit: u64,
    },
    /// The guest trapped for another reason (a bug in keel, or a bundle built to crash it).
    #[error("the model's sandbox trapped: {message}")]
    Trap {
        /// wasmtime's description of the trap.
        message: String,
    },
    /// The guest refused the bundle or the input, as the native runtime would.
    #[error("{message}")]
    Refused {
        /// keel-io's or the runtime's code (`missing_column`, `plan`, ...).
        code: &'static str,
        /// The message, naming column and row where they apply.
        message: String,
        /// The input column involved, if any.
        column: Option<String>,
        /// The row involved (from 0, within the call's input), if any.
        row: Option<u64>,
    },
    /// The sandbox could not be set up: the engine, the guest's compilation, an instance (the
    /// pooling allocator's slots are all taken, the address space is exhausted).
    #[error("the sandbox could not start: {0}")]
    Setup(String),
    /// The host could not encode an input batch for the guest, or read the guest's answer.
    #[error("the sandbox's answer could not be read: {0}")]
    Protocol(String),
}

fn humanize(d: &Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The codes of keel-io's errors (`keel_io::Error::code`), which the guest reports alongside
/// the runtime's (`keel_runtime::Error::CODES`).
const IO_CODES: &[&str] = &[
    "malformed_body",
    "write_output",
    "bad_value",
    "malformed_row",
    "missing_column",
    "extra_column",
    "bad_input",
    "usage",
    "malformed_json",
    "malformed_request",
    "row_count",
    "malformed_frame",
    "column_exists",
    "malformed_arrow",
];

/// The code a guest reported, as one of the codes keel knows; `guest_error` for a code the
/// host has never heard of (a guest built from other sources than the host).
pub(crate) fn known_code(code: &str) -> &'static str {
    keel_runtime_codes()
        .iter()
        .chain(IO_CODES)
        .find(|c| **c == code)
        .copied()
        .unwrap_or("guest_error")
}

fn keel_runtime_codes() -> &'static [&'static str] {
    keel_runtime::Error::CODES
}

impl Error {
    /// The codes of the sandbox's own errors, one per variant that is not the guest's refusal.
    pub const CODES: &'static [&'static str] = &[
        "sandbox_fuel",
        "sandbox_timeout",
        "sandbox_memory",
        "sandbox_trap",
        "sandbox_setup",
        "sandbox_protocol",
    ];

    /// A stable, machine-readable code: `sandbox_*` for the sandbox's own errors (see
    /// [`Error::CODES`]), the guest's code for a refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Fuel { .. } => "sandbox_fuel",
            Error::Timeout { .. } => "sandbox_timeout",
            Error::Memory { .. } => "sandbox_memory",
            Error::Trap { .. } => "sandbox_trap",
            Error::Setup(_) => "sandbox_setup",
            Error::Protocol(_) => "sandbox_protocol",
            Error::Refused { code, .. } => code,
        }
    }

    /// Whether the sandbox stopped the call for its budget (fuel, deadline, memory): the
    /// model's cost, not the input's shape.
    pub fn is_exhaustion(&self) -> bool {
        matches!(
            self,
            Error::Fuel { .. } | Error::Timeout { .. } | Error::Memory { .. }
        )
    }

    /// The input column the error is about, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::Refused { column, .. } => column.as_deref(),
            _ => None,
        }
    }

    /// The row the error is about (from 0, within the call's input), if any.
    pub fn row(&self) -> Option<u64> {
        match self {
            Error::Refused { row, .. } => *row,
            _ => None,
        }
    }

    /// The same error with its row moved by `offset` (a caller that splits its input into
    /// calls numbers rows across the whole input).
    pub fn offset_rows(mut self, offset: u64) -> Error {
        if let Error::Refused { row: Some(r), .. } = &mut self {
            *r = r.saturating_add(offset);
        }
        self
    }

    /// Reads the guest's error object.
    pub(crate) fn from_guest(bytes: &[u8]) -> Error {
        let doc: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(doc) => doc,
            Err(e) => return Error::Protocol(format!("the guest's error is not JSON: {e}")),
        };
        Error::Refused {
            code: known_code(doc["code"].as_str().unwrap_or_default()),
            message: doc["message"].as_str().unwrap_or_default().to_string(),
            column: doc["column"].as_str().map(str::to_string),
            row: doc["row"].as_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_codes_are_kept_and_unknown_ones_named() {
        let e = Error::from_guest(
            br#"{"code":"unknown_category","message":"m","column":"city","row":3}"#,
        );
        assert_eq!(
            (e.code(), e.column(), e.row()),
            ("unknown_category", Some("city"), Some(3))
        );
        assert_eq!(e.offset_rows(10).row(), Some(13));
        let e = Error::from_guest(br#"{"code":"from_the_future","message":"m"}"#);
        assert_eq!(e.code(), "guest_error");
        assert_eq!(Error::from_guest(b"{").code(), "sandbox_protocol");
        for code in keel_runtime::Error::CODES.iter().chain(IO_CODES) {
            assert_eq!(known_code(code), *code);
        }
        let io = keel_io::Error::Value {
            row: 0,
            column: "c".into(),
            message: "m".into(),
        };
        assert!(IO_CODES.contains(&io.code()));
    }
}
