//! Name lists the rules share. Matching is on a program's basename; a
//! renamed binary evades a name list, which is why the behavioural rules do
//! not depend on these alone.

/// Shells that give an attacker a command prompt. `busybox` itself is not
/// one: `program_name` resolves it to the applet it runs (`sh`, `ash`).
pub const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish"];

pub fn is_shell(name: &str) -> bool {
    SHELLS.contains(&name)
}

/// The program a process runs as, and its argv from that program's own
/// argv[0]: for busybox, the applet its argv names (`/bin/nc` is busybox
/// running `nc`, as in Alpine images; `busybox nc ...` names it second); any
/// other program is `name` with the whole argv.
pub fn applet<'a>(name: &'a str, argv: &'a [String]) -> (&'a str, &'a [String]) {
    if name != "busybox" {
        return (name, argv);
    }
    match argv.first().map(|a| super::basename(a)) {
        Some("busybox") if argv.len() > 1 => (super::basename(&argv[1]), &argv[1..]),
        Some(a) if !a.is_empty() && a != "busybox" => (a, argv),
        _ => (name, argv),
    }
}

/// A tool's category and whether it is offensive-only (High) or dual-use
/// (Low).
pub struct Tool {
    pub name: &'static str,
    pub category: &'static str,
    pub offensive: bool,
}

const fn tool(name: &'static str, category: &'static str, offensive: bool) -> Tool {
    Tool { name, category, offensive }
}

pub const TOOLS: &[Tool] = &[
    // offensive-only
    tool("msfconsole", "Exploitation framework", true),
    tool("msfvenom", "Exploitation framework", true),
    tool("meterpreter", "Backdoor", true),
    tool("sqlmap", "Exploitation tool", true),
    tool("hydra", "Credential attack tool", true),
    tool("medusa", "Credential attack tool", true),
    tool("ncrack", "Credential attack tool", true),
    tool("mimipenguin", "Credential dumper", true),
    tool("lazagne", "Credential dumper", true),
    tool("linpeas.sh", "Privilege escalation discovery", true),
    tool("linpeas", "Privilege escalation discovery", true),
    tool("linenum.sh", "Privilege escalation discovery", true),
    tool("les.sh", "Privilege escalation discovery", true),
    tool("pspy", "Process snooping tool", true),
    tool("pspy64", "Process snooping tool", true),
    tool("ettercap", "Network interception tool", true),
    tool("bettercap", "Network interception tool", true),
    tool("responder", "Network interception tool", true),
    tool("gs-netcat", "Backdoor", true),
    tool("gsocket", "Backdoor", true),
    tool("peirates", "Kubernetes attack tool", true),
    tool("kube-hunter", "Kubernetes attack tool", true),
    tool("cdk", "Container escape tool", true),
    tool("deepce.sh", "Container escape tool", true),
    tool("botb", "Container escape tool", true),
    tool("nikto", "Vulnerability scanner", true),
    tool("wpscan", "Vulnerability scanner", true),
    tool("hashcat", "Password cracker", true),
    tool("john", "Password cracker", true),
    tool("chisel", "Tunnelling tool", true),
    tool("ligolo", "Tunnelling tool", true),
    tool("impacket-psexec", "Lateral movement tool", true),
    // dual-use: reported Low, and only in an unusual context
    tool("nmap", "Network scanner", false),
    tool("masscan", "Network scanner", false),
    tool("zmap", "Network scanner", false),
    tool("rustscan", "Network scanner", false),
    tool("nc", "Network utility", false),
    tool("ncat", "Network utility", false),
    tool("netcat", "Network utility", false),
    tool("socat", "Network utility", false),
    tool("tcpdump", "Packet sniffer", false),
    tool("tshark", "Packet sniffer", false),
    tool("ngrok", "Tunnelling tool", false),
    tool("frpc", "Tunnelling tool", false),
];

pub fn tool_named(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

/// Cryptocurrency miners by program name.
pub const MINERS: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "xmr-stak-cpu",
    "minerd",
    "cpuminer",
    "cpuminer-multi",
    "ccminer",
    "cgminer",
    "bfgminer",
    "ethminer",
    "nbminer",
    "t-rex",
    "phoenixminer",
    "lolminer",
    "nanominer",
    "gminer",
    "teamredminer",
    "srbminer-multi",
    "xmrig-notls",
    "kdevtmpfsi",
    "kinsing",
];

/// Command-line fragments that only miners use.
pub const MINER_ARGS: &[&str] = &[
    "stratum+tcp://",
    "stratum+ssl://",
    "stratum2+tcp://",
    "stratum+tls://",
    "--donate-level",
    "--cpu-max-threads-hint",
];

