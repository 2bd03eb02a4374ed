//! `saker server`: run the server, and the administrator's offline tools on
//! its store (enroll an agent, issue a token, add an account) — run on the
//! server's machine, with the same `--data-dir`/`--database`.

use anyhow::{Context, Result, bail};
use saker_server::ServerConfig;
use saker_store::{Store, TokenKind};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    command: Option<ServerCommand>,
    #[command(flatten)]
    opts: ServerOpts,
}

#[derive(clap::Args, Clone)]
pub struct ServerOpts {
    /// Configuration file with a `[server]` table (flags override it).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Where the embedded store, the certificate and export files live.
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The store: `sqlite:PATH` or `postgres://user@host/db`.
    #[arg(long, value_name = "URL", global = true)]
    database: Option<String>,
    /// Console and REST API address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// gRPC address for agents.
    #[arg(long, value_name = "ADDR")]
    grpc_listen: Option<SocketAddr>,
}

#[derive(clap::Subcommand)]
enum ServerCommand {
    /// Issue an agent token for an account (prints it once).
    Enroll {
        /// The account's 12-digit id, or `admin`.
        #[arg(long)]
        account: String,
        /// A name to recognise the token by (e.g. the host or cluster).
        #[arg(long, default_value = "agent")]
        name: String,
    },
    /// Issue an API token (people, CLI, console) for an account.
    Token {
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Create a member account and print its id.
    Account {
        /// The account's name.
        name: String,
    },
}

impl ServerOpts {
    pub fn resolve(&self) -> Result<ServerConfig> {
        let mut cfg = match &self.config {
            Some(p) => ServerConfig::load(p)?,
            None => ServerConfig::default(),
        };
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(db) = &self.database {
            cfg.database = Some(db.clone());
        }
        if let Some(a) = self.listen {
            cfg.listen = a;
        }
        if let Some(a) = self.grpc_listen {
            cfg.grpc_listen = a;
        }
        Ok(cfg)
    }
}

pub fn run(args: ServerArgs) -> Result<()> {
    let cfg = args.opts.resolve()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        match args.command {
            None => serve(cfg).await,
            Some(ServerCommand::Enroll { account, name }) => issue(&cfg, &account, TokenKind::Agent, &name).await,
            Some(ServerCommand::Token { account, name }) => issue(&cfg, &account, TokenKind::Api, &name).await,
            Some(ServerCommand::Account { name }) => {
                let store = Store::open(&cfg.database_url()).await?;
                store.admin_account().await?;
                let a = store.create_account(&name).await?;
                println!("{}", a.id);
                Ok(())
            }
        }
    })
}

async fn serve(cfg: ServerConfig) -> Result<()> {
    let running = saker_server::start(cfg).await.context("starting the server")?;
    println!("Saker server: console and API at {}", running.http_url);
    // The bound address (a `:0` listen resolved): what agents' `[server] url` names.
    println!("Saker server: agents connect to https://{} (gRPC over TLS)", running.grpc_addr);
    wait_for_signal().await;
    running.shutdown().await;
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without handlers, the default action (exit) applies anyway.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn issue(cfg: &ServerConfig, account: &str, kind: TokenKind, name: &str) -> Result<()> {
    let store = Store::open(&cfg.database_url()).await?;
    let admin = store.admin_account().await?;
    let account_id = if account == "admin" { admin.id } else { account.to_owned() };
    if store.account(&account_id).await?.is_none() {
        bail!("no account {account_id:?} (`saker server account NAME` creates one)");
    }
    let (_, token) = store.issue_token(&account_id, kind, name).await?;
    println!("{token}");
    Ok(())
}
