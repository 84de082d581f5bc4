//! Hostile-input tests for the bundle reader (SPEC.md sections 1-5): every malformed, oversized
//! or tampered bundle must be refused with the specific [`BundleError`] variant, and its message
//! must name the entry (or node) at fault. Loops over cut points and flipped bytes check that
//! no input makes the reader panic. Bombs run under a counting allocator, so "refused without
//! inflating it" is measured, not assumed.

// Helpers below panic on purpose: a panic in a test helper is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::{Bundle, BundleError, Encoding, Limits};
use serde_json::{Value, json};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::peak_during;

const MIB: u64 = 1 << 20;

/// Asserts the error is a `Limit` on `entry` for `what`, and that the message names both.
fn assert_limit(e: &BundleError, entry: &str, what: &str) {
    match e {
        BundleError::Limit {
            entry: got,
            what: w,
            actual,
            limit,
        } => {
            assert_eq!(got, entry, "{e}");
            assert_eq!(*w, what, "{e}");
            assert!(actual > limit, "{e}");
        }
        other => panic!("expected a `{what}` limit on `{entry}`, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(entry) && msg.contains(what), "{msg}");
}

/// Asserts the error is of variant `variant` and its message names `entry`.
fn assert_kind(e: &BundleError, variant: &str, entry: &str) {
    assert_eq!(kind(e), variant, "expected {variant}, got {e:?}");
    assert!(
        e.to_string().contains(entry),
        "the message should name `{entry}`: {e}"
    );
}

/// The base bundle's entries plus `extra`, as a hand-made archive.
fn base_with(extra: RawEntry) -> Vec<u8> {
    let parts = base_parts();
    let mut manifest = parts.manifest.clone();
    let files = parts.files();
    set_entries(&mut manifest, &files);
    let mut raw = vec![RawEntry::deflated("manifest.json", &to_json(&manifest))];
    raw.extend(files.iter().map(|(n, d)| RawEntry::stored(n, d)));
    raw.push(extra);
    raw_zip(&raw)
}

// ---------------------------------------------------------------------------------------------
// Sanity: the base bundle and the raw repacking are accepted, so every refusal below is caused
// by the one thing each test changes.

#[test]
fn base_bundle_is_accepted_in_every_form() {
    for enc in [Encoding::Json, Encoding::Protobuf] {
        Bundle::from_bytes(&base_bytes(enc)).expect("writer output reads back");
    }
    Bundle::from_bytes(&base_parts().pack()).expect("raw repack reads back");
}

#[test]
fn zero_bomb_really_inflates() {
    // 4 MiB of zeros from about 4 KiB; read under limits generous enough to inflate it all, so
    // the refusal comes later (the entry is not listed) and proves the stream is valid.
    let mut e = bomb_entry("tensors/bomb.safetensors", 4);
    e.crc = crc32fast::hash(&vec![0u8; 4 << 20]);
    assert!(e.data.len() < 8 * 1024, "{}", e.data.len());
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        ..Limits::default()
    };
    let err = refuse_with(&base_with(e), &limits);
    assert_kind(&err, "Unlisted", "tensors/bomb.safetensors");
}

// ---------------------------------------------------------------------------------------------
// Zip bombs.

#[test]
fn ratio_bomb_is_refused_by_default_limits_without_inflating() {
    // 64 MiB from ~64 KiB: a ratio of ~1000, over the default 200.
    let bytes = base_with(bomb_entry("tensors/bomb.safetensors", 64));
    let (r, peak) = peak_during(|| Bundle::from_bytes(&bytes));
    let err = r.expect_err("bomb accepted");
    assert_limit(&err, "tensors/bomb.safetensors", "compression ratio");
    assert!(peak < 4 * MIB, "peak {peak} bytes while refusing a bomb");
}

#[test]
fn total_size_bomb_is_refused_by_default_limits_without_inflating() {
    // 3 GiB of zeros (over the default 2 GiB total) from ~3 MiB: the test never holds them.
    let bytes = base_with(bomb_entry("tensors/bomb.safetensors", 3 * 1024));
    assert!(bytes.len() < 8 << 20);
    let (r, peak) = peak_during(|| Bundle::from_bytes(&bytes));
    let err = r.expect_err("bomb accepted");
    assert_limit(&err, "tensors/bomb.safetensors", "total uncompressed size");
    assert!(peak < 4 * MIB, "peak {peak} bytes while refusing a bomb");
}

#[test]
fn total_size_bomb_is_refused_by_small_custom_limits() {
    let bytes = base_with(bomb_entry("tensors/bomb.safetensors", 64));
    // Ratio checks off: only the total-size limit stands between the reader and 64 MiB.
    let limits = Limits {
        max_total_bytes: MIB,
        max_compression_ratio: u64::MAX,
        ..Limits::default()
    };
    let (r, peak) = peak_during(|| Bundle::from_bytes_with(&bytes, &limits));
    let err = r.expect_err("bomb accepted");
    assert_limit(&err, "tensors/bomb.safetensors", "total uncompressed size");
    assert!(peak < 4 * MIB, "peak {peak} bytes");
}

#[test]
fn ratio_limit_applies_with_small_custom_limits() {
    // The base bundle's JSON compresses by more than 1:1; with no exemption for small entries
    // even it is over a ratio of 1.
    let limits = Limits {
        max_compression_ratio: 1,
        ratio_exempt_below: 0,
        ..Limits::default()
    };
    let err = refuse_with(&base_bytes(Encoding::Json), &limits);
    assert_limit(&err, "manifest.json", "compression ratio");
}

#[test]
fn total_size_counts_over_all_entries() {
    // Every entry alone is under the limit; the sum is not. The error names the entry that
    // crossed it.
    let bytes = base_bytes(Encoding::Json);
    let total: u64 = entries(&bytes).iter().map(|(_, d)| d.len() as u64).sum();
    let limits = Limits {
        max_total_bytes: total - 1,
        ..Limits::default()
    };
    let err = refuse_with(&bytes, &limits);
    assert_limit(&err, TENSORS, "total uncompressed size");
}

#[test]
fn document_size_limit_is_enforced() {
    let limits = Limits {
        max_document_bytes: 64,
        ..Limits::default()
    };
    let err = refuse_with(&base_bytes(Encoding::Json), &limits);
    assert_limit(&err, "manifest.json", "document size");

    // A manifest bomb: 128 MiB, over the default 64 MiB document limit, from ~128 KiB.
    let bytes = raw_zip(&[bomb_entry("manifest.json", 128)]);
    let (r, peak) = peak_during(|| Bundle::from_bytes(&bytes));
    assert_limit(&r.expect_err("accepted"), "manifest.json", "document size");
    assert!(peak < 4 * MIB, "peak {peak} bytes");
}

#[test]
fn understated_uncompressed_size_is_not_trusted() {
    // The header claims 1000 bytes; the data inflates to 64 MiB. Reading stops just past the
    // declared size.
    let mut e = bomb_entry("tensors/bomb.safetensors", 64);
    e.size = 1000;
    let bytes = base_with(e);
    let (r, peak) = peak_during(|| Bundle::from_bytes(&bytes));
    let err = r.expect_err("accepted");
    assert_kind(&err, "Malformed", "tensors/bomb.safetensors");
    assert!(peak < 4 * MIB, "peak {peak} bytes");
}

#[test]
fn overstated_compressed_size_buys_no_ratio_allowance() {
    // Claiming a compressed size far beyond the archive would, if trusted, allow any ratio.
    let mut e = bomb_entry("tensors/bomb.safetensors", 64);
    e.compressed_size = u32::MAX - 1;
    let bytes = base_with(e);
    let (r, peak) = peak_during(|| Bundle::from_bytes(&bytes));
    assert_limit(
        &r.expect_err("accepted"),
        "tensors/bomb.safetensors",
        "compression ratio",
    );
    assert!(peak < 4 * MIB, "peak {peak} bytes");
}

// ---------------------------------------------------------------------------------------------
// Entry names.

#[test]
fn unsafe_entry_names_are_refused() {
    for name in [
        "../evil.safetensors",
        "tensors/../../evil.safetensors",
        "tensors/..",
        "/etc/passwd",
        "/tensors/a.safetensors",
        "tensors\\..\\evil.safetensors",
        "tensors\\a.safetensors",
        "C:/Windows/evil.safetensors",
        "c:evil",
        "tensors/a\0.safetensors",
        "tensors//a.safetensors",
        "./tensors/a.safetensors",
        "",
    ] {
        let err = refuse(&base_with(RawEntry::stored(name, b"x")));
        match &err {
            BundleError::UnsafePath { entry, .. } => assert_eq!(entry, name),
            other => panic!("{name:?}: expected UnsafePath, got {other:?}"),
        }
        if !name.is_empty() {
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}

#[test]
fn unsafe_name_is_refused_even_as_the_manifest_path() {
    // The name check runs before the entry is opened, whatever its content or method.
    let mut e = RawEntry::stored("../manifest.json", b"{}");
    e.method = 99;
    let err = refuse(&raw_zip(&[e]));
    assert_kind(&err, "UnsafePath", "../manifest.json");
}

#[test]
fn directory_entries_are_refused_as_unlisted() {
    let err = refuse(&base_with(RawEntry::stored("tensors/", b"")));
    assert_kind(&err, "Unlisted", "tensors/");
}

#[test]
fn local_header_name_must_match_central_directory() {
    // Zip "cloaking": one name for tools that read local headers, another for the reader.
    let mut e = RawEntry::stored("tensors/extra.safetensors", b"x");
    e.local_name = b"../../../etc/evil.safetensor".to_vec();
    let err = refuse(&base_with(e));
    assert_kind(&err, "Zip", "tensors/extra.safetensors");
}

// ---------------------------------------------------------------------------------------------
// Digests, sizes, listing.

#[test]
fn tampered_entries_are_refused() {
    // The graph's text changed after the manifest was written (same length, different bytes).
    let parts = base_parts();
    let mut manifest = parts.manifest.clone();
    let mut files = parts.files();
    set_entries(&mut manifest, &files);
    let graph = String::from_utf8(files[0].1.clone()).unwrap();
    files[0].1 = graph.replace("0.125", "9.125").into_bytes();
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files.clone());
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "HashMismatch", "graph.json");

    // A coefficient changed inside the tensor file.
    let mut files = parts.files();
    let t = &mut files[1].1;
    let last = t.len() - 1;
    t[last] ^= 0x40;
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "HashMismatch", TENSORS);
    match err {
        BundleError::HashMismatch {
            expected, actual, ..
        } => assert_ne!(expected, actual),
        _ => unreachable!(),
    }
}

