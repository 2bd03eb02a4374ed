//! Saker's agent ↔ server wire protocol: the `saker.agent.v1` gRPC package,
//! generated from `proto/saker/agent/v1/agent.proto` at build time.
//!
//! One long-lived bidirectional stream per agent (`AgentService.Connect`):
//! the agent sends [`Hello`] first, then [`FindingBatch`]es from its disk
//! spool, [`Heartbeat`]s and, when enabled, [`TelemetryBatch`]es; the server
//! answers [`Ack`]s (a batch is acknowledged only once it is committed in
//! the store), [`ListsUpdate`]s and [`AgentSettings`]. The `.proto` file
//! documents every field; field numbers are never reused (a test pins them).
//!
//! The rpc is named `Connect`, so the generated client has no
//! `connect(url)` constructor: build a `tonic::transport::Channel` (the agent
//! uses its own TLS that pins the server's certificate) and call
//! [`AgentServiceClient::new`]. Generated code lives in `OUT_DIR` only.
//!
//! The agent authenticates with the metadata header [`AUTHORIZATION`]
//! (`Bearer sk_agent_…`).

/// The generated messages, client and server of `saker.agent.v1`.
pub mod agent {
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::expect_used)]
    #![allow(missing_docs, unreachable_pub)]
    tonic::include_proto!("saker.agent.v1");
}

pub use agent::agent_message::Msg as AgentMsg;
pub use agent::agent_service_client::AgentServiceClient;
pub use agent::agent_service_server::{AgentService, AgentServiceServer};
pub use agent::server_message::Msg as ServerMsg;
pub use agent::{
    Ack, AgentMessage, AgentSettings, FindingBatch, Heartbeat, Hello, ListsUpdate, ServerMessage, TelemetryBatch,
    ThreatListBlob,
};

/// The metadata key that carries the agent's token (`Bearer sk_agent_…`).
pub const AUTHORIZATION: &str = "authorization";

/// The metadata value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Field numbers are the wire contract: this pins them (a tag byte is
    /// `field << 3 | wire type`; 0 varint, 2 length-delimited).
    #[test]
    fn field_numbers_are_the_contract() {
        let batch = FindingBatch { seq: 5, findings_json: vec![b"{}".to_vec()], run_id: "r".into() }.encode_to_vec();
        assert_eq!(batch, [0x08, 5, 0x12, 2, b'{', b'}', 0x1a, 1, b'r']);
        let hello = Hello {
            agent_id: "a".into(),
            run_id: "b".into(),
            agent_version: "c".into(),
            hostname: "d".into(),
            lists_version: 7,
        };
        assert_eq!(hello.encode_to_vec(), [0x0a, 1, b'a', 0x12, 1, b'b', 0x1a, 1, b'c', 0x22, 1, b'd', 0x28, 7]);
        let msg = AgentMessage { msg: Some(AgentMsg::Heartbeat(Heartbeat { seq: 1, heartbeat_json: b"x".to_vec() })) };
        assert_eq!(msg.encode_to_vec(), [0x1a, 5, 0x08, 1, 0x12, 1, b'x']);
        let msg = AgentMessage {
            msg: Some(AgentMsg::Telemetry(TelemetryBatch {
                seq: 2,
                events_json: vec![b"e".to_vec()],
                run_id: "r".into(),
                seqs: vec![2],
            })),
        };
        // seqs is packed (proto3 default for repeated scalars): tag 0x22, length 1, varint 2.
        assert_eq!(msg.encode_to_vec(), [0x22, 11, 0x08, 2, 0x12, 1, b'e', 0x1a, 1, b'r', 0x22, 1, 2]);
        let ack = ServerMessage { msg: Some(ServerMsg::Ack(Ack { seq: 9 })) };
        assert_eq!(ack.encode_to_vec(), [0x0a, 2, 0x08, 9]);
        let settings = AgentSettings { monitoring_enabled: true, reason: "x".into() };
        assert_eq!(settings.encode_to_vec(), [0x08, 1, 0x12, 1, b'x']);
        let blob = ThreatListBlob {
            name: "n".into(),
            kind: "k".into(),
            category: "c".into(),
            format: "f".into(),
            content: b"z".to_vec(),
        };
        let lists = ServerMessage { msg: Some(ServerMsg::Lists(ListsUpdate { version: 3, lists: vec![blob] })) };
        let bytes = lists.encode_to_vec();
        assert_eq!(bytes[..4], [0x12, 19, 0x08, 3]);
        assert_eq!(bytes[4..6], [0x12, 15]);
        assert_eq!(bytes[6..], [0x0a, 1, b'n', 0x12, 1, b'k', 0x1a, 1, b'c', 0x22, 1, b'f', 0x2a, 1, b'z']);
        let settings = ServerMessage { msg: Some(ServerMsg::Settings(AgentSettings::default())) };
        assert_eq!(settings.encode_to_vec(), [0x1a, 0]);
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer("sk_agent_x"), "Bearer sk_agent_x");
    }
}
