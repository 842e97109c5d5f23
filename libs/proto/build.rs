//! Compiles every .proto under `/proto` once, for all services, with a vendored
//! protoc so nothing has to be installed. Also writes the descriptor set that
//! server reflection serves (grpcurl works without local .proto files).

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "leadflow/common/v1/common.proto",
    "leadflow/leads/v1/team.proto",
    "leadflow/leads/v1/lead.proto",
    "leadflow/leads/v1/operations.proto",
    "leadflow/routing/v1/routing.proto",
    "leadflow/notifier/v1/notifier.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the env.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", protoc);
    }

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    // Each file too: a directory's own mtime does not change when a file in
    // it is edited in place.
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("leadflow_descriptor.bin"))
        .compile_protos(&files, &[root])?;
    Ok(())
}