#[test]
fn size_mismatch_is_refused() {
    let mut parts = base_parts();
    let files = parts.files();
    set_entries(&mut parts.manifest, &files);
    parts.manifest["entries"][1]["size"] = json!(7);
    let err = refuse(&parts.pack_as_is());
    assert_kind(&err, "SizeMismatch", TENSORS);
}

#[test]
fn unlisted_entries_are_refused() {
    for name in ["tensors/extra.safetensors", "notes.txt", "graph.pb"] {
        let err = refuse(&base_with(RawEntry::stored(name, b"hello")));
        assert_kind(&err, "Unlisted", name);
    }
}

#[test]
fn listed_but_missing_entries_are_refused() {
    let mut parts = base_parts();
    let mut files = parts.files();
    files.push(("tensors/gone.safetensors".into(), base_tensors()));
    set_entries(&mut parts.manifest, &files);
    let err = refuse(&parts.pack_as_is());
    assert_kind(&err, "MissingEntry", "tensors/gone.safetensors");

    // The graph itself listed but absent.
    let mut manifest = base_parts().manifest;
    set_entries(&mut manifest, &base_parts().files());
    let t = base_parts().tensors;
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(t);
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "MissingEntry", "graph.json");
}

#[test]
fn duplicate_entry_names_are_refused() {
    // The zip crate's archive index keeps one of two same-named entries; the reader must notice
    // the other and refuse, whichever it is.
    for dup in ["graph.json", "manifest.json", TENSORS] {
        let parts = base_parts();
        let mut manifest = parts.manifest.clone();
        let files = parts.files();
        set_entries(&mut manifest, &files);
        let mut raw = vec![RawEntry::deflated("manifest.json", &to_json(&manifest))];
        raw.extend(files.iter().map(|(n, d)| RawEntry::stored(n, d)));
        let copy = raw
            .iter()
            .find(|e| e.name == dup.as_bytes())
            .unwrap()
            .clone();
        raw.push(copy);
        let err = refuse(&raw_zip(&raw));
        assert_kind(&err, "Duplicate", dup);
    }
}

