//! The agents' side door: the gRPC service agents dial into (`AgentLink.Link`). It registers
//! an agent (join token, name rules, with mTLS its certificate's name, the registry's identity
//! check), keeps its stream, checks
//! its telemetry and hands every message to the coordinator, which checks the agent's
//! membership in the run it names. Registrations and refusals are audit lines.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, Streaming};
use volley_proto as pb;
use volley_proto::agent_link_server::{AgentLink, AgentLinkServer};

use crate::audit::AUDIT;
use crate::coordinator::{now_rfc3339, Coordinator};
use crate::link_limits;
use crate::link_out::{self, Outbound};
use crate::registry::Overflow;

/// Largest outbound queue per agent; an agent that reads none of it is disconnected rather
/// than buffered forever ([`Overflow`]).
const AGENT_QUEUE: usize = 4096;

/// Logs a message of `agent` that was dropped, within its link's bound of warnings
/// ([`link_limits::Warnings`]): `message dropped: WHY`, with the run it named.
fn dropped(
    warnings: &mut link_limits::Warnings,
    agent: &str,
    run: Option<u64>,
    why: std::fmt::Arguments<'_>,
) {
    if let link_limits::Warn::Write { held_back } = warnings.check(Instant::now()) {
        let note = link_limits::held_back_note(held_back);
        match run {
            Some(run) => {
                tracing::warn!(target: AUDIT, agent, run, "message dropped: {why}{note}")
            }
            None => tracing::warn!(target: AUDIT, agent, "message dropped: {why}{note}"),
        }
    }
}

pub struct LinkService {
    co: Arc<Coordinator>,
    /// Join token agents must present, when set.
    token: Option<String>,
    /// Whether agents present client certificates (`--client-ca`): then an agent's name must be
    /// its certificate's.
    mtls: bool,
}

impl LinkService {
    pub fn server(
        co: Arc<Coordinator>,
        token: Option<String>,
        mtls: bool,
    ) -> AgentLinkServer<LinkService> {
        AgentLinkServer::new(LinkService { co, token, mtls })
            .max_decoding_message_size(pb::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(pb::MAX_MESSAGE_BYTES)
    }
}

/// Why an agent cannot link here, when this controller does not lead its Raft group.
fn not_leader(leadership: &crate::store::Leadership) -> Option<String> {
    use crate::store::Leadership;
    match leadership {
        Leadership::Here => None,
        Leadership::Elsewhere { id, api } => Some(format!(
            "this controller is a follower; node {id} is the Raft leader (its REST API: {}): \
             give the agent every controller's gRPC URL in --controller, it links to the leader",
            api.as_deref().unwrap_or("not known yet")
        )),
        Leadership::Unknown => Some(
            "this controller's Raft group has no leader yet: the agent retries; give it every \
             controller's gRPC URL in --controller"
                .into(),
        ),
    }
}

/// The answer to a heartbeat: an empty acknowledgement (the controller is there).
fn alive() -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(pb::controller_message::Body::Ack(pb::Ack {
            run_id: 0,
            batch_seq: 0,
        })),
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

/// Why a registration as `name` does not match the connection's client certificate, if it
/// does not. Without mTLS every name may register (the join token and the session secret
/// protect it).
fn certificate_mismatch(
    mtls: bool,
    peer: Option<&crate::grpc_listener::AgentPeer>,
    name: &str,
) -> Option<String> {
    if !mtls {
        return None;
    }
    match peer.and_then(|p| p.cert_name.as_deref()) {
        None => Some(
            "this controller identifies agents by their client certificate (--client-ca), and this connection presented none with a name (a CN or DNS name): start the agent with --cert and --key (`volley certs init` writes agent.crt)"
                .into(),
        ),
        Some(cert) if cert != name => Some(format!(
            "this agent's certificate is issued to `{cert}` but it registers as `{name}`: start it with --name {cert} (or leave --name out), or give it the certificate issued to `{name}`"
        )),
        Some(_) => None,
    }
}

#[tonic::async_trait]
impl AgentLink for LinkService {
    type LinkStream = Outbound;

