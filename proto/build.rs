//! Compiles `proto/volley.proto` (and `proto/k6_metrics.proto`, k6's metric pushes) with a vendored `protoc`, so building needs nothing installed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/volley.proto");
    println!("cargo:rerun-if-changed=proto/k6_metrics.proto");
    tonic_prost_build::configure()
        .compile_protos(
            &["proto/volley.proto", "proto/k6_metrics.proto"],
            &["proto"],
        )
        .expect("compile volley.proto and k6_metrics.proto");
}