#[test]
fn an_entry_listed_twice_is_refused() {
    let mut parts = base_parts();
    let files = parts.files();
    set_entries(&mut parts.manifest, &files);
    let first = parts.manifest["entries"][0].clone();
    parts.manifest["entries"]
        .as_array_mut()
        .unwrap()
        .push(first);
    let err = refuse(&parts.pack_as_is());
    assert_kind(&err, "Malformed", "graph.json");
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn the_manifest_cannot_list_itself() {
    let parts = base_parts();
    let mut manifest = parts.manifest.clone();
    let mut files = parts.files();
    files.push(("manifest.json".into(), b"{}".to_vec()));
    set_entries(&mut manifest, &files);
    files.pop();
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "Malformed", "manifest.json");
}

#[test]
fn listed_entries_outside_tensors_are_refused() {
    let parts = base_parts();
    let mut files = parts.files();
    files.push(("extra.bin".into(), b"data".to_vec()));
    let mut manifest = parts.manifest.clone();
    set_entries(&mut manifest, &files);
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "Malformed", "extra.bin");
}

// ---------------------------------------------------------------------------------------------
// Archive structure: truncation, corruption, other methods, encryption, entry count.

#[test]
fn truncated_archives_are_refused_at_every_cut_point() {
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let bytes = base_bytes(enc);
        for cut in 0..bytes.len() {
            let r = Bundle::from_bytes(&bytes[..cut]);
            assert!(r.is_err(), "{enc:?}: accepted a bundle cut at {cut}");
        }
    }
    assert_eq!(kind(&refuse(b"")), "Zip");
    assert_eq!(kind(&refuse(b"not a zip file at all")), "Zip");
}

/// Inflates raw deflate data; `None` if it is not a valid stream.
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[test]
fn corrupted_bytes_never_panic_and_corrupted_content_is_refused() {
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let bytes = base_bytes(enc);
        let lay = layout(&bytes);
        // Positions whose change must be detected: the header fields that say what an entry
        // is and where (signature, method, CRC, sizes, name length, offset, name), in both the
        // central directory and the local headers (which must agree), and every byte of entry
        // data (CRC-32 and the manifest's digests catch any change of content).
        let mut must_fail = Vec::new();
        for l in &lay {
            for (a, b) in [(0, 4), (10, 12), (16, 30), (42, 46)] {
                must_fail.extend(l.central + a..l.central + b);
            }
            must_fail.extend(l.central + 46..l.central + 46 + l.name_len);
            for (a, b) in [(0, 4), (8, 10), (14, 28)] {
                must_fail.extend(l.local + a..l.local + b);
            }
            must_fail.extend(l.local + 30..l.local + 30 + l.name_len);
        }
        for pos in 0..bytes.len() {
            let deflated = lay
                .iter()
                .find(|l| l.method == 8 && (l.data..l.data + l.data_len).contains(&pos));
            let stored_data = lay
                .iter()
                .any(|l| l.method == 0 && (l.data..l.data + l.data_len).contains(&pos));
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= mask;
                // Every position: never a panic. A flip in a field that does not change
                // meaning (e.g. the "version made by" byte) may be accepted.
                let r = Bundle::from_bytes(&b);
                let must = if let Some(l) = deflated {
                    // Deflate has bits that carry nothing (padding after the final block,
                    // some Huffman-table bits): a flip there inflates to the same content,
                    // which is then rightly accepted. Any flip that changes the content must
                    // be refused.
                    let original = inflate(&bytes[l.data..l.data + l.data_len]);
                    inflate(&b[l.data..l.data + l.data_len]) != original
                } else {
                    stored_data || must_fail.contains(&pos)
                };
                if must {
                    assert!(
                        r.is_err(),
                        "{enc:?}: flipping {mask:#x} at {pos} was accepted"
                    );
                }
            }
        }
    }
}

#[test]
fn unsupported_compression_methods_are_refused() {
    // bzip2 (12), LZMA (14), zstd (93), xz (95), AES marker (99), and a made-up id.
    for method in [12u16, 14, 93, 95, 99, 1234] {
        let mut e = RawEntry::stored("tensors/x.safetensors", b"whatever");
        e.method = method;
        let err = refuse(&base_with(e));
        assert_kind(&err, "Compression", "tensors/x.safetensors");
    }
    // The manifest itself in another method: refused before anything is decoded.
    let mut e = RawEntry::stored("manifest.json", b"{}");
    e.method = 12;
    assert_kind(&refuse(&raw_zip(&[e])), "Compression", "manifest.json");
}

#[test]
fn encrypted_entries_are_refused() {
    let mut e = RawEntry::stored("tensors/x.safetensors", b"0123456789abcdef");
    e.flags |= 1;
    let err = refuse(&base_with(e));
    assert_kind(&err, "Zip", "tensors/x.safetensors");
}

#[test]
fn too_many_entries_are_refused() {
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let err = refuse_with(&base_bytes(Encoding::Json), &limits);
    assert_limit(&err, "<archive>", "entry count");

    // Default limit (4096): 4097 tiny entries.
    let raw: Vec<RawEntry> = (0..4097)
        .map(|i| RawEntry::stored(&format!("tensors/{i}.safetensors"), b""))
        .collect();
    let err = refuse(&raw_zip(&raw));
    assert_limit(&err, "<archive>", "entry count");
}

