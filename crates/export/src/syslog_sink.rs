//! Syslog destination: RFC 5424 messages (`syslog.rs`) to `host:port`, one
//! UDP datagram per message, or over one TCP connection with RFC 6587
//! octet counting. The TCP connection is opened on first use and reopened
//! once per message after a write fails; a receiver that stays away costs
//! one connect timeout per delivery, counted as failures.

use crate::config::{SyslogConfig, Transport};
use crate::context::{ExportContext, ExportItem};
use crate::error::ExportError;
use crate::sink::{DeliveryReport, Sink, SinkFuture};
use crate::syslog::{self, Facility, UDP_MAX};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

enum Conn {
    None,
    Udp(UdpSocket),
    Tcp(TcpStream),
}

pub struct SyslogSink {
    name: String,
    address: String,
    transport: Transport,
    facility: Facility,
    ctx: ExportContext,
    conn: Mutex<Conn>,
}

impl SyslogSink {
    pub fn new(cfg: &SyslogConfig, ctx: ExportContext) -> Self {
        SyslogSink {
            name: cfg.name.clone(),
            address: cfg.address.clone(),
            transport: cfg.transport,
            facility: cfg.facility,
            ctx,
            conn: Mutex::new(Conn::None),
        }
    }

    fn net(&self, what: &'static str, source: std::io::Error) -> ExportError {
        ExportError::Net { what, peer: self.address.clone(), source }
    }

    async fn connect(&self) -> Result<Conn, ExportError> {
        let timeout = |_| self.net("connecting to", std::io::ErrorKind::TimedOut.into());
        match self.transport {
            Transport::Udp => {
                let target = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host(&self.address))
                    .await
                    .map_err(timeout)?
                    .map_err(|e| self.net("resolving", e))?
                    .next()
                    .ok_or_else(|| self.net("resolving", std::io::ErrorKind::NotFound.into()))?;
                let local = if target.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
                let sock = UdpSocket::bind(local).await.map_err(|e| self.net("binding a socket for", e))?;
                sock.connect(target).await.map_err(|e| self.net("connecting to", e))?;
                Ok(Conn::Udp(sock))
            }
            Transport::Tcp => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
                    .await
                    .map_err(timeout)?
                    .map_err(|e| self.net("connecting to", e))?;
                Ok(Conn::Tcp(stream))
            }
        }
    }

    /// Send one message; reconnect and try once more if the connection broke.
    async fn send(&self, conn: &mut Conn, msg: &str) -> Result<u32, ExportError> {
        if self.transport == Transport::Udp && msg.len() > UDP_MAX {
            return Err(ExportError::MessageTooLarge { size: msg.len(), limit: UDP_MAX });
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            if matches!(conn, Conn::None) {
                *conn = self.connect().await?;
            }
            let sent = match conn {
                Conn::Udp(s) => s.send(msg.as_bytes()).await.map(|_| ()),
                Conn::Tcp(s) => s.write_all(&syslog::octet_counted(msg)).await,
                Conn::None => Ok(()),
            };
            match sent {
                Ok(()) => return Ok(attempts),
                Err(e) => {
                    *conn = Conn::None;
                    if attempts >= 2 {
                        return Err(self.net("sending to", e));
                    }
                }
            }
        }
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "syslog"
    }

    fn deliver<'a>(&'a self, items: &'a [ExportItem]) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut report = DeliveryReport::new(&self.name, "syslog");
            let mut conn = self.conn.lock().await;
            for item in items {
                let sent = match syslog::message(item, &self.ctx, self.facility) {
                    Ok(msg) => self.send(&mut conn, &msg).await,
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(attempts) => {
                        report.delivered += 1;
                        report.retries += attempts - 1;
                    }
                    Err(e) => {
                        tracing::warn!(destination = %self.name, finding = %item.finding.id, error = %e, "syslog delivery failed");
                        report.failed += 1;
                        report.last_error = Some(e.to_string());
                    }
                }
            }
            if let Conn::Tcp(s) = &mut *conn
                && let Err(e) = s.flush().await
            {
                report.last_error = Some(self.net("flushing to", e).to_string());
                *conn = Conn::None;
            }
            report
        })
    }

    fn close(&self) -> SinkFuture<'_> {
        Box::pin(async move {
            let mut conn = self.conn.lock().await;
            if let Conn::Tcp(s) = &mut *conn {
                let _ = s.shutdown().await;
            }
            *conn = Conn::None;
            DeliveryReport::new(&self.name, "syslog")
        })
    }
}
