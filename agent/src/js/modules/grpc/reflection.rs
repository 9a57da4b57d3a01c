//! `connect(addr, { reflect: true })`: the server's service definitions, asked for with gRPC
//! server reflection over the new connection: `grpc.reflection.v1`, or, when the server does
//! not know it, the older `grpc.reflection.v1alpha` (as k6 does; grpc-go servers before 1.57
//! have only that). Both speak the same messages (tonic-reflection's), so one exchange serves
//! both. Every service the server lists is resolved to its file and that file's imports, as
//! k6 does, so that `invoke` and streams find their methods without `.proto` files.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic::metadata::MetadataMap;
use tonic::Code;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use super::conn::{self, Conn, RawCodec};

/// The reflection services, newest first.
const SERVICES: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// At most this many files are fetched (a server's services and their imports).
const MAX_FILES: usize = 10_000;

/// Every file of the server's services and their imports.
pub async fn descriptors(
    conn: &Conn,
    metadata: MetadataMap,
    timeout: Duration,
) -> Result<FileDescriptorSet, String> {
    tokio::time::timeout(timeout, fetch(conn, metadata))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "can't list services: the server's reflection did not answer within {timeout:?} \
                 (connect's timeout)"
            ))
        })
}

/// Asks `v1`, then `v1alpha` if the server does not know `v1`.
async fn fetch(conn: &Conn, metadata: MetadataMap) -> Result<FileDescriptorSet, String> {
    match fetch_from(conn, metadata.clone(), SERVICES[0]).await {
        Err(Refused::Unimplemented(_)) => fetch_from(conn, metadata, SERVICES[1]).await,
        other => other,
    }
    .map_err(|r| match r {
        Refused::Unimplemented(text) | Refused::Other(text) => text,
    })
}

/// Why reflection failed; `Unimplemented` when the server does not know the service asked.
enum Refused {
    Unimplemented(String),
    Other(String),
}

impl From<String> for Refused {
    fn from(text: String) -> Self {
        Refused::Other(text)
    }
}

async fn fetch_from(
    conn: &Conn,
    metadata: MetadataMap,
    path: &'static str,
) -> Result<FileDescriptorSet, Refused> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    let mut client = conn::client(conn);
    let mut req = tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
    *req.metadata_mut() = metadata;
    let ask = |m: MessageRequest| {
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(m),
        };
        tx.send(req.encode_to_vec().into())
            .map_err(|_| "the reflection stream closed".to_owned())
    };
    ask(MessageRequest::ListServices(String::new()))?;
    let listing = |s: &tonic::Status| {
        let text = format!("can't list services: {}", rpc_error(s));
        if s.code() == Code::Unimplemented {
            Refused::Unimplemented(text)
        } else {
            Refused::Other(text)
        }
    };
    client
        .ready()
        .await
        .map_err(|e| format!("can't list services: {e}"))?;
    let path = http::uri::PathAndQuery::from_static(path);
    let mut answers = client
        .streaming(req, path, RawCodec)
        .await
        .map_err(|s| listing(&s))?
        .into_inner();
    let services = match next(&mut answers).await.map_err(|e| match e {
        Next::Status(s) => listing(&s),
        Next::Other(t) => Refused::Other(format!("can't list services: {t}")),
    })? {
        MessageResponse::ListServicesResponse(l) => l.service,
        MessageResponse::ErrorResponse(e) => {
            return Err(format!("can't list services: {}", e.error_message).into())
        }
        _ => {
            return Err("can't list services: unexpected reflection answer"
                .to_owned()
                .into())
        }
    };
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    let mut wanted: VecDeque<MessageRequest> = services
        .into_iter()
        .map(|s| MessageRequest::FileContainingSymbol(s.name))
        .collect();
    while let Some(q) = wanted.pop_front() {
        if files.len() >= MAX_FILES {
            return Err(format!(
                "the server's reflection lists more than {MAX_FILES} files; load .proto files \
                 instead"
            )
            .into());
        }
        let what = match &q {
            MessageRequest::FileContainingSymbol(s) => format!("symbol {s:?}"),
            MessageRequest::FileByFilename(f) => format!("file {f:?}"),
            _ => String::new(),
        };
        ask(q)?;
        let fds = match next(&mut answers)
            .await
            .map_err(|e| format!("can't get method descriptors of {what}: {e}"))?
        {
            MessageResponse::FileDescriptorResponse(f) => f.file_descriptor_proto,
            MessageResponse::ErrorResponse(e) => {
                return Err(format!(
                    "can't get method descriptors of {what}: {}",
                    e.error_message
                )
                .into())
            }
            _ => {
                return Err(
                    format!("can't get method descriptors of {what}: unexpected answer").into(),
                )
            }
        };
        for bytes in fds {
            let fd = FileDescriptorProto::decode(bytes.as_slice())
                .map_err(|e| format!("the server's reflection sent an invalid descriptor: {e}"))?;
            let name = fd.name.clone().unwrap_or_default();
            files.entry(name).or_insert(fd);
        }
        // Imports the server did not send along are asked for by name.
        for fd in files.values() {
            for dep in &fd.dependency {
                let asked = wanted
                    .iter()
                    .any(|w| matches!(w, MessageRequest::FileByFilename(f) if f == dep));
                if !files.contains_key(dep) && !asked {
                    wanted.push_back(MessageRequest::FileByFilename(dep.clone()));
                }
            }
        }
    }
    drop(tx);
    Ok(FileDescriptorSet {
        file: files.into_values().collect(),
    })
}

/// Why no answer came.
enum Next {
    Status(tonic::Status),
    Other(String),
}

impl std::fmt::Display for Next {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Next::Status(s) => f.write_str(&rpc_error(s)),
            Next::Other(t) => f.write_str(t),
        }
    }
}

/// The next answer on the reflection stream.
async fn next(answers: &mut tonic::Streaming<bytes::Bytes>) -> Result<MessageResponse, Next> {
    match answers.message().await {
        Ok(Some(bytes)) => match ServerReflectionResponse::decode(bytes) {
            Ok(ServerReflectionResponse {
                message_response: Some(r),
                ..
            }) => Ok(r),
            Ok(_) => Err(Next::Other(
                "the server's reflection sent an empty answer".to_owned(),
            )),
            Err(e) => Err(Next::Other(format!(
                "the server's reflection sent an invalid answer: {e}"
            ))),
        },
        Ok(None) => Err(Next::Other(
            "the server's reflection ended without an answer".to_owned(),
        )),
        Err(s) => Err(Next::Status(s)),
    }
}

/// A failed call as grpc-go words it for k6: `rpc error: code = Unimplemented desc = …`.
fn rpc_error(s: &tonic::Status) -> String {
    format!(
        "rpc error: code = {} desc = {}",
        conn::go_code_name(s.code()),
        s.message()
    )
}