// ---------------------------------------------------------------------------------------------
// Manifest: presence, encoding, version, content.

#[test]
fn missing_manifest_is_refused() {
    let files = base_parts().files();
    let err = refuse(&zip_files(&files));
    assert_kind(&err, "MissingEntry", "manifest.json");
}

#[test]
fn both_manifest_encodings_at_once_are_refused() {
    let json = entries(&base_bytes(Encoding::Json));
    let pb = entries(&base_bytes(Encoding::Protobuf));
    let mut all = json.clone();
    all.extend(pb.into_iter().filter(|(n, _)| n.ends_with(".pb")));
    let err = refuse(&zip_files(&all));
    assert_eq!(kind(&err), "Malformed", "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("manifest.json") && msg.contains("manifest.pb"),
        "{msg}"
    );
}

fn with_manifest(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut parts = base_parts();
    f(&mut parts.manifest);
    parts.pack()
}

fn with_graph(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut parts = base_parts();
    f(&mut parts.graph);
    parts.pack()
}

#[test]
fn newer_major_version_is_refused_naming_both_versions() {
    let err = refuse(&with_manifest(|m| m["format_version"] = json!("2.0.0")));
    match &err {
        BundleError::UnsupportedVersion { found, supported } => {
            assert_eq!(found, "2.0.0");
            assert_eq!(*supported, keel_bundle::FORMAT_VERSION);
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("2.0.0") && msg.contains(keel_bundle::FORMAT_VERSION),
        "{msg}"
    );

    // A version-2 manifest may be laid out differently (fields gone, fields added): the
    // version is still what the reader reports, not a decoding error.
    let err = refuse(&with_manifest(|m| {
        m["format_version"] = json!("2.1.0");
        m.as_object_mut().unwrap().remove("producer");
        m["inputs"] = json!({"renamed": true});
        m["shiny_new_field"] = json!([1, 2, 3]);
    }));
    assert_eq!(kind(&err), "UnsupportedVersion", "{err:?}");

    // The same in protobuf: only fields 1 and 2 are read before the version check.
    let pb = entries(&base_bytes(Encoding::Protobuf));
    let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
        pb.iter()
            .find(|(n, _)| n == "manifest.pb")
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    m.format_version = "3.0.0".into();
    let mut raw = prost::Message::encode_to_vec(&m);
    // Field 8 (inputs) with a wire type this reader cannot accept for it: varint 5.
    raw.extend_from_slice(&[8 << 3, 5]);
    let mut all = vec![("manifest.pb".to_string(), raw)];
    all.extend(pb.into_iter().filter(|(n, _)| n != "manifest.pb"));
    let err = refuse(&zip_files(&all));
    match &err {
        BundleError::UnsupportedVersion { found, .. } => assert_eq!(found, "3.0.0"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn older_or_invalid_versions_are_refused() {
    for v in ["0.9.0", "0.0.1"] {
        let err = refuse(&with_manifest(|m| m["format_version"] = json!(v)));
        assert_kind(&err, "Malformed", "manifest.json");
        assert!(err.to_string().contains(v), "{err}");
    }
    for v in [
        "1.0",
        "1",
        "",
        "one.two.three",
        "1.0.0.0",
        "v1.0.0",
        " 1.0.0",
    ] {
        let err = refuse(&with_manifest(|m| m["format_version"] = json!(v)));
        assert_kind(&err, "Malformed", "manifest.json");
    }
    let err = refuse(&with_manifest(|m| m["format_version"] = json!(1)));
    assert_kind(&err, "Malformed", "manifest.json");
    let err = refuse(&with_manifest(|m| m["format"] = json!("other-bundle")));
    assert_kind(&err, "Malformed", "manifest.json");
}

#[test]
fn newer_minor_and_patch_versions_are_accepted() {
    for v in ["1.1.0", "1.99.3", "1.0.7", "1.2.0-rc.1"] {
        let bytes = with_manifest(|m| m["format_version"] = json!(v));
        let b = Bundle::from_bytes(&bytes).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(b.manifest.format_version, v);
    }
}

#[test]
fn malformed_json_is_refused_naming_the_document() {
    let parts = base_parts();
    let manifest_text = to_json(&parts.manifest);
    // Truncated manifest JSON.
    let mut all = vec![(
        "manifest.json".to_string(),
        manifest_text[..manifest_text.len() / 2].to_vec(),
    )];
    all.extend(parts.files());
    assert_kind(&refuse(&zip_files(&all)), "Malformed", "manifest.json");

    // Garbage graph JSON with a correct digest.
    let mut manifest = parts.manifest.clone();
    let files = vec![
        ("graph.json".to_string(), b"{\"name\": \"root\",".to_vec()),
        parts.tensors[0].clone(),
    ];
    set_entries(&mut manifest, &files);
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    assert_kind(&refuse(&zip_files(&all)), "Malformed", "graph.json");

    // Not UTF-8, a BOM, an array instead of an object, an unknown field.
    for bad in [
        &b"\xff\xfe{}"[..],
        b"\xef\xbb\xbf{\"name\":\"root\",\"op\":\"pipeline\"}",
        b"[]",
        b"null",
    ] {
        let mut manifest = parts.manifest.clone();
        let files = vec![("graph.json".to_string(), bad.to_vec())];
        set_entries(&mut manifest, &files);
        let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
        all.extend(files);
        assert_kind(&refuse(&zip_files(&all)), "Malformed", "graph.json");
    }
    let err = refuse(&with_manifest(|m| m["surprise"] = json!(1)));
    assert_kind(&err, "Malformed", "manifest.json");
    let err = refuse(&with_graph(|g| g["children"][0]["colour"] = json!("red")));
    assert_kind(&err, "Malformed", "graph.json");
}

#[test]
fn repeated_json_keys_are_refused() {
    // serde keeps the last of two equal keys silently; another reader may keep the first. A
    // bundle must mean one thing, so the reader refuses (as it does for protobuf).
    let parts = base_parts();
    let graph = String::from_utf8(to_json(&parts.graph)).unwrap();
    let twice = graph.replacen(
        "\"intercept\":",
        "\"intercept\":{\"f64s\":[99.0]},\"intercept\":",
        1,
    );
    assert_ne!(graph, twice);
    let mut manifest = parts.manifest.clone();
    let files = vec![
        ("graph.json".to_string(), twice.into_bytes()),
        parts.tensors[0].clone(),
    ];
    set_entries(&mut manifest, &files);
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "Malformed", "graph.json");
    assert!(err.to_string().contains("intercept"), "{err}");

    // Metadata keys, in JSON and in protobuf.
    let mut manifest = parts.manifest.clone();
    set_entries(&mut manifest, &parts.files());
    manifest["metadata"] = json!({"k": "v"});
    let text = String::from_utf8(to_json(&manifest))
        .unwrap()
        .replace("\"k\":\"v\"", "\"k\":\"v\",\"k\":\"w\"");
    let mut all = vec![("manifest.json".to_string(), text.into_bytes())];
    all.extend(parts.files());
    assert_kind(&refuse(&zip_files(&all)), "Malformed", "manifest.json");

    let pb = entries(&base_bytes(Encoding::Protobuf));
    let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
        pb.iter()
            .find(|(n, _)| n == "manifest.pb")
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    for v in ["v", "w"] {
        m.metadata.push(keel_bundle::pb::StringEntry {
            key: "k".into(),
            value: v.into(),
        });
    }
    let mut all = vec![("manifest.pb".to_string(), prost::Message::encode_to_vec(&m))];
    all.extend(pb.into_iter().filter(|(n, _)| n != "manifest.pb"));
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "Malformed", "manifest.pb");
}

#[test]
fn unknown_dtypes_are_refused() {
    let err = refuse(&with_manifest(|m| m["inputs"][0]["dtype"] = json!("f16")));
    assert_kind(&err, "Malformed", "manifest.json");

    let pb = entries(&base_bytes(Encoding::Protobuf));
    let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
        pb.iter()
            .find(|(n, _)| n == "manifest.pb")
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    m.inputs[0].dtype = "complex128".into();
    let mut all = vec![("manifest.pb".to_string(), prost::Message::encode_to_vec(&m))];
    all.extend(pb.into_iter().filter(|(n, _)| n != "manifest.pb"));
    let err = refuse(&zip_files(&all));
    assert_kind(&err, "Malformed", "manifest.pb");
    assert!(err.to_string().contains("complex128"), "{err}");
}

#[test]
fn manifest_field_rules_are_enforced() {
    // A vector wider than any tensor may be (and a tensor whose dimensions multiply past it);
    // a name list that does not fit the width; a rank above the limit; dimension names that
    // do not match the rank; a tensor-only dtype on a scalar, a string tensor; an
    // input declared twice; an output never written.
    let err = refuse(&with_manifest(|m| {
        m["outputs"][0]["shape"] = json!([u64::MAX]);
    }));
    assert_limit(&err, "manifest.json", "field elements per row");
    let err = refuse(&with_manifest(|m| {
        m["inputs"][0]["shape"] = json!([1u64 << 20, 1u64 << 20, 1u64 << 20]);
    }));
    assert_limit(&err, "manifest.json", "field elements per row");
    for bad in [
        json!({"shape": [1, 1, 1, 1, 1, 1, 1, 1, 1]}),
        json!({"dtype": "f16"}),
        json!({"dtype": "utf8", "shape": [2, 2]}),
    ] {
        let err = refuse(&with_manifest(|m| {
            for (k, v) in bad.as_object().unwrap() {
                m["inputs"][0][k] = v.clone();
            }
        }));
        assert_kind(&err, "Malformed", "manifest.json");
    }
    // A fixed zero dimension is an empty tensor per row (accepted, shape still bounded per
    // dimension); a symbolic dimension bounded by 0 is refused.
    let b = Bundle::from_bytes(&with_manifest(|m| {
        m["inputs"][0]["shape"] = json!([2, 0]);
    }))
    .expect("an empty tensor field");
    assert_eq!(b.manifest.inputs[0].shape, [2, 0]);
    let err = refuse(&with_manifest(|m| {
        m["inputs"][0]["shape"] = json!([0, u64::MAX]);
    }));
    assert_limit(&err, "manifest.json", "field elements per row");
    let err = refuse(&with_manifest(|m| {
        m["inputs"][0]["shape"] = json!([0, 8]);
        m["inputs"][0]["dtype"] = json!("f32");
        m["metadata"] = json!({"keel.dims": r#"{"x0":["seq",""]}"#});
    }));
    assert_kind(&err, "Malformed", "manifest.json");
    // Format 1.1 tensors of any rank, with a symbolic dimension, are accepted.
    let b = Bundle::from_bytes(&with_manifest(|m| {
        m["inputs"][0]["shape"] = json!([3, 8]);
        m["inputs"][0]["dtype"] = json!("f32");
        m["metadata"] = json!({"keel.dims": r#"{"x0":["","seq"]}"#});
    }))
    .expect("a tensor field");
    assert_eq!(b.manifest.inputs[0].dims, ["", "seq"]);
    // Symbolic dimensions ride in the metadata (a minor version adds no fields): a name that is
    // no field, a malformed entry, or a count that does not match the rank are refused.
    for dims in [r#"{"zzz":["seq"]}"#, r#"["seq"]"#, r#"{"x0":["seq"]}"#] {
        let err = refuse(&with_manifest(|m| {
            m["inputs"][0]["shape"] = json!([3, 8]);
            m["inputs"][0]["dtype"] = json!("f32");
            m["metadata"] = json!({"keel.dims": dims});
        }));
        assert_kind(&err, "Malformed", "manifest.json");
    }
    let err = refuse(&with_manifest(|m| {
        m["outputs"][0]["shape"] = json!([2]);
        m["outputs"][0]["names"] = json!(["a", "b", "c"]);
    }));
    assert_kind(&err, "Malformed", "manifest.json");
    let err = refuse(&with_manifest(|m| m["inputs"][1]["name"] = json!("x0")));
    assert_kind(&err, "Malformed", "manifest.json");
    let err = refuse(&with_manifest(|m| m["outputs"][0]["name"] = json!("zzz")));
    assert_kind(&err, "Graph", "zzz");
    let err = refuse(&with_manifest(|m| m["name"] = json!("")));
    assert_kind(&err, "Malformed", "manifest.json");
}

// ---------------------------------------------------------------------------------------------
// Graph structure.

/// `depth` pipelines nested in the root, the innermost holding the base graph's stages.
fn nested_graph(depth: usize) -> keel_bundle::Node {
    let mut g = base_graph();
    for i in 0..depth {
        let mut p = node(
            &format!("p{i}"),
            "pipeline",
            g.inputs.clone(),
            g.outputs.clone(),
        );
        p.children = std::mem::take(&mut g.children);
        g.children = vec![p];
    }
    g
}

fn nested_bundle(depth: usize, enc: Encoding) -> Vec<u8> {
    // Built through the struct fields, not Bundle::new, which would refuse the depth itself.
    let mut b = base_bundle();
    b.graph = nested_graph(depth);
    b.to_bytes(enc).expect("write")
}

#[test]
fn graph_nesting_deeper_than_the_limit_is_refused() {
    // Custom limit, both encodings.
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    for enc in [Encoding::Json, Encoding::Protobuf] {
        // nested_graph(n) puts the stages at depth n + 1 (the root is depth 0).
        Bundle::from_bytes_with(&nested_bundle(4, enc), &limits).expect("depth 5 is allowed");
        let graph = if enc == Encoding::Json {
            "graph.json"
        } else {
            "graph.pb"
        };
        let err = refuse_with(&nested_bundle(5, enc), &limits);
        assert_limit(&err, graph, "nesting depth");
    }
    // The default limit (32) is reached before the JSON decoder's own recursion limit (128
    // levels, two per pipeline), so both encodings give the same typed error.
    for enc in [Encoding::Json, Encoding::Protobuf] {
        let err = refuse(&nested_bundle(40, enc));
        assert!(matches!(kind(&err), "Limit"), "{err:?}");
    }
    // Default limit in protobuf, whose decoder allows deeper messages than that.
    let err = refuse(&nested_bundle(70, Encoding::Protobuf));
    assert_limit(&err, "graph.pb", "nesting depth");
    // In JSON the decoder's own recursion limit (128 levels, two per pipeline) refuses it
    // first; either way it is refused naming the graph.
    let err = refuse(&nested_bundle(70, Encoding::Json));
    assert!(
        matches!(kind(&err), "Limit" | "Malformed") && err.to_string().contains("graph.json"),
        "{err:?}"
    );
}

#[test]
fn list_attribute_nesting_is_limited() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let mut a = keel_bundle::Attr::I64s(vec![1]);
    for _ in 0..5 {
        a = keel_bundle::Attr::List(vec![a]);
    }
    let mut b = base_bundle();
    b.graph.children[0].attrs.insert("deep".into(), a);
    let err = refuse_with(&b.to_bytes(Encoding::Json).unwrap(), &limits);
    assert_kind(&err, "Graph", "scale");
    assert!(err.to_string().contains("deep"), "{err}");
}

#[test]
fn absurdly_deep_documents_do_not_overflow_the_stack() {
    // (Ratio checks off: so much repetition compresses far beyond the default ratio.)
    let limits = Limits {
        max_compression_ratio: u64::MAX,
        ..Limits::default()
    };
    // 100,000 nested lists in JSON and 5,000 nested nodes in protobuf: the decoders' own
    // recursion limits refuse them long before the stack runs out.
    let mut text = String::from("{\"name\":\"root\",\"op\":\"pipeline\",\"attrs\":{\"a\":");
    text.push_str(&"{\"list\":[".repeat(100_000));
    text.push_str(&"]}".repeat(100_000));
    text.push_str("}}");
    let parts = base_parts();
    let mut manifest = parts.manifest.clone();
    let files = vec![("graph.json".to_string(), text.into_bytes())];
    set_entries(&mut manifest, &files);
    let mut all = vec![("manifest.json".to_string(), to_json(&manifest))];
    all.extend(files);
    assert_kind(
        &refuse_with(&zip_files(&all), &limits),
        "Malformed",
        "graph.json",
    );

    // Protobuf: Node { children: [Node { children: [...] }] }, written inside out by hand.
    let mut msg: Vec<u8> = Vec::new();
    for _ in 0..5_000 {
        let mut outer = vec![(6 << 3) | 2];
        let mut len = msg.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                outer.push(byte);
                break;
            }
            outer.push(byte | 0x80);
        }
        outer.extend_from_slice(&msg);
        msg = outer;
    }
    let pb = entries(&base_bytes(Encoding::Protobuf));
    let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
        pb.iter()
            .find(|(n, _)| n == "manifest.pb")
            .unwrap()
            .1
            .as_slice(),
    )
    .unwrap();
    let graph_entry = m.entries.iter_mut().find(|e| e.path == "graph.pb").unwrap();
    graph_entry.size = msg.len() as u64;
    graph_entry.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&msg));
    let mut all = vec![
        ("manifest.pb".to_string(), prost::Message::encode_to_vec(&m)),
        ("graph.pb".to_string(), msg),
    ];
    all.extend(pb.into_iter().filter(|(n, _)| n.starts_with("tensors/")));
    assert_kind(
        &refuse_with(&zip_files(&all), &limits),
        "Malformed",
        "graph.pb",
    );
}

