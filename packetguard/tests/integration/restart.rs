//! Restarts are safe: what a killed agent leaves attached is replaced by the next start,
//! and a foreign XDP program is refused with its id and name and left in place.

use std::time::Duration;

use aya::programs::XdpMode;
use packetguard::datapath::{DataPath, DataPathConfig};

use crate::{
    capture::{num, rows_between},
    collect_agent::{assert_detached_in, attached_in, one_line_error, Collector, BIN},
    lab::{in_ns, Lab, CLIENT_V4, SERVER_V4},
};

#[test]
fn kill_9_leaves_nothing_on_tcx_and_a_netlink_leftover_is_replaced_on_the_next_start() {
    let lab = Lab::new();
    // TCX and XDP links belong to the process: SIGKILL takes them with it.
    let agent = Collector::start_in(&lab, &lab.server, &["-i", "s0"], 1);
    agent.kill();
    assert_detached_in(&lab, &lab.server, "s0");

    // A netlink filter outlives its process.
    let agent = Collector::start_in(&lab, &lab.server, &["-i", "s0", "--tc-mode", "netlink"], 1);
    agent.kill();
    let left = attached_in(&lab, &lab.server, "s0");
    assert!(left.contains("packetguard_egress"), "{left}");

    // The next start replaces it: one filter, every packet counted once, and on exit the
    // filter and the qdisc the killed run added are gone.
    let agent = Collector::start_in(&lab, &lab.server, &["-i", "s0", "--tc-mode", "netlink"], 1);
    let during = attached_in(&lab, &lab.server, "s0");
    assert_eq!(during.matches("packetguard_egress").count(), 1, "{during}");
    lab.exec(&lab.client, &["ping", "-c", "4", "-i", "0.05", SERVER_V4]);
    let got = agent.stop(libc::SIGTERM);
    assert!(
        got.stderr
            .contains("s0: replacing the PacketGuard egress filter an earlier run left attached"),
        "{}",
        got.stderr
    );
    let f = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 1)[0];
    assert_eq!(
        (num(f, "fwd_packets"), num(f, "bwd_packets")),
        (4, 4),
        "{f:?}"
    );
    assert_detached_in(&lab, &lab.server, "s0");
}

#[test]
fn a_foreign_xdp_program_is_refused_by_id_and_name_and_left_in_place() {
    let lab = Lab::new();
    // The object's count-only program, attached by this test: not the agent's program.
    let mut foreign = DataPath::load(&DataPathConfig::default()).unwrap();
    let prog = foreign.load_program("packetguard_baseline").unwrap();
    let id = prog.info().unwrap().id();
    let _link = in_ns(&lab.server, || prog.attach("s0", XdpMode::Skb).unwrap());
    let out = lab.output(
        &lab.server,
        &[BIN, "collect", "-i", "s0", "--duration", "1s"],
    );
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!(
            "interface s0 already runs the XDP program id {id} (packetguard_bas), which is not PacketGuard's"
        )),
        "{err}"
    );
    let still = attached_in(&lab, &lab.server, "s0");
    assert!(
        still.contains(&format!("s0 xdp: id {id} (packetguard_bas)")),
        "{still}"
    );
    assert!(
        still.contains("s0 tcx egress: none"),
        "nothing of the agent: {still}"
    );
    std::thread::sleep(Duration::from_millis(1));
}
