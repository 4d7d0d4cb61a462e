//! A tool under test running in a lab namespace: its CPU time from `/proc/PID/stat`, its
//! output files, bounded waits, and a kill on drop so that no tool outlives the bench.

use std::{
    path::PathBuf,
    process::{Child, ExitStatus},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::signals;

pub struct Proc {
    name: String,
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Clock ticks per second of `utime`/`stime` in `/proc/PID/stat`.
pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

impl Proc {
    pub fn new(name: &str, child: Child, stdout: PathBuf, stderr: PathBuf) -> Proc {
        Proc {
            name: name.to_string(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The process id: `ip netns exec` execs the command, so this is the tool itself.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// User plus system CPU seconds of all the process's threads so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        pid_cpu_seconds(self.pid()).with_context(|| format!("{} has exited", self.name))
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits (bounded) until the process's stderr or stdout contains `needle`.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            signals::check()?;
            if self.stderr_text().contains(needle) || self.stdout_text().contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({status}) before printing {needle:?}: {}",
                    self.name,
                    last_line(&self.stderr_text())
                );
            }
            if Instant::now() > deadline {
                bail!("{} printed no {needle:?} within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the process has used no measurable CPU (not one clock tick) for four
    /// 100 ms periods in a row: it has taken in what was sent. Bounded by `limit`.
    pub fn wait_idle(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let mut last = self.cpu_seconds()?;
        let mut quiet = 0;
        while quiet < 4 {
            signals::check()?;
            if Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
            let now = self.cpu_seconds()?;
            quiet = if now - last <= 0.002 { quiet + 1 } else { 0 };
            last = now;
        }
        Ok(())
    }

    /// Sends `signal` to the tool's process group and waits (bounded) for the tool to exit;
    /// kills the group past `limit`.
    pub fn stop(&mut self, signal: i32, limit: Duration) -> Result<ExitStatus> {
        if let Some(c) = &self.child {
            // SAFETY: the group is our own child's (its id is the child's, which has not
            // been reaped yet, so it cannot have been reused).
            unsafe { libc::kill(-(c.id() as i32), signal) };
        }
        self.wait(limit)
    }

    /// Waits (bounded) for the tool to exit by itself; kills its group past `limit` or when
    /// the bench is interrupted.
    pub fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let mut child = self.child.take().context("process already stopped")?;
        let deadline = Instant::now() + limit;
        loop {
            // Reaped: the group is not signalled after this (the id may be reused). The
            // tools here wait for what they fork before they exit.
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            let interrupted = signals::check();
            if interrupted.is_err() || Instant::now() > deadline {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                interrupted?;
                bail!("{} did not exit within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// User plus system CPU seconds of process `pid` (all its threads) so far, from
/// `/proc/PID/stat`. With the kernel's tick-based accounting, this includes the softirq
/// work (a veth's receive, XDP, AF_PACKET delivery) that ran while the process was the
/// one on the CPU.
pub fn pid_cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and
    // stime are fields 14 and 15 of the line, 12 and 13 after the parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .with_context(|| format!("unexpected {path}: {stat}"))
    };
    Ok((tick(11)? + tick(12)?) / ticks_per_second())
}

/// User plus system CPU seconds of every child of the bench reaped so far (and of the
/// children they reaped): a child's whole use, read once it has exited.
pub fn reaped_children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// The last non-empty line of a tool's output, for one-line reasons.
pub fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
        .trim()
}

/// Kills what is left of the process group `pgid` (processes the tool forked), before the
/// tool itself is reaped: until then the id cannot belong to anything else.
fn kill_group(pgid: u32) {
    // SAFETY: see above; an empty group only makes kill fail with ESRCH.
    unsafe { libc::kill(-(pgid as i32), libc::SIGKILL) };
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(c.id());
            let _ = c.wait();
        }
    }
}