#[test]
fn too_many_nodes_are_refused() {
    let limits = Limits {
        max_nodes: 2,
        ..Limits::default()
    };
    let err = refuse_with(&base_bytes(Encoding::Json), &limits);
    assert_limit(&err, "graph.json", "node count");

    // Default limit (100,000): the base graph plus 100,000 extra no-op stages.
    let mut b = base_bundle();
    for i in 0..100_000 {
        b.graph
            .children
            .push(node(&format!("n{i}"), "noop", vec![], vec![]));
    }
    let err = refuse(&b.to_bytes(Encoding::Protobuf).unwrap());
    assert_limit(&err, "graph.pb", "node count");
}

#[test]
fn reading_a_column_before_it_is_written_is_refused() {
    // Swap the two stages: the model then reads `scale.Y` before the scaler writes it.
    let err = refuse(&with_graph(|g| {
        g["children"].as_array_mut().unwrap().swap(0, 1);
    }));
    assert_kind(&err, "Graph", "model");
    assert!(err.to_string().contains("scale.Y"), "{err}");
    // A column nobody writes at all.
    let err = refuse(&with_graph(|g| {
        g["children"][1]["inputs"][0]["columns"] = json!(["ghost"]);
    }));
    assert_kind(&err, "Graph", "ghost");
}

