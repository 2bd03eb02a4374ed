//! The machine the agent runs on: hostname, machine id and, on EC2 when the
//! configuration asks for it, the instance id.
//!
//! The instance id comes from the EC2 instance metadata service (IMDSv2). It
//! is consulted only when both hold: the configuration enables it
//! ([`HostConfig::ec2_imds`], off by default) and DMI/hypervisor data say the
//! machine is an EC2 instance ([`looks_like_ec2`]). Elsewhere nothing is sent
//! to the IMDS address: on other clouds it may belong to a different service,
//! and on a laptop the connection would just hang until the timeout.
//! Any IMDS failure leaves the instance id unknown (logged at debug).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use saker_model::Host;
use serde::Deserialize;

use crate::http::{self, HttpError};

/// The IMDS address (IPv4 link-local).
pub const IMDS_BASE_URL: &str = "http://169.254.169.254";

/// Lifetime asked for the IMDSv2 session token (the documented maximum, 6 h);
/// we use it once, the value only has to be valid.
const IMDS_TOKEN_TTL_SECONDS: &str = "21600";

/// Largest IMDS response accepted (the identity document is under 1 KiB).
const MAX_IMDS_BODY: usize = 64 * 1024;

/// Largest file read for hostname, machine id or DMI strings.
const MAX_SMALL_FILE: u64 = 4096;

/// Why the instance identity could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("IMDS request failed: {0}")]
    Http(#[from] HttpError),
    #[error("IMDS returned an unusable session token")]
    BadToken,
    #[error("IMDS instance identity document is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("IMDS returned an implausible instance id {0:?}")]
    BadInstanceId(String),
}

/// Where to look and what is allowed. Paths are injectable so tests can fake
/// a machine (including an EC2 one) without touching the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Root of the file system holding `etc/machine-id` (normally `/`).
    pub root: PathBuf,
    /// procfs mount (normally `/proc`), for `sys/kernel/hostname`.
    pub proc_root: PathBuf,
    /// sysfs mount (normally `/sys`), for the DMI and hypervisor checks.
    pub sys_root: PathBuf,
    /// Ask IMDS for the instance id when the machine looks like EC2. Off by
    /// default: contacting IMDS must be asked for explicitly.
    pub ec2_imds: bool,
    /// IMDS base URL (tests point it at a loopback fixture).
    pub imds_base_url: String,
    /// Per-request timeout for IMDS.
    pub imds_timeout: Duration,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            root: PathBuf::from("/"),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            ec2_imds: false,
            imds_base_url: IMDS_BASE_URL.to_string(),
            imds_timeout: Duration::from_secs(1),
        }
    }
}

/// What we know about this machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostIdentity {
    pub hostname: String,
    pub machine_id: Option<String>,
    pub ec2_instance_id: Option<String>,
    /// From the same instance identity document; not in the model yet.
    pub ec2_region: Option<String>,
    pub ec2_availability_zone: Option<String>,
}

impl HostIdentity {
    /// This machine, with the default configuration: IMDS is not contacted.
    pub fn detect() -> HostIdentity {
        HostIdentity::detect_with(&HostConfig::default())
    }

    /// This machine as `config` describes where to look. Blocks for up to
    /// 4 × `imds_timeout` when IMDS is enabled and the machine looks like EC2
    /// (connect and exchange, for the token and for the document).
    pub fn detect_with(config: &HostConfig) -> HostIdentity {
        let mut identity = HostIdentity {
            hostname: read_hostname(&config.proc_root),
            machine_id: read_machine_id(&config.root),
            ..HostIdentity::default()
        };
        if config.ec2_imds && looks_like_ec2(&config.sys_root) {
            match fetch_instance_identity(&config.imds_base_url, config.imds_timeout) {
                Ok(doc) => {
                    identity.ec2_instance_id = Some(doc.instance_id);
                    identity.ec2_region = doc.region;
                    identity.ec2_availability_zone = doc.availability_zone;
                }
                Err(e) => tracing::debug!(error = %e, "EC2 instance identity unavailable"),
            }
        }
        identity
    }

    /// The model's view.
    pub fn to_host(&self) -> Host {
        Host {
            hostname: self.hostname.clone(),
            machine_id: self.machine_id.clone(),
            ec2_instance_id: self.ec2_instance_id.clone(),
        }
    }
}

