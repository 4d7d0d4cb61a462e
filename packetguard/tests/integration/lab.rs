//! Test hosts: network namespaces joined by veth pairs, removed on drop even when a test
//! fails, and processes that are killed on drop.
//!
//! Topology (addresses from documentation prefixes only):
//!
//! ```text
//!  client ns            router ns (agent)              server ns
//!  c0 192.0.2.2  ---  rc 192.0.2.1 | rs 198.51.100.1  ---  s0 198.51.100.2
//!     2001:db8:1::2     2001:db8:1::1 | 2001:db8:2::1        2001:db8:2::2
//! ```
//!
//! XDP sees ingress only, so the agent attaches to both router interfaces: client-to-server
//! packets enter at `rc`, server-to-client packets at `rs`, and every packet of a
//! conversation is seen exactly once.
//!
//! Files under `/etc/netns/<namespace>/` are what `ip netns exec` bind-mounts over `/etc`
//! for the processes it starts there (see [`Sshd`]); a lab removes its own on drop.

use std::{
    io::Read,
    net::Ipv4Addr,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use crate::prometheus_scrape::wait_for;

pub const CLIENT_V4: &str = "192.0.2.2";
pub const SERVER_V4: &str = "198.51.100.2";
pub const CLIENT_V6: &str = "2001:db8:1::2";
pub const SERVER_V6: &str = "2001:db8:2::2";
/// The port of the lab's web server ([`Lab::web_server`]) in the tests that run one.
pub const WEB_PORT: &str = "8080";

static NEXT: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "pgt";

pub struct Lab {
    pub client: String,
    pub router: String,
    pub server: String,
    pub dir: PathBuf,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Removes namespaces left behind by test processes that no longer exist.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: u32 = rest
            .split('-')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
            let _ = std::fs::remove_dir_all(etc_netns(name));
        }
    }
}

/// The directory whose files `ip netns exec NS` mounts over `/etc` inside `NS`.
fn etc_netns(ns: &str) -> PathBuf {
    Path::new("/etc/netns").join(ns)
}

/// Runs `f` on a thread that has entered the network namespace `ns`: the sockets it opens
/// and the processes it starts live there. The calling thread stays where it is.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let thread = s.spawn(|| {
            let path = format!("/run/netns/{ns}");
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // Only this thread moves; it ends when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            f()
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

