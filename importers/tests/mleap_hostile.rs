#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile MLeap zips: each is refused by `mleap::read` with a typed error naming the entry, and
//! the bombs are refused within a bounded amount of memory (measured by a counting allocator,
//! as in keel-bundle's `tests/hostile.rs`). The importer reads zips through
//! `keel_bundle::archive`, so these are the bundle reader's defences seen through the importer.

use keel_bundle::Limits;
use keel_bundle::archive::ArchiveError;
use keel_import::mleap::{self, ImportError};
use std::io::Write;

#[path = "../../bundle-spec/tests/common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_during;

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Hand-made archives.

/// One entry of a hand-made archive: the headers say what the test wants them to say, and
/// `data` goes into the archive as it is (already compressed for method 8).
#[derive(Clone)]
struct Raw {
    name: String,
    /// The name in the local header (normally the same).
    local_name: String,
    method: u16,
    data: Vec<u8>,
    crc: u32,
    compressed_size: u32,
    size: u32,
}

impl Raw {
    fn stored(name: &str, content: &[u8]) -> Raw {
        Raw {
            name: name.into(),
            local_name: name.into(),
            method: 0,
            data: content.to_vec(),
            crc: crc32fast::hash(content),
            compressed_size: content.len() as u32,
            size: content.len() as u32,
        }
    }

    fn deflated(name: &str, content: &[u8]) -> Raw {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(content).unwrap();
        let data = e.finish().unwrap();
        Raw {
            compressed_size: data.len() as u32,
            data,
            method: 8,
            ..Raw::stored(name, content)
        }
    }

    /// A deflated entry of `mib` MiB made by `chunk(i)` for each MiB `i`, compressed as it is
    /// generated so the test never holds the inflated content. The headers are honest: a valid
    /// archive that tools without limits (`unzip`, Python's `zipfile`) would inflate in full.
    fn bomb(name: &str, mib: usize, chunk: impl Fn(usize) -> Vec<u8>) -> Raw {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let mut crc = crc32fast::Hasher::new();
        for i in 0..mib {
            let c = chunk(i);
            crc.update(&c);
            e.write_all(&c).unwrap();
        }
        let data = e.finish().unwrap();
        Raw {
            name: name.into(),
            local_name: name.into(),
            method: 8,
            compressed_size: data.len() as u32,
            size: u32::try_from((mib as u64) * MIB).unwrap_or(u32::MAX),
            crc: crc.finalize(),
            data,
        }
    }
}

/// Zeros: about 1 KiB compressed per MiB, a ratio near 1000.
fn zeros(_: usize) -> Vec<u8> {
    vec![0; MIB as usize]
}

/// Zeros with a pseudo-random byte every 64: a ratio near 20, under any sane ratio limit, so
/// only the size limits stand between the reader and the whole content.
fn sparse_noise(i: usize) -> Vec<u8> {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = vec![0u8; MIB as usize];
    for b in out.iter_mut().step_by(64) {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *b = (state >> 56) as u8 | 1;
    }
    out
}

/// Writes a zip archive from raw entries, exactly as described.
fn raw_zip(entries: &[Raw]) -> Vec<u8> {
    fn put16(o: &mut Vec<u8>, v: u16) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    fn put32(o: &mut Vec<u8>, v: u32) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    // 1980-01-01, UTF-8 names.
    const DATE: u16 = (1 << 5) | 1;
    const FLAGS: u16 = 0x0800;
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        put32(&mut out, 0x0403_4b50);
        for v in [20, FLAGS, e.method, 0, DATE] {
            put16(&mut out, v);
        }
        for v in [e.crc, e.compressed_size, e.size] {
            put32(&mut out, v);
        }
        put16(&mut out, e.local_name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(e.local_name.as_bytes());
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len() as u32;
    for (e, off) in entries.iter().zip(&offsets) {
        put32(&mut out, 0x0201_4b50);
        for v in [20, 20, FLAGS, e.method, 0, DATE] {
            put16(&mut out, v);
        }
        for v in [e.crc, e.compressed_size, e.size] {
            put32(&mut out, v);
        }
        for v in [e.name.len() as u16, 0, 0, 0, 0] {
            put16(&mut out, v);
        }
        put32(&mut out, 0);
        put32(&mut out, *off);
        out.extend_from_slice(e.name.as_bytes());
    }
    let cd_len = out.len() as u32 - cd_start;
    put32(&mut out, 0x0605_4b50);
    for v in [0, 0, entries.len() as u16, entries.len() as u16] {
        put16(&mut out, v);
    }
    put32(&mut out, cd_len);
    put32(&mut out, cd_start);
    put16(&mut out, 0);
    out
}

/// The documents of a valid one-stage MLeap bundle (a string indexer).
fn documents() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "bundle.json",
            r#"{"format":"json","name":"p","uid":"u","version":"0.8.1","timestamp":"2018-10-11T21:34:08.894814"}"#,
        ),
        (
            "root/model.json",
            r#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":["si"]}}}"#,
        ),
        (
            "root/node.json",
            r#"{"name":"p","shape":{"inputs":[],"outputs":[]}}"#,
        ),
        (
            "root/si.node/model.json",
            r#"{"op":"string_indexer","attributes":{"labels":{"type":"list","string":["a","b"]}}}"#,
        ),
        (
            "root/si.node/node.json",
            r#"{"name":"si","shape":{"inputs":[{"port":"input","name":"c"}],"outputs":[{"port":"output","name":"c_idx"}]}}"#,
        ),
    ]
}