#[test]
fn writing_a_column_twice_is_refused() {
    let err = refuse(&with_graph(|g| {
        g["children"][1]["outputs"][0]["columns"] = json!(["scale.Y"]);
    }));
    assert_kind(&err, "Graph", "model");
    assert!(err.to_string().contains("scale.Y"), "{err}");
    // Overwriting (shadowing) an input column counts as a second write.
    let err = refuse(&with_graph(|g| {
        g["children"][0]["outputs"][0]["columns"] = json!(["x0"]);
    }));
    assert_kind(&err, "Graph", "x0");
}

#[test]
fn a_root_other_than_the_manifests_is_refused() {
    let err = refuse(&with_manifest(|m| m["root"] = json!("elsewhere")));
    assert_kind(&err, "Graph", "elsewhere");
    assert!(err.to_string().contains("root"), "{err}");
}

#[test]
fn other_graph_rules_are_enforced() {
    let err = refuse(&with_graph(|g| g["children"][1]["name"] = json!("scale")));
    assert_kind(&err, "Graph", "scale");
    let err = refuse(&with_graph(|g| g["children"][1]["name"] = json!("")));
    assert_eq!(kind(&err), "Graph", "{err:?}");
    let err = refuse(&with_graph(|g| {
        g["children"][0]["children"] = json!([{"name": "inner", "op": "noop"}]);
    }));
    assert_kind(&err, "Graph", "scale");
    let err = refuse(&with_graph(|g| {
        g["outputs"][0]["columns"] = json!(["y", "nothing"]);
    }));
    assert_kind(&err, "Graph", "nothing");
}

