//! Compiles `proto/volley.proto`, `proto/cloud_push.proto` (how k6's cloud-output pushes are read)
//! and `proto/raft.proto` (the controllers' replication) with a vendored `protoc`, so building
//! needs nothing installed.
fn main() {
    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("PROTOC", protoc) };
    println!("cargo:rerun-if-changed=proto/volley.proto");
    println!("cargo:rerun-if-changed=proto/cloud_push.proto");
    println!("cargo:rerun-if-changed=proto/raft.proto");
    tonic_prost_build::configure()
        // A series' tag texts as `Bytes`: decoded from the message's buffer without a copy.
        .bytes(".volley.v1.Tag")
        // An Assign's archive and sequence as `Bytes`: one copy shared by every agent's
        // message of a run, where a run on 5,000 agents made 5,000 copies of each (the sequence
        // alone ~50 KB: 250 MB at once).
        .bytes(".volley.v1.Assign")
        // Written by hand: its series stay encoded and are read in place (src/batch.rs).
        .extern_path(".volley.v1.MetricBatch", "crate::batch::MetricBatch")
        .compile_protos(
            &[
                "proto/volley.proto",
                "proto/cloud_push.proto",
                "proto/raft.proto",
            ],
            &["proto"],
        )
        .expect("compile volley.proto, cloud_push.proto and raft.proto");
}
