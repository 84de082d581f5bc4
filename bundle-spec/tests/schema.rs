//! The protobuf schema of record (`proto/keel_bundle.proto`), the JSON encoding (the serde form
//! of `model.rs`) and the normative tables of SPEC.md must describe the same logical model. This
//! test reads the `.proto` and SPEC.md as text and checks, mechanically:
//!
//! - every field of every record message appears as a key in the JSON encoding of a
//!   fully-populated bundle, and every JSON key is a field of the message (both directions);
//! - the map-entry messages (`StringEntry`, `AttrEntry`) are JSON objects and the list wrappers
//!   (`IntList`...) JSON arrays;
//! - the `Attr` oneof, the JSON attribute kinds and SPEC.md's section 5 table list the same
//!   kinds, and the writer maps each JSON kind to the protobuf field the table names;
//! - SPEC.md's field tables for the manifest (section 2) and the node (section 3) list exactly
//!   the fields of the corresponding messages.
//!
//! A field added to one and not the others fails here, naming it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use keel_bundle::Encoding;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const PROTO: &str = include_str!("../proto/keel_bundle.proto");
const SPEC: &str = include_str!("../SPEC.md");

#[derive(Debug, Clone)]
struct ProtoField {
    name: String,
    ty: String,
    repeated: bool,
    oneof: Option<String>,
}

/// Parses the message declarations of a proto3 file. Only the syntax the schema uses is
/// understood (messages, scalar/message/repeated fields, oneofs); anything else fails the
/// test, so a schema that grows new syntax forces this check to be extended, not skipped.
fn parse_proto(text: &str) -> BTreeMap<String, Vec<ProtoField>> {
    let stripped: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let spaced = stripped
        .replace('{', " { ")
        .replace('}', " } ")
        .replace(';', " ; ")
        .replace('=', " = ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut messages: BTreeMap<String, Vec<ProtoField>> = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    let mut oneof: Option<String> = None;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i] {
            "syntax" | "package" => {
                while tokens[i] != ";" {
                    i += 1;
                }
                i += 1;
            }
            "message" => {
                assert_eq!(tokens[i + 2], "{", "message {}", tokens[i + 1]);
                stack.push(tokens[i + 1].to_string());
                messages.entry(tokens[i + 1].to_string()).or_default();
                i += 3;
            }
            "oneof" => {
                assert_eq!(tokens[i + 2], "{");
                oneof = Some(tokens[i + 1].to_string());
                i += 3;
            }
            "}" => {
                if oneof.is_some() {
                    oneof = None;
                } else {
                    stack.pop().expect("unbalanced braces");
                }
                i += 1;
            }
            _ => {
                let message = stack.last().expect("a field outside any message").clone();
                let repeated = tokens[i] == "repeated";
                if repeated {
                    i += 1;
                }
                let (ty, name, eq, num, semi) = (
                    tokens[i],
                    tokens[i + 1],
                    tokens[i + 2],
                    tokens[i + 3],
                    tokens[i + 4],
                );
                assert!(
                    eq == "=" && semi == ";" && num.parse::<u32>().is_ok(),
                    "cannot parse the proto near `{ty} {name} {eq} {num} {semi}` in {message}"
                );
                messages.get_mut(&message).unwrap().push(ProtoField {
                    name: name.to_string(),
                    ty: ty.to_string(),
                    repeated,
                    oneof: oneof.clone(),
                });
                i += 5;
            }
        }
    }
    assert!(stack.is_empty(), "unbalanced braces");
    messages
}

fn names(fields: &[ProtoField]) -> BTreeSet<String> {
    fields.iter().map(|f| f.name.clone()).collect()
}

fn keys(objects: &[&Value]) -> BTreeSet<String> {
    objects
        .iter()
        .flat_map(|o| o.as_object().expect("an object").keys().cloned())
        .collect()
}

/// Everything in the full bundle's graph JSON, gathered by kind.
#[derive(Default)]
struct Gathered<'a> {
    nodes: Vec<&'a Value>,
    bindings: Vec<&'a Value>,
    attr_maps: Vec<&'a Value>,
    attrs: Vec<&'a Value>,
}

fn gather_attr<'a>(a: &'a Value, g: &mut Gathered<'a>) {
    g.attrs.push(a);
    if let Some(items) = a.get("list").and_then(Value::as_array) {
        for item in items {
            gather_attr(item, g);
        }
    }
}

fn gather<'a>(node: &'a Value, g: &mut Gathered<'a>) {
    g.nodes.push(node);
    for port in ["inputs", "outputs"] {
        if let Some(bs) = node.get(port).and_then(Value::as_array) {
            g.bindings.extend(bs.iter());
        }
    }
    if let Some(attrs) = node.get("attrs") {
        g.attr_maps.push(attrs);
        for a in attrs.as_object().unwrap().values() {
            gather_attr(a, g);
        }
    }
    if let Some(children) = node.get("children").and_then(Value::as_array) {
        for c in children {
            gather(c, g);
        }
    }
}

