//! The parts of `--help` that clap's derive cannot say: an example for every subcommand and the
//! exit statuses, in one table (like ripgrep's flag definitions), appended to the help that
//! the clap definitions in [`crate::cli`] write. Keeping them in one table is what lets a test
//! check that every subcommand has them and that every example parses.

use crate::cli::Cli;
use clap::CommandFactory;

/// What one subcommand's help adds.
pub struct Page {
    /// The subcommand.
    pub name: &'static str,
    /// Command lines and what each does; each must parse (tested).
    pub examples: &'static [(&'static str, &'static str)],
    /// What the exit statuses mean for this subcommand.
    pub exit_status: &'static str,
}

/// The exit statuses every subcommand shares; `main` returns them.
// (No `\` after the opening quote: it would also eat the first line's indentation.)
pub const EXIT_STATUS: &str = "  0  done
  1  failed: the message on standard error says why, and a `hint:` line what to try next
  2  the command line is wrong (an unknown option, a missing argument, a format keel cannot
     tell from a file name): nothing was read or written";

/// One entry per subcommand, in the order `keel --help` lists them.
pub const PAGES: &[Page] = &[
    Page {
        name: "inspect",
        examples: &[
            (
                "keel inspect price.keel",
                "schemas, the pipeline with a summary per stage, entries",
            ),
            (
                "keel inspect --json price.keel",
                "the same as one JSON document, for programs",
            ),
        ],
        exit_status: "",
    },
    Page {
        name: "validate",
        examples: &[(
            "keel validate price.keel",
            "prints `ok: ...` and exits 0 when this runtime can score the bundle",
        )],
        exit_status: "  0  the bundle is intact and this runtime can score it
  1  it is not (damaged, over a limit, or an op this runtime lacks: see `keel ops`)",
    },
    Page {
        name: "ops",
        examples: &[(
            "keel ops",
            "one op name per line (a bundle's ops are in `keel inspect`)",
        )],
        exit_status: "",
    },
    Page {
        name: "score",
        examples: &[
            (
                "keel score price.keel listings.csv",
                "scores to standard output, as CSV like the input",
            ),
            (
                "keel score price.keel listings.csv -o scored.arrow",
                "to an Arrow IPC file",
            ),
            (
                "keel score price.keel --format jsonl",
                "JSON lines from standard input (`cat listings.jsonl | ...`)",
            ),
            (
                "keel score price.keel --arrow-stream",
                "worker mode: Arrow IPC stream in and out",
            ),
            (
                "keel score cnn.keel images.arrow -o scores.arrow --threads 0",
                "each batch scored on every core, rows in input order",
            ),
            (
                "keel score untrusted.keel rows.csv --sandbox --sandbox-memory 64MiB",
                "planned and scored inside wasmtime, each batch under 64 MiB and 10 s",
            ),
            (
                "keel score untrusted.keel rows.csv --sandbox --sandbox-fuel 2000000000",
                "a fuel budget per batch: the same batch is stopped on every machine",
            ),
        ],
        exit_status:
            "  0  every row scored (also when the reader of standard output stops early, as
     `| head` does)
  1  a row or column was refused (the message names both, rows counted from 0), a file
     could not be read or written, or (--sandbox) a batch ran past its budget",
    },
    Page {
        name: "serve",
        examples: &[
            (
                "keel serve",
                "the built-in demo models on http://127.0.0.1:8080/ (open it in a browser)",
            ),
            (
                "keel serve models/ --addr 0.0.0.0:8080",
                "every bundle in models/, reloaded when it changes",
            ),
            (
                "keel serve price.keel --addr 127.0.0.1:0",
                "one bundle on any free port (printed on standard output)",
            ),
            (
                "keel serve uploads/ --sandbox --sandbox-timeout 50ms --sandbox-memory 64MiB",
                "bundles from others, each request bounded; one past its budget gets 503",
            ),
            (
                "keel serve models/ --tokens tokens.txt",
                "predict and transform need a bearer token (`score TOKEN` or `admin TOKEN` lines)",
            ),
            (
                "keel serve models/ --tls-cert cert.pem --tls-key key.pem --addr 0.0.0.0:8443",
                "HTTPS (rustls) with a PEM certificate chain and its key",
            ),
            (
                "keel serve models/ --max-connections 512 --max-header-size 16KiB",
                "tighter limits: more connections wait; larger request heads get 431",
            ),
        ],
        exit_status: "  0  stopped by SIGTERM or SIGINT once in-flight requests finished
  1  could not start (the address is in use or not allowed, an option out of range, a bad
     --tokens file, a certificate or key that cannot be read or do not match)",
    },
    Page {
        name: "convert",
        examples: &[
            (
                "keel convert price.keel price.pb.keel --encoding protobuf",
                "the same bundle with protobuf documents",
            ),
            (
                "keel convert --from mleap airbnb.model.lr.zip price.keel",
                "import an MLeap Bundle.ML zip",
            ),
            (
                "keel convert --from spark-ml saved_pipeline/ model.keel",
                "import a Spark ML saved PipelineModel, without a JVM",
            ),
            (
                "keel convert --from onnx model.onnx model.keel",
                "import an ONNX model (nn ops; external data only from its folder)",
            ),
        ],
        exit_status: "  0  written (an existing file is replaced only once the new one is complete)
  1  nothing written: the message names the file, entry or stage that was refused",
    },
    Page {
        name: "compose",
        examples: &[
            (
                "keel compose prep.keel mlp.onnx model.keel",
                "the pipeline's one output feeds the network's one input",
            ),
            (
                "keel compose prep.keel net.keel model.keel --connect ids=city_idx,room_idx",
                "two category-index columns stacked into an embedding's input",
            ),
            (
                "keel compose prep.keel net.keel model.keel --connect x=features --keep id",
                "keep the pipeline's `id` output beside the network's",
            ),
        ],
        exit_status: "  0  written
  1  nothing written: the message names the network input and the columns that do not fit
  2  a malformed --connect",
    },
    Page {
        name: "train",
        examples: &[
            (
                "keel train listings.parquet -o model.keel --label booked --numeric price,nights --categorical city",
                "a classifier: prediction and probability from the raw columns",
            ),
            (
                "keel train sales.csv -o model.keel --label units --numeric price --task regression --loss poisson",
                "a count regression (prediction = exp of the network's output)",
            ),
            (
                "keel train data.arrow -o model.keel --config job.json --epochs 20 --deterministic",
                "the options of a JSON job, some overridden; the same bytes on any thread count",
            ),
        ],
        exit_status: "  0  trained and written (an existing file is replaced only once the new one is complete)
  1  nothing written: the message names the column and row refused, or the step where the loss diverged
  2  a wrong option or job field, or a table format keel cannot tell from the file name",
    },
];

