//! `connect(addr, { reflect: true })`: the server's service definitions, asked for with gRPC
//! server reflection (`grpc.reflection.v1`, the client of tonic-reflection) over the new
//! connection. Every service the server lists is resolved to its file and that file's imports,
//! as k6 does, so that `invoke` and streams find their methods without `.proto` files.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic::metadata::MetadataMap;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use super::conn::Conn;

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

async fn fetch(conn: &Conn, metadata: MetadataMap) -> Result<FileDescriptorSet, String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ServerReflectionRequest>();
    let mut client =
        ServerReflectionClient::new(conn.channel()).max_decoding_message_size(conn.max_receive());
    let mut req = tonic::Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
    *req.metadata_mut() = metadata;
    let ask = |m: MessageRequest| {
        tx.send(ServerReflectionRequest {
            host: String::new(),
            message_request: Some(m),
        })
        .map_err(|_| "the reflection stream closed".to_owned())
    };
    ask(MessageRequest::ListServices(String::new()))?;
    let mut answers = client
        .server_reflection_info(req)
        .await
        .map_err(|s| format!("can't list services: {}", s.message()))?
        .into_inner();
    let services = match next(&mut answers)
        .await
        .map_err(|e| format!("can't list services: {e}"))?
    {
        MessageResponse::ListServicesResponse(l) => l.service,
        MessageResponse::ErrorResponse(e) => {
            return Err(format!("can't list services: {}", e.error_message))
        }
        _ => return Err("can't list services: unexpected reflection answer".into()),
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
            ));
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
                ))
            }
            _ => {
                return Err(format!(
                    "can't get method descriptors of {what}: unexpected answer"
                ))
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

/// The next answer on the reflection stream.
async fn next(
    answers: &mut tonic::Streaming<ServerReflectionResponse>,
) -> Result<MessageResponse, String> {
    match answers.message().await {
        Ok(Some(ServerReflectionResponse {
            message_response: Some(r),
            ..
        })) => Ok(r),
        Ok(_) => Err("the server's reflection ended without an answer".to_owned()),
        Err(s) => Err(s.message().to_owned()),
    }
}
