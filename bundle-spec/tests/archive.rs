//! The public zip reader, `keel_bundle::archive`, used directly as the importers use it: the
//! central directory checked at open, entries read under the per-entry, total and ratio
//! limits, each refusal naming the entry. The bundle reader's own use of it is covered by
//! `hostile.rs` and `attacks.rs`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::archive::{Archive, ArchiveError, ArchiveLimits, entry_names};

/// Small limits: 1 KiB per entry, 2 KiB in all, ratio 10 above 256 bytes.
fn small() -> ArchiveLimits {
    ArchiveLimits {
        max_entries: 8,
        max_total_bytes: 2048,
        max_entry_bytes: 1024,
        max_compression_ratio: 10,
        ratio_exempt_below: 256,
    }
}

fn limit(e: &ArchiveError) -> (&str, &str) {
    match e {
        ArchiveError::Limit { entry, what, .. } => (entry.as_str(), *what),
        other => panic!("expected a limit, got {other:?}"),
    }
}

#[test]
fn entries_are_listed_and_read() {
    let bytes = raw_zip(&[
        RawEntry::stored("a/", b""),
        RawEntry::stored("a/x.json", b"{}"),
        RawEntry::deflated("a/y.txt", b"hello hello hello"),
    ]);
    let mut ar = Archive::open(&bytes, ArchiveLimits::default()).unwrap();
    let names: Vec<(&str, bool)> = ar
        .entries()
        .iter()
        .map(|e| (e.name.as_str(), e.is_dir))
        .collect();
    assert_eq!(
        names,
        [("a/", true), ("a/x.json", false), ("a/y.txt", false)]
    );
    assert!(ar.contains("a/x.json") && !ar.contains("a/z"));
    assert_eq!(ar.read("a/y.txt").unwrap(), b"hello hello hello");
    assert_eq!(ar.read("a/x.json").unwrap(), b"{}");
    assert_eq!(ar.total_read(), 19);
    match ar.read("a/z").unwrap_err() {
        ArchiveError::Missing { entry } => assert_eq!(entry, "a/z"),
        other => panic!("{other:?}"),
    }
    assert_eq!(entry_names(&bytes).unwrap(), ["a/", "a/x.json", "a/y.txt"]);
}

#[test]
fn each_limit_names_the_entry_and_itself() {
    let kib = vec![b'x'; 1000];
    // Per entry: 1025 stored bytes against 1 KiB.
    let bytes = raw_zip(&[RawEntry::stored("big", &[0u8; 1025])]);
    let mut ar = Archive::open(&bytes, small()).unwrap();
    assert_eq!(limit(&ar.read("big").unwrap_err()), ("big", "entry size"));
    // A tighter cap of the caller's names itself.
    let bytes = raw_zip(&[RawEntry::stored("doc", &kib)]);
    let mut ar = Archive::open(&bytes, small()).unwrap();
    assert_eq!(
        limit(&ar.read_capped("doc", "document size", 100).unwrap_err()),
        ("doc", "document size")
    );
    // In all: three entries of 1000 bytes against 2 KiB; the third crosses it.
    let bytes = raw_zip(&[
        RawEntry::stored("a", &kib),
        RawEntry::stored("b", &kib),
        RawEntry::stored("c", &kib),
    ]);
    let mut ar = Archive::open(&bytes, small()).unwrap();
    ar.read("a").unwrap();
    ar.read("b").unwrap();
    assert_eq!(
        limit(&ar.read("c").unwrap_err()),
        ("c", "total uncompressed size")
    );
    // Ratio: 1000 repeated bytes deflate far below 1/10 of their size.
    let bytes = raw_zip(&[RawEntry::deflated("z", &kib)]);
    let mut ar = Archive::open(&bytes, small()).unwrap();
    assert_eq!(
        limit(&ar.read("z").unwrap_err()),
        ("z", "compression ratio")
    );
    // Entry count, at open.
    let many: Vec<RawEntry> = (0..9)
        .map(|i| RawEntry::stored(&format!("{i}"), b""))
        .collect();
    let e = Archive::open(&raw_zip(&many), small()).unwrap_err();
    assert_eq!(limit(&e), ("<archive>", "entry count"));
}

#[test]
fn the_central_directory_is_checked_at_open() {
    let open = |entries: &[RawEntry]| Archive::open(&raw_zip(entries), small()).unwrap_err();
    match open(&[RawEntry::stored("a", b"1"), RawEntry::stored("a", b"2")]) {
        ArchiveError::Duplicate { entry } => assert_eq!(entry, "a"),
        other => panic!("{other:?}"),
    }
    match open(&[RawEntry::stored("../a", b"1")]) {
        ArchiveError::UnsafePath { entry, .. } => assert_eq!(entry, "../a"),
        other => panic!("{other:?}"),
    }
    let mut bz = RawEntry::stored("b", b"1");
    bz.method = 12;
    match open(&[bz]) {
        ArchiveError::Compression { entry, .. } => assert_eq!(entry, "b"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Archive::open(b"not a zip", small()).unwrap_err(),
        ArchiveError::Zip(_)
    ));
}