    async fn link(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let request_peer = request
            .extensions()
            .get::<crate::grpc_listener::AgentPeer>()
            .cloned();
        // At the cap, connections that only spoke make room before this one
        // (`grpc_listener::Registered::asked`).
        if let Some(p) = &request_peer {
            p.registered.asked();
        }
        // Only the Raft leader drives runs: an agent of a follower is sent on (docs/ha.md).
        if let Some(why) = not_leader(&self.co.db.leadership()) {
            return Err(Status::unavailable(why));
        }
        if !self.co.is_driving() {
            return Err(Status::unavailable(
                "this controller just became the Raft leader and is resuming the runs in \
                 progress: the agent retries",
            ));
        }
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("the stream ended before Register"))?;
        // One queue for everything the agent is sent: the runs' messages (through the
        // registry) and this stream's own answers.
        let (tx, out) = link_out::channel(AGENT_QUEUE);
        let reg = match first.body {
            Some(pb::agent_message::Body::Register(r)) => r,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be Register",
                ))
            }
        };
        let peer = request_peer
            .as_ref()
            .and_then(|p| p.addr)
            .map_or_else(|| "unknown".to_string(), |p| p.to_string());
        // The name as the log may show it: checked yet or not, an unauthenticated peer chose
        // it, and a refused one can be megabytes of terminal escapes.
        let shown = if volley_common::names::check_agent_name(&reg.name).is_ok() {
            std::borrow::Cow::Borrowed(reg.name.as_str())
        } else {
            std::borrow::Cow::Owned(volley_common::text::quoted(&reg.name))
        };
        let refuse = |why: String| {
            tracing::warn!(target: AUDIT, agent = %shown, %peer, "agent refused: {why}");
            let _ = tx.try_send(refused(why));
        };
        if first.version != pb::PROTOCOL_VERSION {
            refuse(format!(
                "protocol version {} is not supported; this controller speaks {}",
                first.version,
                pb::PROTOCOL_VERSION
            ));
            return Ok(Response::new(out));
        }
        // Names and labels reach operators' terminals: plain characters only, bounded.
        if let Err(e) = volley_common::names::check_agent_name(&reg.name)
            .and_then(|()| volley_common::names::check_labels(reg.labels.iter()))
        {
            refuse(e.to_string());
            return Ok(Response::new(out));
        }
        // What it says of its host must be possible for one machine.
        if let Err(why) = crate::registry::check_register(&reg) {
            refuse(why);
            return Ok(Response::new(out));
        }
        // With mTLS the agent is who its certificate says (docs/security.md#tls).
        if let Some(why) = certificate_mismatch(self.mtls, request_peer.as_ref(), &reg.name) {
            refuse(why);
            return Ok(Response::new(out));
        }
        if let Some(t) = &self.token {
            if !crate::secret::matches(&reg.token, t) {
                refuse("invalid join token (--token / VOLLEY_TOKEN)".into());
                return Ok(Response::new(out));
            }
        }
        let name = reg.name.clone();
        let (close, mut closed) = oneshot::channel::<Overflow>();
        let admitted = match self
            .co
            .registry
            .register(&reg, tx.clone(), now_rfc3339(), close)
        {
            Ok(a) => a,
            Err(why) => {
                refuse(why);
                return Ok(Response::new(out));
            }
        };
        let conn = admitted.conn;
        // The connection has an agent now: it may stay past the handshake timeout
        // (`grpc_listener::Registered`).
        if let Some(p) = &request_peer {
            p.registered.set();
        }
        let closer = request_peer.as_ref().map(|p| p.closer.clone());
        tracing::info!(target: AUDIT, agent = %name, %peer, labels = ?reg.labels, max_vus = reg.max_vus, replaced = admitted.replaced, "agent registered");
        let _ = tx
            .send(pb::ControllerMessage {
                version: pb::PROTOCOL_VERSION,
                body: Some(pb::controller_message::Body::Registered(pb::Registered {
                    agent_id: format!("{name}#{conn}"),
                    heartbeat_interval_ms: 1000,
                    session_secret: admitted.session_secret,
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
        let last_sent = out.last_sent();
        let answer_after = link_out::answer_after(reg.orphan_after_ms);
        tokio::spawn(async move {
            // What this link may cost beyond its batches (`link_limits`).
            let mut heartbeats = link_limits::Heartbeats::new(Instant::now());
            let mut warnings = link_limits::Warnings::new(Instant::now());
            // Tells the agent the controller is there; false when its queue is full.
            let answer = || !matches!(keepalive.try_send(alive()), Err(TrySendError::Full(_)));
            loop {
                let next = tokio::select! {
                    m = inbound.message() => m,
                    c = &mut closed => match c {
                        Ok(Overflow) => break,
                        Err(_) => {
                            tracing::info!(target: AUDIT, agent = %name, conn, "connection closed: the same agent registered again");
                            return;
                        }
                    },
                };
                match next {
                    Ok(Some(m)) => {
                        // Every message speaks the protocol the stream registered with.
                        if m.version != pb::PROTOCOL_VERSION {
                            dropped(
                                &mut warnings,
                                &name,
                                None,
                                format_args!(
                                    "protocol version {} is not {}, the version of this stream",
                                    m.version,
                                    pb::PROTOCOL_VERSION
                                ),
                            );
                            continue;
                        }
                        let Some(body) = m.body else { continue };
                        if let pb::agent_message::Body::Heartbeat(h) = &body {
                            if !heartbeats.admit(Instant::now()) {
                                dropped(&mut warnings, &name, None, format_args!("heartbeat past the rate: more than {} a second on average (an agent sends one)", link_limits::HEARTBEATS_PER_SECOND));
                                continue;
                            }
                            let telemetry = crate::registry::check_telemetry(h);
                            match &telemetry {
                                Ok(()) => co.registry.heartbeat(&name, conn, *h),
                                Err(why) => {
                                    if let link_limits::Warn::Write { held_back } =
                                        warnings.check(Instant::now())
                                    {
                                        tracing::warn!(target: AUDIT, agent = %name, "heartbeat dropped: {why}{}", link_limits::held_back_note(held_back));
                                    }
                                }
                            }
                            // A heartbeat is answered when the agent heard nothing else lately,
                            // so its dead-man switch hears from the controller well in time
                            // without a write per heartbeat (`link_out::answer_after`).
                            if last_sent.needs_answer(Instant::now(), answer_after) && !answer() {
                                break;
                            }
                            if telemetry.is_err() {
                                continue;
                            }
                        }
                        // While the run's queue is full this waits (the agent is slowed by
                        // flow control), still telling the agent the controller is there.
                        let waiting = || {
                            let _ = answer();
                        };
                        match co.on_agent_message(&name, body, waiting).await {
                            Ok(None) => {}
                            Ok(Some(d)) => dropped(
                                &mut warnings,
                                &name,
                                Some(d.run),
                                format_args!("{}", d.why),
                            ),
                            Err(why) => {
                                tracing::warn!(agent = %name, "{why}");
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(agent = %name, "agent stream error: {e}");
                        break;
                    }
                }
            }
            if keepalive.capacity() == 0 {
                // Its queue is full: the agent reads none of what it is sent. Its connection
                // goes too, so that nothing more is queued for it (`grpc_listener::Closer`).
                tracing::warn!(target: AUDIT, agent = %name, conn, "closing the link: the agent read none of the last {AGENT_QUEUE} messages sent to it; it reconnects and replays what was not acknowledged");
                if let Some(c) = &closer {
                    c.close("its agent read none of the messages sent to it");
                }
            }
            let held_back = warnings.held_back();
            if held_back > 0 {
                tracing::warn!(target: AUDIT, agent = %name, "{held_back} more dropped messages of this agent were not logged (at most one a second after {} lines)", link_limits::WARNING_BURST);
            }
            if let Some(run) = co.registry.remove(&name, conn) {
                tracing::warn!(agent = %name, "agent disconnected");
                co.on_agent_gone(&name, run).await;
            }
        });
        Ok(Response::new(out))
    }
}

#[cfg(test)]
mod tests;
