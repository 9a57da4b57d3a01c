//! Compiles the test gRPC service's own .proto files (`k6-scripts/grpc/`, which the test
//! scripts load too) for `src/grpc_server.rs`, with a vendored `protoc` so that building needs
//! nothing installed; the descriptor set it writes is what the server's reflection serves.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    let include = protoc_bin_vendored::include_path().expect("vendored protoc includes");
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=k6-scripts/grpc");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    tonic_prost_build::configure()
        .build_client(false)
        .file_descriptor_set_path(out.join("echo_descriptor.bin"))
        .compile_protos(
            &[std::path::PathBuf::from("k6-scripts/grpc/echo.proto")],
            &[std::path::PathBuf::from("k6-scripts/grpc"), include],
        )
        .expect("compile k6-scripts/grpc/echo.proto");
}
