//! Event kinds: the `kind` field of every event.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// What happened. The string form (`process.exec`, ...) is the public name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Kind {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Kind {
            /// Every kind, in documentation order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The public name, e.g. `process.exec`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }
        }

        impl FromStr for Kind {
            type Err = UnknownKind;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Kind::$variant),)*
                    _ => Err(UnknownKind(s.to_owned())),
                }
            }
        }
    };
}

kinds! {
    ProcessExec => "process.exec",
    ProcessExit => "process.exit",
    ProcessFork => "process.fork",
    ProcessSetuid => "process.setuid",
    FileWrite => "file.write",
    FileRename => "file.rename",
    FileUnlink => "file.unlink",
    FileLink => "file.link",
    FileSymlink => "file.symlink",
    FileChmod => "file.chmod",
    NetConnect => "net.connect",
    NetAccept => "net.accept",
    NetListen => "net.listen",
    DnsQuery => "dns.query",
    DnsAnswer => "dns.answer",
    Ptrace => "ptrace",
    MemWrite => "mem.write",
    ModuleLoad => "module.load",
    Mount => "mount",
    Userfaultfd => "userfaultfd",
    MemfdCreate => "memfd.create",
    BpfLoad => "bpf.load",
    LibraryLoad => "library.load",
    AgentLoss => "agent.loss",
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that Saker does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown event kind {:?}; known kinds: ", self.0)?;
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownKind {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(*k));
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!("process.nope".parse::<Kind>().is_err());
    }
}
