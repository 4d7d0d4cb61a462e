//! The capacity table's arithmetic: what is subtracted and when the machine figure is
//! withheld.

use std::time::Duration;

use super::*;
use crate::bench::{generator::Sent, meter::Window};

fn run(name: &'static str, sent: u64, accounted: u64, cpu: [f64; 3], w: [f64; 3]) -> Row {
    let [generator, softirqd, tool] = cpu;
    let [busy_s, elapsed_s, background] = w;
    Row {
        name,
        rate: 0,
        result: Ok(Measured {
            sent: Sent {
                packets: sent,
                elapsed: Duration::from_secs(1),
                cpu_s: generator,
            },
            accounted,
            cpu_s: tool,
            kernel_s: Some(0.25),
            window: Window {
                busy_s,
                elapsed_s,
                background,
                softirqd_s: softirqd,
            },
            note: None,
        }),
    }
}

fn measured(row: &Row) -> &Measured {
    row.result.as_ref().unwrap()
}

/// The generator alone's two runs are pooled per packet sent and taken off the tool's
/// run for as many packets; what is left is per million packets the tool accounted.
#[test]
fn figures_subtract_background_and_the_generator_alone_per_packet() {
    let group = [
        // 2.5 s of tasks and 3.0 - 0.5 * 2.0 = 2.0 s of machine for 1M packets.
        run(
            ALONE,
            1_000_000,
            1_000_000,
            [2.0, 0.5, 0.0],
            [3.0, 2.0, 0.5],
        ),
        run(
            "tool",
            1_000_000,
            500_000,
            [3.0, 0.5, 1.5],
            [7.0, 4.0, 0.25],
        ),
        // 1.5 s of tasks and 2.0 s of machine for 1M packets.
        run(
            ALONE,
            1_000_000,
            1_000_000,
            [1.5, 0.0, 0.0],
            [2.0, 1.0, 0.0],
        ),
    ];
    let f = figures(measured(&group[1]), &group, 2.0);
    // Tasks: 5.0 s less 2.0e-6 s a packet for 1M, over 0.5M accounted.
    assert!((f.tasks.unwrap() - 6.0).abs() < 1e-9, "{:?}", f.tasks);
    // Machine: 7.0 - 0.25 * 4.0 = 6.0 s less 2.0 s, over 0.5M accounted.
    assert!((f.machine.unwrap() - 8.0).abs() < 1e-9, "{:?}", f.machine);
    // Own: the tool's 1.5 s and its 0.25 s of XDP over 0.5M accounted.
    assert!((f.own - 3.5).abs() < 1e-9, "{}", f.own);
}

#[test]
fn machine_figure_is_withheld_when_other_work_leaves_under_one_and_a_half_cpus() {
    let group = [
        run(
            ALONE,
            1_000_000,
            1_000_000,
            [2.0, 0.5, 0.0],
            [3.0, 2.0, 0.5],
        ),
        run(
            "tool",
            1_000_000,
            1_000_000,
            [3.0, 0.5, 1.5],
            [7.0, 4.0, 0.6],
        ),
        run(
            "full",
            1_000_000,
            1_000_000,
            [3.0, 0.5, 1.5],
            [7.7, 4.0, 0.0],
        ),
    ];
    let busy_before = figures(measured(&group[1]), &group, 2.0);
    assert_eq!(busy_before.machine, None);
    assert!(busy_before.tasks.is_some());
    assert_eq!(figure(None, measured(&group[1]), 2.0), "busy");
    // 7.7 s busy in 4.0 s is 1.925 CPUs of 2: every CPU busy in the window.
    assert_eq!(figures(measured(&group[2]), &group, 2.0).machine, None);
    // The same run on four CPUs left enough idle to count.
    assert!(figures(measured(&group[1]), &group, 4.0).machine.is_some());
}

#[test]
fn no_baseline_no_difference() {
    let group = [run(
        "tool",
        1_000_000,
        1_000_000,
        [3.0, 0.5, 1.5],
        [7.0, 4.0, 0.0],
    )];
    let f = figures(measured(&group[0]), &group, 2.0);
    assert_eq!((f.machine, f.tasks), (None, None));
    assert_eq!(figure(f.machine, measured(&group[0]), 2.0), "-");
}
