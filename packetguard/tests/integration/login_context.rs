//! The flow rows' context feature `prior_login_attempts` end to end: the kernel's flow
//! starts, the agent's count per (opener, address, port), the column of `collect`'s CSV.

use crate::{
    capture::{num, rows_between},
    collect_agent::Collector,
    lab::{Lab, CLIENT_V4, SERVER_V4},
};

/// Connections made to each port.
const CONNECTIONS: u64 = 4;

/// Fetches `/` from the server's `port` once.
fn fetch(lab: &Lab, port: u16) {
    let url = format!("http://{SERVER_V4}:{port}/");
    let out = lab.output(
        &lab.client,
        &["curl", "-sS", "-o", "/dev/null", "--max-time", "5", &url],
    );
    assert!(out.status.success(), "curl {url}: {out:?}");
}

/// Four connections in a row to port 22 (a login port: an HTTP server listens there) and
/// four to 8080: the login connections count the ones before them, the others nothing.
#[test]
fn login_connections_count_the_attempts_before_them_in_the_collected_rows() {
    let lab = Lab::new();
    let _servers: Vec<_> = ["22", "8080"].map(|port| lab.web_server(port)).into();
    let agent = Collector::start(&lab, &[]);
    for _ in 0..CONNECTIONS {
        fetch(&lab, 22);
        fetch(&lab, 8080);
    }
    let got = agent.stop(libc::SIGTERM);
    let tcp = rows_between(&got.rows, CLIENT_V4, SERVER_V4, 6);
    let to_port = |port: u64| {
        let mut rows: Vec<_> = tcp
            .iter()
            .filter(|r| num(r, "dst_port") == port)
            .map(|r| (num(r, "start_unix_ms"), num(r, "prior_login_attempts")))
            .collect();
        rows.sort_unstable();
        rows
    };
    let login = to_port(22);
    let web = to_port(8080);
    assert_eq!(login.len() as u64, CONNECTIONS, "{:?}", got.rows);
    assert_eq!(web.len() as u64, CONNECTIONS, "{:?}", got.rows);
    // The count looks back 2 s; eight fetches on the lab's veths take far less.
    let span_ms = login.last().unwrap().0 - login[0].0;
    assert!(span_ms < 1500, "the fetches took {span_ms} ms: {login:?}");
    let priors = |rows: &[(u64, u64)]| rows.iter().map(|r| r.1).collect::<Vec<_>>();
    assert_eq!(priors(&login), [0, 1, 2, 3]);
    assert_eq!(priors(&web), [0, 0, 0, 0]);
}
