//! A real OpenSSH server in the lab's server namespace, with a throwaway host key and a
//! throwaway user whose password is made up per lab.
//!
//! The user exists only inside the server namespace: `ip netns exec` bind-mounts the files
//! of `/etc/netns/<namespace>/` over `/etc` for the processes it starts there, so the lab
//! writes copies of `/etc/passwd`, `/etc/shadow` and `/etc/group` with one more line each
//! there. The host's own files are never changed, and [`Lab`]'s drop removes the copies.
//! sshd records logins and failed logins in utmp, wtmp, lastlog and btmp; empty files of
//! the lab are bind-mounted over those in sshd's own mount namespace (the one `ip netns
//! exec` makes), so a brute force leaves the host's login records alone. The server uses
//! no PAM (no session modules that expect a full system) and listens on the server's
//! address only.

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::lab::{Lab, Proc, SERVER_V4};

/// The throwaway account's name (only the server namespace has it).
pub const SSH_USER: &str = "labuser";
const SSHD: &str = "/usr/sbin/sshd";
/// Where sshd records logins and failed logins.
const LOGIN_RECORDS: [&str; 4] = [
    "/run/utmp",
    "/var/log/wtmp",
    "/var/log/lastlog",
    "/var/log/btmp",
];

pub struct Sshd {
    proc: Proc,
    /// The right password of [`SSH_USER`].
    pub password: String,
}

/// The first uid at or above 61000 that `/etc/passwd` does not use (the same number
/// serves as the group id).
fn free_uid(passwd: &str) -> u32 {
    let used: Vec<u32> = passwd
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect();
    (61000..).find(|u| !used.contains(u)).unwrap()
}

fn checked(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    /// Starts sshd on port 22 of the server's address with password logins for
    /// [`SSH_USER`], and waits until it listens.
    pub fn start_sshd(&self) -> Sshd {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let password = format!("lab-{}-{nanos}", std::process::id());
        let hash = checked(
            Command::new("openssl")
                .args(["passwd", "-6", "-salt", &format!("lab{nanos}")])
                .arg(&password),
        );
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();

        let dir = self.dir.join("sshd");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let etc = Path::new("/etc/netns").join(&self.server);
        std::fs::create_dir_all(&etc).unwrap();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let uid = free_uid(&passwd);
        let extra = [
            (
                "passwd",
                format!("{SSH_USER}:x:{uid}:{uid}::{}:/bin/sh", home.display()),
            ),
            ("shadow", format!("{SSH_USER}:{hash}:19000:0:99999:7:::")),
            ("group", format!("{SSH_USER}:x:{uid}:")),
        ];
        for (file, line) in extra {
            let mut text = std::fs::read_to_string(Path::new("/etc").join(file)).unwrap();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            let path = etc.join(file);
            std::fs::write(&path, text).unwrap();
            let mode = if file == "shadow" { 0o640 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }

        let key = dir.join("ssh_host_ed25519_key");
        checked(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key),
        );
        // sshd refuses to start without its privilege separation directory; the Debian
        // package creates the same empty directory when its service starts.
        let privsep = Path::new("/run/sshd");
        if !privsep.is_dir() {
            std::fs::create_dir_all(privsep).unwrap();
            std::fs::set_permissions(privsep, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {SERVER_V4}:22\n\
                 HostKey {key}\n\
                 PidFile {pid}\n\
                 UsePAM no\n\
                 PasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\n\
                 PermitRootLogin no\n\
                 AllowUsers {SSH_USER}\n\
                 StrictModes no\n\
                 UseDNS no\n\
                 PrintMotd no\n\
                 PrintLastLog no\n\
                 X11Forwarding no\n\
                 AllowTcpForwarding no\n\
                 LoginGraceTime 10\n\
                 MaxStartups 100\n",
                key = key.display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap();
        self.exec(&self.server, &[SSHD, "-t", "-f", config]);
        let mut script = String::new();
        for record in LOGIN_RECORDS {
            let own = dir.join(Path::new(record).file_name().unwrap());
            std::fs::write(&own, b"").unwrap();
            script.push_str(&format!(
                "if [ -e {record} ]; then mount --bind {} {record} || exit 1; fi\n",
                own.display()
            ));
        }
        // -D: stay in the foreground (the guard kills it); -e: log to stderr.
        script.push_str(&format!("exec {SSHD} -D -e -f {config}\n"));
        let proc = self.spawn(&self.server, &["sh", "-c", &script]);
        self.wait_listening(&self.server, "22");
        Sshd { proc, password }
    }
}

impl Sshd {
    /// Logs in from the client as [`SSH_USER`] with `password` (one password prompt, one
    /// TCP connection) and runs `command`; at most 10 s. A refused password is ssh's exit
    /// status 255 with "Permission denied" on stderr.
    pub fn login(&self, lab: &Lab, password: &str, command: &str) -> Output {
        let target = format!("{SSH_USER}@{SERVER_V4}");
        lab.output(
            &lab.client,
            &[
                "timeout",
                "10",
                "sshpass",
                "-p",
                password,
                "ssh",
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=5",
                &target,
                command,
            ],
        )
    }

    /// How many times sshd logged `what` ("Failed password", "Accepted password").
    pub fn logged(&self, what: &str) -> usize {
        self.proc.stderr().matches(what).count()
    }
}