// ---------------------------------------------------------------------------------------------
// Tensors.

/// The base bundle with its tensor file replaced by `file` (and the graph's reference pointing
/// at `key`).
fn with_tensor_file(file: Vec<u8>, key: &str) -> Vec<u8> {
    let mut parts = base_parts();
    parts.tensors = vec![(TENSORS.to_string(), file)];
    parts.graph["children"][1]["attrs"]["coef"]["tensor"]["key"] = json!(key);
    parts.pack()
}

#[test]
fn tensor_shape_that_disagrees_with_its_bytes_is_refused() {
    // 3 f64s declared, 2 stored.
    let file = safetensors_raw(
        r#"{"w":{"dtype":"F64","shape":[3],"data_offsets":[0,16]}}"#,
        &[0u8; 16],
    );
    let err = refuse(&with_tensor_file(file, "w"));
    match &err {
        BundleError::Tensor { entry, key, .. } => {
            assert_eq!(entry, TENSORS);
            assert_eq!(key, "w");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(TENSORS) && err.to_string().contains("`w`"));

    // The second of two tensors wrong: the key named is that one.
    let file = safetensors_raw(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[2,2],"data_offsets":[8,24]}}"#,
        &[0u8; 24],
    );
    let err = refuse(&with_tensor_file(file, "a"));
    assert!(
        matches!(&err, BundleError::Tensor { key, .. } if key == "b"),
        "{err:?}"
    );
}

#[test]
fn disallowed_and_unknown_tensor_dtypes_are_refused() {
    for dtype in [
        "F16", "BF16", "I8", "U16", "U64", "F8_E4M3", "C64", "Q7", "",
    ] {
        let header = format!(r#"{{"w":{{"dtype":"{dtype}","shape":[2],"data_offsets":[0,8]}}}}"#);
        let err = refuse(&with_tensor_file(safetensors_raw(&header, &[0u8; 8]), "w"));
        match &err {
            BundleError::Tensor { entry, key, .. } => {
                assert_eq!(entry, TENSORS, "{dtype}");
                assert_eq!(key, "w", "{dtype}");
            }
            other => panic!("{dtype}: {other:?}"),
        }
    }
}

#[test]
fn tensor_element_count_limit_is_enforced() {
    // Custom limit: the base coefficient tensor has 2 elements.
    let limits = Limits {
        max_tensor_elements: 1,
        ..Limits::default()
    };
    let err = refuse_with(&base_bytes(Encoding::Json), &limits);
    assert_limit(
        &err,
        &format!("{TENSORS}#model/coef"),
        "tensor element count",
    );
    // Default limit (2^31 - 1): the element count is judged before the data is, so a tiny
    // file whose header claims 2^31 bytes is refused for its count.
    let file = safetensors_raw(
        r#"{"w":{"dtype":"U8","shape":[2147483648],"data_offsets":[0,0]}}"#,
        &[],
    );
    let err = refuse(&with_tensor_file(file, "w"));
    assert_limit(&err, &format!("{TENSORS}#w"), "tensor element count");
    // A shape whose product overflows u64.
    let file = safetensors_raw(
        r#"{"w":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,0]}}"#,
        &[],
    );
    assert!(matches!(
        refuse(&with_tensor_file(file, "w")),
        BundleError::Tensor { ref key, .. } if key == "w"
    ));
}

#[test]
fn malformed_safetensors_framing_is_refused() {
    let ok = base_tensors();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2, 3],
        {
            let mut b = ok.clone();
            b[..8].copy_from_slice(&(ok.len() as u64).to_le_bytes());
            b
        },
        safetensors_raw("not json", &[]),
        // Offsets with a gap, and data left over at the end.
        safetensors_raw(
            r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
            &[0, 0],
        ),
        safetensors_raw(
            r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            &[0, 0, 0],
        ),
    ];
    cases.push(ok[..ok.len() - 1].to_vec());
    for file in cases {
        let err = refuse(&with_tensor_file(file, "model/coef"));
        assert_kind(&err, "Tensor", TENSORS);
    }
}

