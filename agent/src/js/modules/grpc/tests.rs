//! `k6/net/grpc` in one VU without a server: loading definitions (what `load` returns, its
//! errors, imports through import paths), the checks `invoke` and `connect` make before any
//! network, and the JSON of replies. Calls against a real server are in
//! `tests/tests/grpc.rs`.

use serde_json::json;

use crate::js::modulestest::TestVu;
use crate::js::vu_ctx::Phase;

/// A folder with `svc.proto` (importing `types/t.proto` through the import path `types`'s
/// parent) and a broken file; its absolute path.
fn protos(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("volley-grpc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(dir.join("types")).unwrap();
    std::fs::write(
        dir.join("svc.proto"),
        r#"syntax = "proto3";
package t.v1;
import "types/t.proto";
import "google/protobuf/timestamp.proto";
service Svc {
  rpc Get(t.v1.Req) returns (Reply);
  rpc Watch(t.v1.Req) returns (stream Reply);
}
message Reply {
  string text = 1;
  int64 big = 2;
  t.v1.Kind kind = 3;
  repeated int32 nums = 4;
  map<string, t.v1.Req> reqs = 5;
  t.v1.Req req = 6;
  oneof pick { string a = 7; int32 b = 8; }
  google.protobuf.Timestamp at = 9;
  bytes blob = 10;
  double ratio = 11;
  bool flag = 12;
  uint64 ubig = 13;
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("types/t.proto"),
        "syntax = \"proto3\";\npackage t.v1;\nenum Kind { KIND_NONE = 0; KIND_A = 1; }\n\
         message Req { string id = 1; int64 n = 2; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("broken.proto"), "syntax = \"proto3\";\nmessage {").unwrap();
    dir.display().to_string()
}

#[test]
fn load_lists_the_methods_of_the_files_it_was_given_as_k6() {
    let dir = protos("load");
    let vu = TestVu::new();
    vu.set_phase(Phase::Init);
    vu.run(&format!(
        "import grpc from 'k6/net/grpc';
         const c = new grpc.Client();
         globalThis.out = [c.load([{dir:?}], 'svc.proto'), c.load([{dir:?}], 'types/t.proto')];"
    ))
    .unwrap();
    assert_eq!(
        vu.json("out"),
        json!([
            [
                {"package": "t.v1", "service": "Svc", "full_method": "/t.v1.Svc/Get",
                 "name": "Get", "is_client_stream": false, "is_server_stream": false},
                {"package": "t.v1", "service": "Svc", "full_method": "/t.v1.Svc/Watch",
                 "name": "Watch", "is_client_stream": false, "is_server_stream": true}
            ],
            []
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_errors_name_the_file_and_happen_only_in_the_init_context() {
    let dir = protos("errors");
    let vu = TestVu::new();
    vu.set_phase(Phase::Init);
    vu.run(&format!(
        "import grpc from 'k6/net/grpc';
         const why = (f) => {{ try {{ f(); return 'ok'; }} catch (e) {{ return String(e); }} }};
         const c = new grpc.Client();
         globalThis.out = [
           why(() => c.load([{dir:?}], 'missing.proto')),
           why(() => c.load([{dir:?}], 'broken.proto')),
           why(() => c.load(null, {dir:?} + '/svc.proto')),
           why(() => c.load({dir:?}, 'svc.proto')),
           why(() => c.connect('127.0.0.1:1', {{ plaintext: true }})),
           why(() => c.invoke('t.v1.Svc/Get', {{}})),
         ];"
    ))
    .unwrap();
    let out = vu.json("out");
    let texts: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        texts[0],
        format!("GoError: stat {dir}/missing.proto: no such file or directory")
    );
    assert!(
        texts[1].starts_with("GoError: broken.proto:2:"),
        "{}",
        texts[1]
    );
    // Without import paths, imports are found relative to the script (/test/script.js).
    assert_eq!(
        texts[2],
        format!("GoError: {dir}/svc.proto: stat /test/types/t.proto: no such file or directory")
    );
    assert!(
        texts[3].starts_with("TypeError: client.load(importPaths"),
        "{}",
        texts[3]
    );
    assert_eq!(
        texts[4],
        "GoError: connecting to a gRPC server in the init context is not supported"
    );
    assert_eq!(
        texts[5],
        "GoError: invoking RPC methods in the init context is not supported"
    );
    vu.set_phase(Phase::Iteration);
    vu.run(&format!(
        "import grpc from 'k6/net/grpc';
         const why = (f) => {{ try {{ f(); return 'ok'; }} catch (e) {{ return String(e); }} }};
         const c = new grpc.Client();
         globalThis.out = [
           why(() => c.load([{dir:?}], 'svc.proto')),
           why(() => c.invoke('t.v1.Svc/Get', {{}})),
           why(() => c.connect('127.0.0.1', {{ plaintext: true }})),
           why(() => c.connect('127.0.0.1:1', {{ plaintext: true, bogus: 1 }})),
           why(() => c.connect('127.0.0.1:1', {{ plaintext: true, timeout: 'x' }})),
           String(grpc.StatusOK), grpc.StatusNotFound == 5, grpc.StatusNotFound === 5,
           JSON.stringify({{ s: grpc.StatusUnauthenticated }}),
         ];"
    ))
    .unwrap();
    assert_eq!(
        vu.json("out"),
        json!([
            "GoError: load must be called in the init context",
            "GoError: no gRPC connection, you must call connect first",
            "GoError: connection error: desc = \"transport: error while dialing: address \
             127.0.0.1: missing port in address\"",
            "GoError: invalid grpc.connect() parameters: unknown connect param: \"bogus\"",
            "GoError: invalid grpc.connect() parameters: invalid timeout value: time: invalid \
             duration \"x\"",
            "OK",
            true,
            false,
            "{\"s\":16}"
        ])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unary_replies_show_unset_fields_and_stream_messages_do_not() {
    use prost_reflect::{DynamicMessage, Value as PValue};
    use std::sync::Arc;
    let dir = protos("json");
    let program = Arc::new(
        crate::program::ProgramBuilder::new(std::path::Path::new(&format!("{dir}/s.js")))
            .unwrap()
            .finish(Default::default()),
    );
    let mut defs = super::protos::Definitions::default();
    defs.load_protos(&program, &[], &["svc.proto".to_owned()])
        .unwrap();
    let m = defs.method("t.v1.Svc/Get").unwrap().clone();
    let mut reply = DynamicMessage::new(m.output());
    reply.set_field_by_name("big", PValue::I64(9_007_199_254_740_993));
    reply.set_field_by_name("b", PValue::I32(3));
    let mut req = DynamicMessage::new(m.input());
    req.set_field_by_name("id", PValue::String("x".into()));
    let mut reqs = std::collections::HashMap::new();
    reqs.insert(
        prost_reflect::MapKey::String("k".into()),
        PValue::Message(req),
    );
    reply.set_field_by_name("reqs", PValue::Map(reqs));
    let bytes: bytes::Bytes = prost::Message::encode_to_vec(&reply).into();
    let shown: serde_json::Value =
        serde_json::from_str(&super::codec::reply_json(&m.output(), bytes.clone(), true).unwrap())
            .unwrap();
    assert_eq!(
        shown,
        json!({
            "text": "", "big": "9007199254740993", "kind": "KIND_NONE", "nums": [],
            "reqs": {"k": {"id": "x", "n": "0"}}, "req": null, "b": 3, "at": null,
            "blob": "", "ratio": 0, "flag": false, "ubig": "0"
        })
    );
    let streamed: serde_json::Value =
        serde_json::from_str(&super::codec::reply_json(&m.output(), bytes, false).unwrap())
            .unwrap();
    assert_eq!(
        streamed,
        json!({"big": "9007199254740993", "reqs": {"k": {"id": "x"}}, "b": 3})
    );
    let _ = std::fs::remove_dir_all(&dir);
}
