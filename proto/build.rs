//! Compiles `proto/volley.proto` (and `proto/cloud_push.proto`, how k6's cloud-output pushes are read) with a vendored `protoc`, so building needs nothing installed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/volley.proto");
    println!("cargo:rerun-if-changed=proto/cloud_push.proto");
    tonic_prost_build::configure()
        .compile_protos(
            &["proto/volley.proto", "proto/cloud_push.proto"],
            &["proto"],
        )
        .expect("compile volley.proto and cloud_push.proto");
}
