//! Compiles the protobuf schema of record with protox (a pure-Rust protobuf compiler), so that
//! building keel never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/keel_bundle.proto");
    let fds = protox::compile(["proto/keel_bundle.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
