//! Compiles the importer's reading of MLeap's Bundle.ML protobuf schema with protox (a
//! pure-Rust protobuf compiler), so that building keel never needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/mleap_bundle.proto");
    let fds = protox::compile(["proto/mleap_bundle.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