/// The valid bundle's documents, deflated, plus `extra`.
fn bundle_with(extra: Vec<Raw>) -> Vec<u8> {
    let mut raw: Vec<Raw> = documents()
        .into_iter()
        .map(|(n, t)| Raw::deflated(n, t.as_bytes()))
        .collect();
    raw.extend(extra);
    raw_zip(&raw)
}

/// The refusal of `bytes` under `limits`.
fn refuse_with(bytes: &[u8], limits: &Limits) -> ImportError {
    match mleap::read_with(bytes, limits) {
        Ok(_) => panic!("a hostile zip was accepted"),
        Err(e) => e,
    }
}

/// Asserts `e` is a `Limit` on `entry` whose message names `what`.
fn assert_limit(e: &ImportError, entry: &str, what: &str) {
    match e {
        ImportError::Limit {
            entry: got,
            message,
        } => {
            assert_eq!(got, entry, "{e}");
            assert!(message.contains(what), "{e}");
        }
        other => panic!("expected a `{what}` limit on `{entry}`, got {other:?}"),
    }
    assert!(e.to_string().contains(entry), "{e}");
}

// ---------------------------------------------------------------------------------------------
// The base cases: the hand-made bundle is valid, stored or deflated.

#[test]
fn hand_made_bundles_convert_stored_or_deflated() {
    mleap::read(&bundle_with(Vec::new())).unwrap();
    let stored: Vec<Raw> = documents()
        .into_iter()
        .map(|(n, t)| Raw::stored(n, t.as_bytes()))
        .collect();
    let b = mleap::read(&raw_zip(&stored)).unwrap();
    assert_eq!(b.manifest.outputs[0].name, "c_idx");
    // A directory entry is skipped, as MLeap's writer may add them.
    mleap::read(&bundle_with(vec![Raw::stored("root/", b"")])).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Bombs.

#[test]
fn ratio_bomb_is_refused_without_inflating_it() {
    // 16 MiB of zeros from ~16 KiB (a ratio near 1000, over the default 200), as a tree file.
    let bytes = bundle_with(vec![Raw::bomb("root/si.node/tree.json", 16, zeros)]);
    let (r, peak) = peak_during(|| mleap::read(&bytes));
    let e = r.expect_err("bomb accepted");
    assert_limit(&e, "root/si.node/tree.json", "compression ratio");
    assert!(peak < 2 * MIB, "peak {peak} bytes while refusing a bomb");
}

#[test]
fn bomb_under_the_ratio_limit_is_stopped_at_the_entry_size() {
    // 8 MiB at a ratio near 20: the ratio check lets it through, the per-entry bound (1 MiB
    // here) does not, and reading stops one byte past it.
    let bomb = Raw::bomb("root/si.node/model.json", 8, sparse_noise);
    let ratio = u64::from(bomb.size) / u64::from(bomb.compressed_size);
    assert!(
        ratio < 200,
        "the bomb should be under the ratio limit, is {ratio}"
    );
    let mut raw: Vec<Raw> = documents()
        .into_iter()
        .filter(|(n, _)| *n != "root/si.node/model.json")
        .map(|(n, t)| Raw::deflated(n, t.as_bytes()))
        .collect();
    raw.push(bomb);
    let bytes = raw_zip(&raw);
    let limits = Limits {
        max_document_bytes: MIB,
        ..Limits::default()
    };
    let (r, peak) = peak_during(|| mleap::read_with(&bytes, &limits));
    let e = r.expect_err("bomb accepted");
    assert_limit(&e, "root/si.node/model.json", "entry size");
    assert!(peak < 4 * MIB, "peak {peak} bytes while refusing a bomb");
}

#[test]
fn stored_entry_over_the_entry_size_is_refused_before_reading() {
    // Stored data has a ratio of 1: only the size bound applies, and the honest header
    // declares 2 MiB against a 1 MiB bound, so nothing is read.
    let big = Raw::stored("root/si.node/tree.json", &vec![b' '; 2 * MIB as usize]);
    let bytes = bundle_with(vec![big]);
    let limits = Limits {
        max_document_bytes: MIB,
        ..Limits::default()
    };
    let (r, peak) = peak_during(|| mleap::read_with(&bytes, &limits));
    let e = r.expect_err("accepted");
    assert_limit(&e, "root/si.node/tree.json", "entry size");
    assert!(peak < MIB / 2, "peak {peak} bytes");
}

#[test]
fn bomb_under_the_ratio_limit_is_stopped_at_the_total_size() {
    // Each entry under the per-entry bound, their sum over the total.
    let extra: Vec<Raw> = (0..4)
        .map(|i| Raw::bomb(&format!("root/extra{i}.bin"), 1, sparse_noise))
        .collect();
    let bytes = bundle_with(extra);
    let limits = Limits {
        max_total_bytes: 3 * MIB,
        ..Limits::default()
    };
    let (r, peak) = peak_during(|| mleap::read_with(&bytes, &limits));
    let e = r.expect_err("accepted");
    assert_limit(&e, "root/extra2.bin", "total uncompressed size");
    assert!(peak < 8 * MIB, "peak {peak} bytes");
}

#[test]
fn declared_sizes_are_not_trusted() {
    // A header that admits to more than the limits is refused before inflating anything.
    let mut big = Raw::bomb("root/big.json", 1, zeros);
    big.size = u32::MAX;
    let e = refuse_with(&bundle_with(vec![big]), &Limits::default());
    assert_limit(&e, "root/big.json", "entry size");

    // A header that understates the size: the data does not inflate to what it declares.
    let mut liar = Raw::bomb("root/liar.json", 8, sparse_noise);
    liar.size = 1000;
    let bytes = bundle_with(vec![liar]);
    let (r, peak) = peak_during(|| mleap::read(&bytes));
    match r.expect_err("accepted") {
        ImportError::Archive(ArchiveError::Inflate { entry, .. }) => {
            assert_eq!(entry, "root/liar.json");
        }
        other => panic!("{other:?}"),
    }
    assert!(peak < 2 * MIB, "peak {peak} bytes");
}

// ---------------------------------------------------------------------------------------------
// Compression methods, names, duplicates, structure.

#[test]
fn compression_methods_other_than_stored_or_deflate_are_refused() {
    // bzip2 (12), LZMA (14), zstd (93), xz (95), the AES marker (99), and a made-up id.
    for method in [12u16, 14, 93, 95, 99, 1234] {
        let mut e = Raw::stored("root/si.node/model.json", b"{}");
        e.method = method;
        let mut raw: Vec<Raw> = documents()
            .into_iter()
            .filter(|(n, _)| *n != "root/si.node/model.json")
            .map(|(n, t)| Raw::stored(n, t.as_bytes()))
            .collect();
        raw.push(e);
        let err = refuse_with(&raw_zip(&raw), &Limits::default());
        match &err {
            ImportError::Archive(ArchiveError::Compression { entry, .. }) => {
                assert_eq!(entry, "root/si.node/model.json");
            }
            other => panic!("method {method}: {other:?}"),
        }
        assert!(err.to_string().contains("root/si.node/model.json"), "{err}");
    }
}

#[test]
fn unsafe_entry_names_are_refused() {
    for name in [
        "../evil.json",
        "root/../../evil.json",
        "root/si.node/..",
        "/etc/passwd",
        "/root/model.json",
        "root\\..\\evil.json",
        "C:/Windows/evil.json",
        "root/a\0.json",
        "root//model.json",
        "./root/model.json",
    ] {
        let err = refuse_with(
            &bundle_with(vec![Raw::stored(name, b"{}")]),
            &Limits::default(),
        );
        match &err {
            ImportError::UnsafePath { entry, .. } => assert_eq!(entry, name),
            other => panic!("{name:?}: expected UnsafePath, got {other:?}"),
        }
    }
}

#[test]
fn duplicate_entries_are_refused() {
    // Two `root/model.json`: which one a reader takes is up to the reader.
    let second = Raw::deflated(
        "root/model.json",
        br#"{"op":"pipeline","attributes":{"nodes":{"type":"list","string":[]}}}"#,
    );
    let err = refuse_with(&bundle_with(vec![second]), &Limits::default());
    match &err {
        ImportError::Archive(ArchiveError::Duplicate { entry }) => {
            assert_eq!(entry, "root/model.json");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("root/model.json"), "{err}");
}

#[test]
fn local_header_name_must_match_the_central_directory() {
    // Zip "cloaking": tools that read local headers see `../../evil.json`.
    let mut e = Raw::stored("root/extra.json", b"{}");
    e.local_name = "../../../evil.json".into();
    let err = refuse_with(&bundle_with(vec![e]), &Limits::default());
    match &err {
        ImportError::Archive(ArchiveError::Entry { entry, .. }) => {
            assert_eq!(entry, "root/extra.json");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_archives_are_refused_at_every_cut_point() {
    let bytes = bundle_with(Vec::new());
    for cut in 0..bytes.len() {
        assert!(
            mleap::read(&bytes[..cut]).is_err(),
            "accepted a bundle cut at {cut}"
        );
    }
    assert!(matches!(mleap::read(b"").unwrap_err(), ImportError::Zip(_)));
    // Cut inside the central directory: the archive cannot be opened at all.
    let cut = bytes.len() - 10;
    assert!(matches!(
        mleap::read(&bytes[..cut]).unwrap_err(),
        ImportError::Zip(_)
    ));
}

#[test]
fn too_many_entries_are_refused() {
    let limits = Limits {
        max_entries: 4,
        ..Limits::default()
    };
    let e = refuse_with(&bundle_with(Vec::new()), &limits);
    assert_limit(&e, "<archive>", "entry count");
}