/// Debuggers and tracers: a child asking to be traced by one is normal.
pub const DEBUGGERS: &[&str] = &["gdb", "lldb", "strace", "ltrace", "valgrind", "rr", "perf", "gdbserver", "dlv"];

/// Package managers and the tools they run: writes under /usr and /etc
/// below one of these are installs, not attacks.
pub const PACKAGE_MANAGERS: &[&str] = &[
    "dpkg",
    "apt",
    "apt-get",
    "aptitude",
    "unattended-upgr",
    "unattended-upgrade",
    "rpm",
    "yum",
    "dnf",
    "microdnf",
    "zypper",
    "apk",
    "pacman",
    "snapd",
    "ucf",
    "debconf",
    "dpkg-preconfigu",
    "update-alternatives",
];

pub fn is_package_manager(name: &str) -> bool {
    PACKAGE_MANAGERS.contains(&name)
}

/// Programs whose job is to edit account and privilege files.
pub const ACCOUNT_TOOLS: &[&str] = &[
    "useradd",
    "userdel",
    "usermod",
    "adduser",
    "deluser",
    "groupadd",
    "groupdel",
    "groupmod",
    "gpasswd",
    "passwd",
    "chpasswd",
    "chage",
    "chsh",
    "chfn",
    "vipw",
    "visudo",
    "newusers",
    "pwconv",
    "grpconv",
    "systemd-sysusers",
    "cloud-init",
];

/// Set-user-id programs that gain root as their normal job.
pub const USUAL_SETUID: &[&str] = &[
    "sudo",
    "su",
    "passwd",
    "chsh",
    "chfn",
    "newgrp",
    "gpasswd",
    "mount",
    "umount",
    "ping",
    "fusermount",
    "fusermount3",
    "ssh-keysign",
    "pkexec",
    "polkit-agent-helper-1",
    "dbus-daemon-launch-helper",
    "unix_chkpwd",
    "crontab",
    "at",
    "Xorg.wrap",
    "newuidmap",
    "newgidmap",
    "chrome-sandbox",
];

/// Set-user-id programs that are only usual when a person runs them from a
/// shell or terminal: `sudo` started by a web server is not usual.
pub const INTERACTIVE_SETUID: &[&str] = &["sudo", "su", "passwd", "chsh", "chfn", "newgrp", "gpasswd", "pkexec"];

/// Parents that mean "a person at a terminal".
pub const INTERACTIVE_PARENTS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "fish", "tcsh", "csh", "sshd", "login", "su", "sudo", "tmux", "screen",
    "script",
];

/// Programs that legitimately start interactive shells on request.
pub const SHELL_LAUNCHERS: &[&str] = &[
    "sshd",
    "sshd-session",
    "login",
    "agetty",
    "getty",
    "su",
    "sudo",
    "tmux",
    "tmux: server",
    "screen",
    "systemd",
    "init",
    "containerd-shim",
    "containerd-shim-runc-v2",
    "runc",
    "runc:[2:INIT]",
    "conmon",
    "docker-init",
    "tini",
    "dumb-init",
    "sshd-auth",
    "gnome-terminal-",
    "xterm",
    "code",
    "node",
    "kubelet",
    "crun",
];

/// Runtimes that JIT-compile code into memory files; their memfd mappings
/// are how they work, not fileless malware.
pub const JIT_RUNTIMES: &[&str] = &[
    "java",
    "node",
    "nodejs",
    "deno",
    "bun",
    "dotnet",
    "mono",
    "pypy",
    "pypy3",
    "luajit",
    "php",
    "php-fpm",
    "julia",
    "qemu-system-x86_64",
    "qemu-x86_64",
    "chrome",
    "chromium",
    "firefox",
    "electron",
    "wasmtime",
    "dockerd",
    "containerd",
    "runc",
    "crun",
];

/// Programs that create userfaultfds as part of their job.
pub const USERFAULTFD_USERS: &[&str] = &["qemu-system-x86_64", "qemu-kvm", "criu", "firecracker", "cloud-hypervisor"];

/// Programs that load kernel modules as their job on the host.
pub const MODULE_LOADERS: &[&str] = &["modprobe", "kmod", "insmod", "systemd-modules-load", "systemd-udevd", "udevadm"];

/// Sockets that control a container runtime: whoever talks to one controls
/// every container on the host.
pub const RUNTIME_SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
];

/// The instance metadata service addresses a DNS rebinding aims at.
pub const METADATA_ADDRESSES: &[&str] = &["169.254.169.254", "fd00:ec2::254"];