/// The full bundle's manifest and graph as JSON values.
fn full_json() -> (Value, Value) {
    let bytes = full_bundle().to_bytes(Encoding::Json).unwrap();
    let mut manifest = Value::Null;
    let mut graph = Value::Null;
    for (name, data) in entries(&bytes) {
        match name.as_str() {
            "manifest.json" => manifest = serde_json::from_slice(&data).unwrap(),
            "graph.json" => graph = serde_json::from_slice(&data).unwrap(),
            _ => {}
        }
    }
    (manifest, graph)
}

/// The rows of the first markdown table after `heading`: the first column's backticked name
/// and the raw cells.
fn spec_table(heading: &str) -> Vec<Vec<String>> {
    let start = SPEC
        .find(heading)
        .unwrap_or_else(|| panic!("SPEC.md has no `{heading}`"));
    SPEC[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn backticked(cell: &str) -> String {
    cell.trim().trim_matches('`').to_string()
}

#[test]
fn every_proto_field_appears_in_the_json_encoding_and_back() {
    let proto = parse_proto(PROTO);
    let (manifest, graph) = full_json();
    let mut g = Gathered::default();
    gather(&graph, &mut g);

    let fields: Vec<&Value> = ["inputs", "outputs"]
        .iter()
        .flat_map(|k| manifest[*k].as_array().unwrap().iter())
        .collect();
    let entries_json: Vec<&Value> = manifest["entries"].as_array().unwrap().iter().collect();
    let tensor_refs: Vec<&Value> = g.attrs.iter().filter_map(|a| a.get("tensor")).collect();
    let records: Vec<(&str, BTreeSet<String>)> = vec![
        ("Manifest", keys(&[&manifest])),
        ("Producer", keys(&[&manifest["producer"]])),
        ("Field", keys(&fields)),
        ("Entry", keys(&entries_json)),
        ("Node", keys(&g.nodes)),
        ("Binding", keys(&g.bindings)),
        ("TensorRef", keys(&tensor_refs)),
    ];
    for (message, json_keys) in &records {
        let fields = proto
            .get(*message)
            .unwrap_or_else(|| panic!("the proto has no message {message}"));
        assert_eq!(
            &names(fields),
            json_keys,
            "{message}: proto fields (left) and JSON keys (right) differ"
        );
    }

    // Maps: repeated key/value messages in protobuf, objects in JSON.
    for entry in ["StringEntry", "AttrEntry"] {
        let f = &proto[entry];
        assert_eq!(
            names(f),
            ["key", "value"].map(String::from).into_iter().collect(),
            "{entry}"
        );
    }
    for (message, field, entry, json) in [
        (
            "Manifest",
            "metadata",
            "StringEntry",
            vec![&manifest["metadata"]],
        ),
        ("Node", "attrs", "AttrEntry", g.attr_maps.clone()),
    ] {
        let f = proto[message].iter().find(|f| f.name == field).unwrap();
        assert!(f.repeated && f.ty == entry, "{message}.{field}");
        assert!(
            !json.is_empty() && json.iter().all(|v| v.is_object()),
            "{message}.{field}"
        );
    }

    // Every other message must be accounted for, so a new one cannot slip past this test.
    let covered: BTreeSet<&str> = records
        .iter()
        .map(|(m, _)| *m)
        .chain(["StringEntry", "AttrEntry", "Attr"])
        .chain(["IntList", "FloatList", "StringList", "AttrList"])
        .collect();
    let all: BTreeSet<&str> = proto.keys().map(String::as_str).collect();
    assert_eq!(all, covered, "a proto message this test does not check");
}

#[test]
fn attribute_kinds_agree_between_proto_json_and_spec() {
    let proto = parse_proto(PROTO);
    // SPEC.md section 5: | kind | JSON | protobuf field |
    let table: BTreeMap<String, String> = spec_table("## 5. Attribute values")
        .iter()
        .map(|row| {
            let json = row[1]
                .trim_start_matches("`{\"")
                .split('"')
                .next()
                .unwrap()
                .to_string();
            (json, backticked(&row[2]))
        })
        .collect();
    assert_eq!(table.len(), 9, "SPEC.md section 5 table: {table:?}");

    // The oneof of Attr lists exactly the table's protobuf fields.
    let oneof: BTreeSet<String> = proto["Attr"]
        .iter()
        .filter(|f| f.oneof.as_deref() == Some("kind"))
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(
        oneof,
        names(&proto["Attr"]),
        "Attr has fields outside its oneof"
    );
    assert_eq!(
        oneof,
        table.values().cloned().collect::<BTreeSet<_>>(),
        "proto Attr oneof (left) vs SPEC.md section 5 (right)"
    );

    // The JSON encoding uses exactly the table's JSON kinds (the full bundle has every kind),
    // each attribute object holding one kind.
    let (_, graph) = full_json();
    let mut g = Gathered::default();
    gather(&graph, &mut g);
    let mut seen = BTreeSet::new();
    for a in &g.attrs {
        let obj = a.as_object().unwrap();
        assert_eq!(obj.len(), 1, "an attribute with more than one kind: {a}");
        seen.insert(obj.keys().next().unwrap().clone());
    }
    assert_eq!(
        seen,
        table.keys().cloned().collect::<BTreeSet<_>>(),
        "JSON attribute kinds (left) vs SPEC.md section 5 (right)"
    );

    // List wrappers: one repeated `values` field, and a JSON array for the matching kind.
    for (message, kind) in [
        ("IntList", "i64s"),
        ("FloatList", "f64s"),
        ("StringList", "strs"),
        ("AttrList", "list"),
    ] {
        let f = &proto[message];
        assert!(
            f.len() == 1 && f[0].name == "values" && f[0].repeated,
            "{message}"
        );
        let pb_field = &table[kind];
        let attr_field = proto["Attr"].iter().find(|x| &x.name == pb_field).unwrap();
        assert_eq!(attr_field.ty, message, "Attr.{pb_field}");
        assert!(
            g.attrs
                .iter()
                .filter_map(|a| a.get(kind))
                .all(Value::is_array),
            "{kind}"
        );
    }

    // The writer maps each JSON kind to the protobuf field the table names: walk the same
    // bundle's graph in both encodings side by side.
    let pb_bytes = full_bundle().to_bytes(Encoding::Protobuf).unwrap();
    let graph_pb = entries(&pb_bytes)
        .into_iter()
        .find(|(n, _)| n == "graph.pb")
        .unwrap()
        .1;
    let pb_root = <keel_bundle::pb::Node as prost::Message>::decode(graph_pb.as_slice()).unwrap();
    let mut pairs = BTreeSet::new();
    walk_pairs(&graph, &pb_root, &mut pairs);
    let expected: BTreeSet<(String, String)> =
        table.iter().map(|(j, p)| (j.clone(), p.clone())).collect();
    assert_eq!(
        pairs, expected,
        "writer's (JSON kind, protobuf field) pairs vs SPEC.md"
    );
}

fn pb_kind(k: &keel_bundle::pb::attr::Kind) -> &'static str {
    use keel_bundle::pb::attr::Kind;
    match k {
        Kind::B(_) => "b",
        Kind::I(_) => "i",
        Kind::F(_) => "f",
        Kind::S(_) => "s",
        Kind::Ints(_) => "ints",
        Kind::Floats(_) => "floats",
        Kind::Strings(_) => "strings",
        Kind::List(_) => "list",
        Kind::Tensor(_) => "tensor",
    }
}

fn pair_attr(json: &Value, pb: &keel_bundle::pb::Attr, out: &mut BTreeSet<(String, String)>) {
    let kind = pb.kind.as_ref().expect("a kind");
    let json_kind = json.as_object().unwrap().keys().next().unwrap().clone();
    out.insert((json_kind, pb_kind(kind).to_string()));
    if let (Some(items), keel_bundle::pb::attr::Kind::List(list)) =
        (json.get("list").and_then(Value::as_array), kind)
    {
        assert_eq!(items.len(), list.values.len());
        for (j, p) in items.iter().zip(&list.values) {
            pair_attr(j, p, out);
        }
    }
}

fn walk_pairs(json: &Value, pb: &keel_bundle::pb::Node, out: &mut BTreeSet<(String, String)>) {
    assert_eq!(json["name"], pb.name.as_str());
    if let Some(attrs) = json.get("attrs").and_then(Value::as_object) {
        assert_eq!(attrs.len(), pb.attrs.len(), "node {}", pb.name);
        for entry in &pb.attrs {
            pair_attr(&attrs[&entry.key], entry.value.as_ref().unwrap(), out);
        }
    }
    let children = json
        .get("children")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert_eq!(children.len(), pb.children.len());
    for (j, p) in children.iter().zip(&pb.children) {
        walk_pairs(j, p, out);
    }
}

#[test]
fn spec_field_tables_list_the_proto_fields() {
    let proto = parse_proto(PROTO);
    for (heading, message) in [("## 2. Manifest", "Manifest"), ("## 3. Graph", "Node")] {
        let spec: BTreeSet<String> = spec_table(heading)
            .iter()
            .map(|row| backticked(&row[0]))
            .collect();
        assert_eq!(
            names(&proto[message]),
            spec,
            "proto {message} (left) vs SPEC.md `{heading}` table (right)"
        );
    }
}
