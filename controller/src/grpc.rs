//! The agents' side door: the gRPC service agents dial into (`AgentLink.Link`). It registers
//! an agent, keeps its stream, and hands every message to the coordinator.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use volley_proto as pb;
use volley_proto::agent_link_server::{AgentLink, AgentLinkServer};

use crate::coordinator::{now_rfc3339, Coordinator};

/// Largest outbound queue per agent; a slower agent is disconnected rather than buffered forever.
const AGENT_QUEUE: usize = 4096;

pub struct LinkService {
    co: Arc<Coordinator>,
    /// Join token agents must present, when set.
    token: Option<String>,
}

impl LinkService {
    pub fn server(co: Arc<Coordinator>, token: Option<String>) -> AgentLinkServer<LinkService> {
        AgentLinkServer::new(LinkService { co, token })
            .max_decoding_message_size(pb::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(pb::MAX_MESSAGE_BYTES)
    }
}

fn refused(reason: String) -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(pb::controller_message::Body::Refused(pb::Refused {
            reason,
        })),
    }
}

#[tonic::async_trait]
impl AgentLink for LinkService {
    type LinkStream = ReceiverStream<Result<pb::ControllerMessage, Status>>;

    async fn link(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before Register"))?;
        let (out_tx, out_rx) = mpsc::channel::<Result<pb::ControllerMessage, Status>>(AGENT_QUEUE);
        let reg = match first.body {
            Some(pb::agent_message::Body::Register(r)) => r,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be Register",
                ))
            }
        };
        let refuse = |why: String| {
            let tx = out_tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(Ok(refused(why))).await;
            });
        };
        if first.version != pb::PROTOCOL_VERSION {
            refuse(format!(
                "protocol version {} is not supported; this controller speaks {}",
                first.version,
                pb::PROTOCOL_VERSION
            ));
            return Ok(Response::new(ReceiverStream::new(out_rx)));
        }
        // Names and labels reach operators' terminals: plain characters only, bounded.
        if let Err(e) = volley_common::names::check_agent_name(&reg.name)
            .and_then(|()| volley_common::names::check_labels(reg.labels.iter()))
        {
            refuse(e.to_string());
            return Ok(Response::new(ReceiverStream::new(out_rx)));
        }
        if let Some(t) = &self.token {
            if &reg.token != t {
                refuse("invalid join token (--token / VOLLEY_TOKEN)".into());
                return Ok(Response::new(ReceiverStream::new(out_rx)));
            }
        }
        // The registry holds a plain sender of messages; wrap them into stream items here.
        let (tx, mut rx) = mpsc::channel::<pb::ControllerMessage>(AGENT_QUEUE);
        {
            let out = out_tx.clone();
            tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if out.send(Ok(m)).await.is_err() {
                        return;
                    }
                }
            });
        }
        let name = reg.name.clone();
        let conn = self.co.registry.register(&reg, tx.clone(), now_rfc3339());
        tracing::info!(agent = %name, labels = ?reg.labels, max_vus = reg.max_vus, "agent registered");
        let _ = tx
            .send(pb::ControllerMessage {
                version: pb::PROTOCOL_VERSION,
                body: Some(pb::controller_message::Body::Registered(pb::Registered {
                    agent_id: format!("{name}#{conn}"),
                    heartbeat_interval_ms: 1000,
                })),
            })
            .await;
        if reg.resume_run_id != 0 {
            // The agent reconnects during a run it is part of: keep it busy with that run.
            self.co.reattach(&name, reg.resume_run_id);
        }
        self.co.kick();
        let co = self.co.clone();
        let keepalive = tx.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(m)) => {
                        let Some(body) = m.body else { continue };
                        if let pb::agent_message::Body::Heartbeat(h) = &body {
                            co.registry.heartbeat(&name, conn, *h);
                            // Every heartbeat is answered, so the agent's dead-man switch hears
                            // from the controller at least once a second.
                            let _ = keepalive.try_send(pb::ControllerMessage {
                                version: pb::PROTOCOL_VERSION,
                                body: Some(pb::controller_message::Body::Ack(pb::Ack {
                                    run_id: 0,
                                    batch_seq: 0,
                                })),
                            });
                        }
                        co.on_agent_message(&name, body);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(agent = %name, "agent stream error: {e}");
                        break;
                    }
                }
            }
            if let Some(run) = co.registry.remove(&name, conn) {
                tracing::warn!(agent = %name, "agent disconnected");
                co.on_agent_gone(&name, run);
            }
        });
        Ok(Response::new(ReceiverStream::new(out_rx)))
    }
}