impl Lab {
    pub fn new() -> Lab {
        remove_stale();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{PREFIX}{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("packetguard-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            client: format!("{id}-c"),
            router: format!("{id}-r"),
            server: format!("{id}-s"),
            dir,
        };
        // From here on, Drop removes whatever was created.
        for ns in [&lab.client, &lab.router, &lab.server] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // No duplicate address detection: link-local addresses usable at once.
            lab.exec(ns, &["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
            lab.exec(ns, &["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
        }
        // Client and server each get a veth pair whose other end is in the router.
        for (end, ns, peer) in [("c0", &lab.client, "rc"), ("s0", &lab.server, "rs")] {
            ip(&[
                "link",
                "add",
                end,
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                peer,
                "netns",
                &lab.router,
            ]);
        }
        let (c, r, s) = (&lab.client, &lab.router, &lab.server);
        for (ns, dev, v4, v6) in [
            (c, "c0", "192.0.2.2/24", "2001:db8:1::2/64"),
            (r, "rc", "192.0.2.1/24", "2001:db8:1::1/64"),
            (r, "rs", "198.51.100.1/24", "2001:db8:2::1/64"),
            (s, "s0", "198.51.100.2/24", "2001:db8:2::2/64"),
        ] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev]);
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for (ns, v4_router, v6_router) in [
            (c, "192.0.2.1", "2001:db8:1::1"),
            (s, "198.51.100.1", "2001:db8:2::1"),
        ] {
            ip(&["-n", ns, "route", "add", "default", "via", v4_router]);
            ip(&["-n", ns, "-6", "route", "add", "default", "via", v6_router]);
        }
        lab.exec(r, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        lab.exec(r, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        // Resolve neighbours before any test traffic so ARP/ND stays out of the counts.
        // A fresh veth can drop the first echo while its carrier and neighbour entries
        // settle (seen with IPv6 on a loaded machine), so each ping may resend every
        // 200 ms until one reply arrives, for at most 5 s.
        for server in [SERVER_V4, SERVER_V6] {
            lab.exec(c, &["ping", "-c", "1", "-i", "0.2", "-w", "5", server]);
        }
        lab
    }

    /// Runs a command in a namespace and returns its output, whatever its exit status.
    pub fn output(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {args:?} in {ns}: {e}"))
    }

    /// Sends `count` TCP SYNs from the client to a closed port (9) of the server, one every
    /// `interval_us`. hping3 moves to the next source port for every packet, so each SYN is
    /// its own flow, answered by one RST. Its exit status (non-zero when nothing listens)
    /// is not checked.
    pub fn syn_burst(&self, count: u64, interval_us: u32) {
        self.output(
            &self.client,
            &[
                "hping3",
                "-q",
                "-S",
                "-p",
                "9",
                "-c",
                &count.to_string(),
                "-i",
                &format!("u{interval_us}"),
                SERVER_V4,
            ],
        );
    }

    /// Runs a command in a namespace and asserts it succeeded.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// Starts a command in a namespace; it is killed when the returned guard drops.
    pub fn spawn(&self, ns: &str, args: &[&str]) -> Proc {
        let stderr = self.dir.join(format!(
            "proc-{}.stderr",
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        Proc {
            child: Some(child),
            stderr,
        }
    }

    /// Python's web server on the server's IPv4 address and TCP `port`, serving the lab's
    /// scratch directory; returns once it listens.
    pub fn web_server(&self, port: &str) -> Proc {
        let dir = self.dir.to_str().unwrap();
        let web = self.spawn(
            &self.server,
            &[
                "python3",
                "-m",
                "http.server",
                port,
                "--bind",
                SERVER_V4,
                "--directory",
                dir,
            ],
        );
        self.wait_listening(&self.server, port);
        web
    }

    /// Waits (bounded) until something listens on TCP `port` in namespace `ns`.
    pub fn wait_listening(&self, ns: &str, port: &str) {
        let what = format!("a listener on TCP port {port} in {ns}");
        wait_for(&what, Duration::from_secs(10), || {
            let out = self.output(ns, &["ss", "-Hltn", "sport", "=", &format!(":{port}")]);
            (!out.stdout.is_empty()).then_some(())
        });
    }

    /// Gives the server `count` more addresses, `net`.1 to `net`.`count` of the /24 `net`
    /// (203.0.113.0 or a /24 of 198.18.0.0/15, which no lab link uses), on `s0`, and
    /// routes that /24 from the router to the server: many hosts behind one interface, as
    /// a horizontal scan needs, without one ARP resolution per address.
    pub fn add_server_addresses(&self, net: Ipv4Addr, count: u8) -> Vec<Ipv4Addr> {
        let o = net.octets();
        assert!(
            (o[..3] == [203, 0, 113] || (o[0] == 198 && o[1] & 0xfe == 18)) && o[3] == 0,
            "{net} is not 203.0.113.0 or a /24 of 198.18.0.0/15"
        );
        let via = format!("{net}/24");
        ip(&["-n", &self.router, "route", "add", &via, "via", SERVER_V4]);
        let addrs: Vec<Ipv4Addr> = (1..=count)
            .map(|i| Ipv4Addr::new(o[0], o[1], o[2], i))
            .collect();
        let batch = self.dir.join(format!("addresses-{net}"));
        let lines: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/32 dev s0\n"))
            .collect();
        std::fs::write(&batch, lines).unwrap();
        ip(&["-n", &self.server, "-batch", batch.to_str().unwrap()]);
        addrs
    }

    /// Routes `cidr` from the router towards the client. Replies to packets the client sent
    /// from addresses of `cidr` (spoofed sources) then go back to the client, which drops
    /// them, instead of leaving the router by a default route it does not have.
    pub fn route_via_client(&self, cidr: &str) {
        ip(&["-n", &self.router, "route", "add", cidr, "via", CLIENT_V4]);
    }

    /// `ip link show` of interface `dev` in namespace `ns`.
    pub fn link(&self, ns: &str, dev: &str) -> String {
        String::from_utf8_lossy(&self.exec(ns, &["ip", "link", "show", dev]).stdout).into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let _ = std::fs::remove_dir_all(etc_netns(ns));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A background process, killed on drop.
pub struct Proc {
    child: Option<Child>,
    stderr: PathBuf,
}

impl Proc {
    /// The process id (of `ip netns exec`, which execs the command: the same process).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("process already stopped").id()
    }

    pub fn stderr(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits (bounded) until its stderr contains `needle` `times` times.
    pub fn wait_for_stderr(&mut self, needle: &str, times: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.stderr().matches(needle).count() < times {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "process exited ({status}) before printing {needle:?}: {}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits (bounded) for exit; returns the exit status.
    pub fn stop(&mut self, signal: i32, limit: Duration) -> std::process::ExitStatus {
        let child = self.child.as_ref().expect("process already stopped");
        unsafe { libc::kill(child.id() as i32, signal) };
        self.wait(limit)
    }

    /// Waits (bounded) for the process to exit by itself; kills it and fails past `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("process already stopped");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process did not exit within {limit:?}: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