#[test]
fn tensor_references_must_resolve() {
    let err = refuse(&with_graph(|g| {
        g["children"][1]["attrs"]["coef"]["tensor"]["file"] = json!("tensors/gone.safetensors");
    }));
    match &err {
        BundleError::Tensor { entry, key, .. } => {
            assert_eq!(entry, "tensors/gone.safetensors");
            assert_eq!(key, "model/coef");
        }
        other => panic!("{other:?}"),
    }
    let err = refuse(&with_graph(|g| {
        g["children"][1]["attrs"]["coef"]["tensor"]["key"] = json!("model/nope");
    }));
    assert!(
        matches!(&err, BundleError::Tensor { entry, key, .. } if entry == TENSORS && key == "model/nope"),
        "{err:?}"
    );
    assert!(err.to_string().contains("model/nope"));
    // A reference hidden inside a list attribute is checked too.
    let err = refuse(&with_graph(|g| {
        g["children"][0]["attrs"]["hidden"] =
            json!({"list": [{"i64s": [1]}, {"tensor": {"file": TENSORS, "key": "missing"}}]});
    }));
    assert!(
        matches!(&err, BundleError::Tensor { key, .. } if key == "missing"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The writer refuses what the reader would refuse.

#[test]
fn writer_refuses_tensor_paths_the_reader_would_refuse() {
    for path in [
        "model.safetensors",
        "tensors/model.bin",
        "graph.json",
        "../x.safetensors",
    ] {
        let r = Bundle::new(
            base_manifest(),
            base_graph(),
            [(path.to_string(), base_tensors())],
        );
        let err = r.expect_err(path);
        assert!(err.to_string().contains(path), "{err}");
    }
}

#[test]
fn attributes_must_hold_exactly_one_known_kind() {
    for bad in [
        json!({"bool": true, "i64": 3}),
        json!({}),
        json!({"f16": 1.0}),
        json!({"i64": 1.5}),
        json!({"f64": "nan"}),
        json!({"f64s": [1.0, "Inf"]}),
        json!({"tensor": {"file": TENSORS}}),
        json!({"list": [{"bool": 1}]}),
        json!(42),
    ] {
        let err = refuse(&with_graph(|g| {
            g["children"][0]["attrs"]["odd"] = bad.clone()
        }));
        assert_kind(&err, "Malformed", "graph.json");
    }
    // Protobuf: an attribute entry without a value, and a value without a kind.
    let pb = entries(&base_bytes(Encoding::Protobuf));
    for value in [None, Some(keel_bundle::pb::Attr { kind: None })] {
        let mut g = <keel_bundle::pb::Node as prost::Message>::decode(
            pb.iter()
                .find(|(n, _)| n == "graph.pb")
                .unwrap()
                .1
                .as_slice(),
        )
        .unwrap();
        g.children[0].attrs.push(keel_bundle::pb::AttrEntry {
            key: "odd".into(),
            value: value.clone(),
        });
        let graph = prost::Message::encode_to_vec(&g);
        let mut m = <keel_bundle::pb::Manifest as prost::Message>::decode(
            pb.iter()
                .find(|(n, _)| n == "manifest.pb")
                .unwrap()
                .1
                .as_slice(),
        )
        .unwrap();
        let e = m.entries.iter_mut().find(|e| e.path == "graph.pb").unwrap();
        e.size = graph.len() as u64;
        e.sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&graph));
        let mut all = vec![
            ("manifest.pb".to_string(), prost::Message::encode_to_vec(&m)),
            ("graph.pb".to_string(), graph),
        ];
        all.extend(
            pb.iter()
                .filter(|(n, _)| n.starts_with("tensors/"))
                .cloned(),
        );
        let err = refuse(&zip_files(&all));
        assert_kind(&err, "Malformed", "graph.pb");
        assert!(err.to_string().contains("odd"), "{err}");
    }
}

#[test]
fn field_shapes_must_be_non_negative_integers() {
    for shape in [json!([-1]), json!([1.5]), json!(["3"]), json!(3)] {
        let err = refuse(&with_manifest(|m| m["outputs"][0]["shape"] = shape.clone()));
        assert_kind(&err, "Malformed", "manifest.json");
    }
}

#[test]
fn safetensors_headers_fall_under_the_document_size_limit() {
    // A valid tensor file whose header is padded (as the format allows) to 200 KB.
    let header = format!(
        "{{\"model/coef\":{{\"dtype\":\"F64\",\"shape\":[1,2],\"data_offsets\":[0,16]}}}}{}",
        " ".repeat(200_000)
    );
    let file = safetensors_raw(&header, &[0u8; 16]);
    let bytes = with_tensor_file(file, "model/coef");
    Bundle::from_bytes(&bytes).expect("a large header is fine under the default limits");
    let limits = Limits {
        max_document_bytes: 100_000,
        ..Limits::default()
    };
    let err = refuse_with(&bytes, &limits);
    assert_limit(&err, TENSORS, "safetensors header size");
    // A header length prefix far beyond the file.
    let mut file = base_tensors();
    file[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_limit(
        &refuse(&with_tensor_file(file, "model/coef")),
        TENSORS,
        "safetensors header size",
    );
}
