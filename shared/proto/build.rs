//! Compiles every `.proto` file under `<workspace>/proto` into Rust (prost messages plus
//! tonic clients and servers) and writes the file descriptor set used for gRPC reflection.

use std::env;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("..").join("..").join("proto");
    let well_known_include = protoc_bin_vendored::include_path()?;

    let mut files = Vec::new();
    collect_protos(&proto_root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(format!("no .proto files found under {}", proto_root.display()).into());
    }

    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-env-changed=PROTOC");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let mut config = tonic_prost_build::Config::new();
    // Use the vendored protoc unless the environment names one. Passing the path to
    // prost-build (instead of `env::set_var`, which is `unsafe` in edition 2024 and our
    // workspace forbids unsafe code) has the same effect: prost-build reads `PROTOC` only
    // when no executable was configured.
    if env::var_os("PROTOC").is_none() {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    }

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // RPCs a service does not implement yet answer UNIMPLEMENTED without hand-written stubs.
        .generate_default_stubs(true)
        .file_descriptor_set_path(out_dir.join("caravan_descriptor.bin"))
        .compile_with_config(config, &files, &[proto_root, well_known_include])?;
    Ok(())
}

/// Recursively collects the `.proto` files below `dir`, walking entries in sorted order.
fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    let mut entries = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // Watch every directory too, so that adding a file triggers a rebuild.
            println!("cargo:rerun-if-changed={}", path.display());
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