impl From<HostIdentity> for Host {
    fn from(identity: HostIdentity) -> Host {
        Host { hostname: identity.hostname, machine_id: identity.machine_id, ec2_instance_id: identity.ec2_instance_id }
    }
}

fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_SMALL_FILE).read_to_string(&mut text)).ok()?;
    Some(text)
}

/// The hostname of the agent's UTS namespace: `sys/kernel/hostname` under
/// `proc_root`, else `gethostname(2)`, else `"unknown"`.
pub fn read_hostname(proc_root: &Path) -> String {
    read_small(&proc_root.join("sys/kernel/hostname"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(gethostname)
        .unwrap_or_else(|| "unknown".to_string())
}

fn gethostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call;
    // gethostname writes at most `len` bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    // Truncated names may lack the NUL; take what is there.
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The systemd/D-Bus machine id under `root`: `etc/machine-id`, else
/// `var/lib/dbus/machine-id`. Only a well-formed id (32 hex digits) counts;
/// early in boot the file may hold `uninitialized` or be empty.
pub fn read_machine_id(root: &Path) -> Option<String> {
    ["etc/machine-id", "var/lib/dbus/machine-id"].iter().find_map(|rel| {
        let text = read_small(&root.join(rel))?;
        let id = text.trim();
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
    })
}

/// Whether DMI or the hypervisor (under `sys_root`, normally `/sys`) say this
/// is an EC2 instance: Nitro instances report `Amazon EC2` as system or board
/// vendor; Xen-based ones have a hypervisor UUID starting with `ec2`.
pub fn looks_like_ec2(sys_root: &Path) -> bool {
    let vendor =
        |name: &str| read_small(&sys_root.join("class/dmi/id").join(name)).is_some_and(|v| v.contains("Amazon EC2"));
    let xen_uuid = read_small(&sys_root.join("hypervisor/uuid"))
        .is_some_and(|u| u.trim().get(..3).is_some_and(|p| p.eq_ignore_ascii_case("ec2")));
    vendor("sys_vendor") || vendor("board_vendor") || xen_uuid
}

/// The parts of the EC2 instance identity document we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceIdentity {
    pub instance_id: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
}

/// IMDSv2: `PUT {base}/latest/api/token`, then
/// `GET {base}/latest/dynamic/instance-identity/document` with the token.
/// No IMDSv1 fallback: instances that require v2 refuse it anyway, and one
/// path is one thing to get right.
pub fn fetch_instance_identity(base_url: &str, timeout: Duration) -> Result<InstanceIdentity, HostError> {
    let base = base_url.trim_end_matches('/');
    let token = http::request(
        "PUT",
        &format!("{base}/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL_SECONDS)],
        timeout,
        MAX_IMDS_BODY,
    )?;
    let token = std::str::from_utf8(&token).map_err(|_| HostError::BadToken)?.trim();
    // The token goes back into a header: printable ASCII without spaces only
    // (the HTTP client refuses CR/LF too; this also rejects empty and junk).
    if token.is_empty() || token.len() > 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HostError::BadToken);
    }
    let document = http::request(
        "GET",
        &format!("{base}/latest/dynamic/instance-identity/document"),
        &[("X-aws-ec2-metadata-token", token)],
        timeout,
        MAX_IMDS_BODY,
    )?;
    let identity: InstanceIdentity = serde_json::from_slice(&document)?;
    let plausible = identity
        .instance_id
        .strip_prefix("i-")
        .is_some_and(|rest| !rest.is_empty() && rest.len() <= 32 && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !plausible {
        return Err(HostError::BadInstanceId(identity.instance_id));
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs_metadata::fixture::{self, Request};
    use std::fs;

    const TOKEN: &str = "AQAEAFTNrA4eEGx0AQgJ1arIq_Cc-t4tWt3fB0Hd8RKhXlKc5ccvhg==";

    /// A stand-in for IMDSv2: a token for a PUT with the TTL header, the
    /// identity document only for a GET carrying that token.
    fn imds(document: &'static str) -> fixture::Server {
        fixture::Server::start(move |req: &Request| match (req.method.as_str(), req.path.as_str()) {
            ("PUT", "/latest/api/token") if req.header("X-aws-ec2-metadata-token-ttl-seconds") == Some("21600") => {
                fixture::response(200, "text/plain", TOKEN.as_bytes())
            }
            ("PUT", "/latest/api/token") => fixture::response(400, "text/plain", b"missing ttl"),
            ("GET", "/latest/dynamic/instance-identity/document")
                if req.header("X-aws-ec2-metadata-token") == Some(TOKEN) =>
            {
                fixture::response(200, "text/plain", document.as_bytes())
            }
            ("GET", _) => fixture::response(401, "text/plain", b""),
            _ => fixture::response(405, "text/plain", b""),
        })
        .unwrap()
    }

    const DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "eu-west-1b",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "m6i.large",
  "kernelId" : null,
  "pendingTime" : "2025-03-14T09:00:00Z",
  "privateIp" : "10.0.1.23",
  "ramdiskId" : null,
  "region" : "eu-west-1",
  "version" : "2017-09-30"
}"#;

    struct FakeMachine {
        dir: tempfile::TempDir,
    }

    impl FakeMachine {
        fn new() -> FakeMachine {
            let dir = tempfile::tempdir().unwrap();
            for sub in ["root/etc", "root/var/lib/dbus", "proc/sys/kernel", "sys/class/dmi/id", "sys/hypervisor"] {
                fs::create_dir_all(dir.path().join(sub)).unwrap();
            }
            FakeMachine { dir }
        }

        fn write(&self, rel: &str, text: &str) -> &FakeMachine {
            fs::write(self.dir.path().join(rel), text).unwrap();
            self
        }

        fn sys(&self) -> PathBuf {
            self.dir.path().join("sys")
        }

        fn config(&self, imds_base_url: &str) -> HostConfig {
            HostConfig {
                root: self.dir.path().join("root"),
                proc_root: self.dir.path().join("proc"),
                sys_root: self.sys(),
                ec2_imds: true,
                imds_base_url: imds_base_url.to_string(),
                imds_timeout: Duration::from_millis(500),
            }
        }
    }

    #[test]
    fn detect_on_this_machine_does_not_contact_imds() {
        // The default configuration never asks IMDS, EC2 or not: no network.
        assert!(!HostConfig::default().ec2_imds);
        let identity = HostIdentity::detect();
        assert_eq!(identity.ec2_instance_id, None);
        assert!(!identity.hostname.is_empty());
        let host = identity.to_host();
        assert_eq!(host.hostname, identity.hostname);
    }

    #[test]
    fn no_imds_request_without_ec2_markers() {
        let server = imds(DOCUMENT);
        let machine = FakeMachine::new();
        machine.write("sys/class/dmi/id/sys_vendor", "QEMU\n").write("sys/hypervisor/uuid", "a1b2c3d4\n");
        let identity = HostIdentity::detect_with(&machine.config(&server.base_url()));
        assert_eq!(identity.ec2_instance_id, None);
        assert_eq!(server.requests(), 0);
    }

    #[test]
    fn no_imds_request_when_not_enabled_even_on_ec2() {
        let server = imds(DOCUMENT);
        let machine = FakeMachine::new();
        machine.write("sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
        let config = HostConfig { ec2_imds: false, ..machine.config(&server.base_url()) };
        assert_eq!(HostIdentity::detect_with(&config).ec2_instance_id, None);
        assert_eq!(server.requests(), 0);
    }

    #[test]
    fn instance_id_from_imdsv2_on_ec2() {
        let server = imds(DOCUMENT);
        let machine = FakeMachine::new();
        machine
            .write("sys/class/dmi/id/board_vendor", "Amazon EC2\n")
            .write("proc/sys/kernel/hostname", "ip-10-0-1-23.eu-west-1.compute.internal\n")
            .write("root/etc/machine-id", "0123456789ABCDEF0123456789abcdef\n");
        let identity = HostIdentity::detect_with(&machine.config(&server.base_url()));
        assert_eq!(
            identity,
            HostIdentity {
                hostname: "ip-10-0-1-23.eu-west-1.compute.internal".into(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                ec2_instance_id: Some("i-0123456789abcdef0".into()),
                ec2_region: Some("eu-west-1".into()),
                ec2_availability_zone: Some("eu-west-1b".into()),
            }
        );
        // Token, then document.
        assert_eq!(server.requests(), 2);
        assert_eq!(
            Host::from(identity),
            Host {
                hostname: "ip-10-0-1-23.eu-west-1.compute.internal".into(),
                machine_id: Some("0123456789abcdef0123456789abcdef".into()),
                ec2_instance_id: Some("i-0123456789abcdef0".into()),
            }
        );
    }

    #[test]
    fn imds_failures_are_quiet_nones() {
        let machine = FakeMachine::new();
        machine.write("sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n");

        // Refused connection.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let identity = HostIdentity::detect_with(&machine.config(&format!("http://127.0.0.1:{port}")));
        assert_eq!(identity.ec2_instance_id, None);

        // Token refused (IMDSv2 required but the PUT fails), bad document,
        // implausible id, unusable token.
        let refusing = fixture::Server::start(|_| fixture::response(403, "text/plain", b"")).unwrap();
        let bad_json = imds("{\"instanceId\": ");
        let bad_id = imds(r#"{"instanceId": "x\r\nfoo"}"#);
        let bad_token = fixture::Server::start(|_| fixture::response(200, "text/plain", b"two words")).unwrap();
        for server in [&refusing, &bad_json, &bad_id, &bad_token] {
            let identity = HostIdentity::detect_with(&machine.config(&server.base_url()));
            assert_eq!(identity.ec2_instance_id, None);
            assert!(server.requests() >= 1);
        }
        assert!(matches!(
            fetch_instance_identity(&refusing.base_url(), Duration::from_millis(500)),
            Err(HostError::Http(HttpError::Status { status: 403, .. }))
        ));
        assert!(matches!(
            fetch_instance_identity(&bad_json.base_url(), Duration::from_millis(500)),
            Err(HostError::Json(_))
        ));
        assert!(matches!(
            fetch_instance_identity(&bad_id.base_url(), Duration::from_millis(500)),
            Err(HostError::BadInstanceId(_))
        ));
        assert!(matches!(
            fetch_instance_identity(&bad_token.base_url(), Duration::from_millis(500)),
            Err(HostError::BadToken)
        ));
    }

    #[test]
    fn ec2_detection() {
        let cases: &[(&str, &str, bool)] = &[
            ("sys/class/dmi/id/sys_vendor", "Amazon EC2\n", true),
            ("sys/class/dmi/id/board_vendor", "Amazon EC2\n", true),
            ("sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n", true),
            ("sys/hypervisor/uuid", "EC2E1916-9099-7CAF-FD21-012345ABCDEF\n", true),
            ("sys/class/dmi/id/sys_vendor", "QEMU\n", false),
            ("sys/class/dmi/id/sys_vendor", "Amazon\n", false),
            ("sys/hypervisor/uuid", "4c4c4544-0000-1000-8000-000000000000\n", false),
        ];
        for (rel, text, expected) in cases {
            let machine = FakeMachine::new();
            machine.write(rel, text);
            assert_eq!(looks_like_ec2(&machine.sys()), *expected, "{rel}: {text:?}");
        }
        assert!(!looks_like_ec2(&FakeMachine::new().sys()));
        assert!(!looks_like_ec2(Path::new("/nonexistent")));
    }

    #[test]
    fn machine_id_and_hostname() {
        let machine = FakeMachine::new();
        let root = machine.dir.path().join("root");
        assert_eq!(read_machine_id(&root), None);
        machine.write("root/var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210\n");
        assert_eq!(read_machine_id(&root).as_deref(), Some("fedcba9876543210fedcba9876543210"));
        // /etc/machine-id wins, but only when well-formed.
        machine.write("root/etc/machine-id", "uninitialized\n");
        assert_eq!(read_machine_id(&root).as_deref(), Some("fedcba9876543210fedcba9876543210"));
        machine.write("root/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
        assert_eq!(read_machine_id(&root).as_deref(), Some("0123456789abcdef0123456789abcdef"));

        let proc = machine.dir.path().join("proc");
        machine.write("proc/sys/kernel/hostname", "web-1\n");
        assert_eq!(read_hostname(&proc), "web-1");
        // Empty or missing: the kernel's answer via gethostname(2).
        machine.write("proc/sys/kernel/hostname", "\n");
        let fallback = read_hostname(&proc);
        assert!(!fallback.is_empty());
        assert_eq!(read_hostname(Path::new("/nonexistent")), fallback);
    }
}
