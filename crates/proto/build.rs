//! Generates the gRPC code for `proto/saker/agent/v1/agent.proto` into
//! `OUT_DIR` (never into the source tree). Needs `protoc` (Debian's
//! `protobuf-compiler`), or `PROTOC` naming one.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/saker/agent/v1/agent.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-env-changed=PROTOC");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The rpc is named `Connect`: tonic's generated `connect(dst)`
        // constructor would clash with it. Clients build a `Channel`
        // themselves (the agent pins the server certificate) and call
        // `AgentServiceClient::new(channel)`.
        .build_transport(false)
        .compile_protos(&[proto], &["proto"])?;
    Ok(())
}