/// The text appended to a subcommand's help.
fn appendix(page: &Page) -> String {
    let width = page
        .examples
        .iter()
        .map(|(line, _)| line.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Examples:\n");
    for (line, what) in page.examples {
        text.push_str(&format!("  {line:<width$}  # {what}\n"));
    }
    text.push_str("\nExit status:\n");
    if page.exit_status.is_empty() {
        text.push_str(EXIT_STATUS);
    } else {
        text.push_str(page.exit_status);
        text.push_str("\n  2  the command line is wrong (see above for the usage)");
    }
    text
}

/// The command line with every subcommand's help completed from [`PAGES`] (both `-h` and
/// `--help`; text a subcommand already puts after its options, such as `score`'s formats,
/// stays first in `--help`).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command().after_help(format!(
        "Run `keel <COMMAND> --help` for a command's options and examples.\n\nExit status:\n{EXIT_STATUS}"
    ));
    for page in PAGES {
        let extra = appendix(page);
        cmd = cmd.mut_subcommand(page.name, |sub| {
            let long = match sub.get_after_long_help() {
                Some(before) => format!("{before}\n\n{extra}"),
                None => extra.clone(),
            };
            sub.after_help(extra.clone()).after_long_help(long)
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_examples_and_every_example_parses() {
        let cmd = command();
        let listed: Vec<&str> = cmd
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|n| *n != "help")
            .collect();
        let documented: Vec<&str> = PAGES.iter().map(|p| p.name).collect();
        assert_eq!(listed, documented, "one page per subcommand, in order");
        for page in PAGES {
            assert!(!page.examples.is_empty(), "{}: no example", page.name);
            for (line, _) in page.examples {
                // Examples avoid quoting so that splitting on spaces is the shell's split.
                let argv: Vec<&str> = line.split_whitespace().collect();
                if let Err(e) = command().try_get_matches_from(&argv) {
                    panic!("example `{line}` does not parse: {e}");
                }
            }
        }
    }

    #[test]
    fn help_lists_examples_and_exit_statuses_once() {
        for page in PAGES {
            let mut cmd = command();
            let sub = cmd
                .find_subcommand_mut(page.name)
                .expect("documented subcommand exists");
            let long = sub.render_long_help().to_string();
            let short = sub.render_help().to_string();
            for text in [&long, &short] {
                assert_eq!(
                    text.matches("Examples:").count(),
                    1,
                    "{}:\n{text}",
                    page.name
                );
                assert_eq!(
                    text.matches("Exit status:").count(),
                    1,
                    "{}:\n{text}",
                    page.name
                );
            }
        }
    }
}
