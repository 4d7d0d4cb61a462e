//! `packetguard collect`: the collection mode. Attach, drain flow records, write one CSV row
//! per flow, export what is left at exit, detach, summarise.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::PathBuf,
    time::Duration,
};

use anyhow::{Context, Result};
use packetguard_common::{Counter, FlowRecord};

use crate::{
    commands::shutdown::stop_signal,
    datapath::{
        counters::{self, KernelCounters},
        drain::{Drain, Event},
        flow_table::{monotonic_ns, FlowTable, Removed},
        interface_index,
        ledger::FlowLosses,
        AttachMode, AttachOptions, Attachment, DataPath, DataPathConfig, Direction, TcMode,
    },
    flows::{
        context::FlowContext,
        csv::FlowCsvWriter,
        merge::{FlowMerger, FlowRow},
        Endpoints,
    },
    limits,
};

/// Arguments of `packetguard collect`.
#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Interface to attach to; repeat to watch several (for example both sides of a router).
    /// Default: the interface of the default route.
    #[arg(long, short)]
    pub iface: Vec<String>,
    /// Stop after this long (for example 30s, 5m); default: until SIGINT or SIGTERM.
    #[arg(long, value_parser = limits::RUN_DURATION.parser())]
    pub duration: Option<Duration>,
    /// Flow CSV to write; default: standard output.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Which packets to see: `both` (arriving through XDP, leaving through TC egress; an end
    /// host's two-sided flows), `ingress` (arriving only: a router or bridge, attached on
    /// every interface, sees each forwarded packet once) or `egress`.
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
    /// How to attach XDP: native with a reported fallback to generic (skb) mode, or either
    /// one only.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub xdp_mode: AttachMode,
    /// How to attach the egress program: a TCX link (Linux 6.6+) when the kernel has it,
    /// else a clsact qdisc with a netlink filter; either can be forced.
    #[arg(long, value_enum, default_value_t = TcMode::Auto)]
    pub tc_mode: TcMode,
    /// Sample one packet in this many (per CPU) into --samples-out; 0 turns sampling off.
    #[arg(long, default_value_t = 0)]
    pub sample: u32,
    /// CSV file for packet samples.
    #[arg(long)]
    pub samples_out: Option<PathBuf>,
    /// A flow with no packet for this long is exported and removed from the kernel.
    #[arg(long, value_parser = limits::IDLE_TIMEOUT.parser(), default_value = "15s")]
    pub idle_timeout: Duration,
    /// A flow reporting for this long emits an interim record (merged into its row).
    #[arg(long, value_parser = limits::ACTIVE_TIMEOUT.parser(), default_value = "60s")]
    pub active_timeout: Duration,
    /// Flow map size (least recently used flows are evicted beyond it, and counted).
    #[arg(long, value_parser = limits::FLOW_ENTRIES.parse_u32(),
          default_value_t = packetguard_common::config::DEFAULT_FLOW_ENTRIES)]
    pub flow_entries: u32,
    /// Write each kernel record as its own row instead of one row per flow.
    #[arg(long)]
    pub per_record: bool,
}

/// Where rows go: merged per flow (default) or one per record.
struct RowSink<W: Write> {
    out: RowWriter<W>,
    merger: FlowMerger,
    per_record: bool,
    /// The rows' context features, from the flow starts.
    context: FlowContext,
}

/// The CSV and the first error writing it (callbacks cannot return one).
struct RowWriter<W: Write> {
    csv: FlowCsvWriter<W>,
    error: Option<std::io::Error>,
}

impl<W: Write> RowWriter<W> {
    fn write(&mut self, row: FlowRow, context: &FlowContext) {
        if self.error.is_none() {
            let prior = context.prior_login_attempts(&row.key, row.stats.flow_start_ns);
            if let Err(e) = self.csv.write_row(&row, prior) {
                self.error = Some(e);
            }
        }
    }
}

impl<W: Write> RowSink<W> {
    fn record(&mut self, rec: &FlowRecord) {
        let (out, context) = (&mut self.out, &self.context);
        if self.per_record {
            out.write(FlowRow::from_record(rec), context);
        } else {
            self.merger.add(rec, |row| out.write(row, context));
        }
    }

    fn removed(&mut self, r: Removed) {
        if let Some(rec) = &r.record {
            self.record(rec);
        }
        if !self.per_record {
            let (out, context) = (&mut self.out, &self.context);
            self.merger
                .close(&r.key, r.flow_start_ns, |row| out.write(row, context));
        }
        self.context.forget(&r.key, r.flow_start_ns);
    }

    /// The first write error so far, if any.
    fn take_error(&mut self) -> Option<std::io::Error> {
        self.out.error.take()
    }

    /// Writes the rows still open and flushes; returns the number of rows written.
    fn finish(mut self) -> std::io::Result<u64> {
        let (out, context) = (&mut self.out, &self.context);
        self.merger.finish(|row| out.write(row, context));
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        self.out.csv.flush()?;
        Ok(self.out.csv.rows())
    }
}

fn open_out(path: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

fn write_sample(out: &mut dyn Write, s: &packetguard_common::PacketSample) -> std::io::Result<()> {
    let e = Endpoints::of(&s.key, s.src_is_a);
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{}",
        crate::flows::monotonic_to_unix_ms(s.ts_ns),
        e.src,
        e.dst,
        e.src_port,
        e.dst_port,
        e.protocol,
        if s.direction == 0 { "fwd" } else { "bwd" },
        s.len,
        s.payload_len,
        s.tcp_flags,
        s.ttl
    )
}

/// Runs the collection; returns once everything is exported and detached.
pub fn run(mut args: CollectArgs) -> Result<()> {
    if args.iface.is_empty() {
        args.iface
            .push(crate::datapath::interface_or_default(None)?);
    }
    for iface in &args.iface {
        interface_index(iface)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(collect(args))
}

async fn collect(args: CollectArgs) -> Result<()> {
    let stop = stop_signal(args.duration)?;
    let out = open_out(&args.out)?;
    let mut samples_out = match &args.samples_out {
        Some(p) => {
            let mut f = BufWriter::new(
                File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
            );
            writeln!(f, "ts_unix_ms,src_ip,dst_ip,src_port,dst_port,protocol,direction,len,payload_len,tcp_flags,ttl")?;
            Some(f)
        }
        None => None,
    };
    let cfg = DataPathConfig {
        flow_entries: args.flow_entries,
        active_timeout: args.active_timeout,
        sample_every: args.sample,
        // The rows' context features come from the flow starts.
        emit_flow_starts: true,
        ..DataPathConfig::default()
    };
    let mut dp = DataPath::load(&cfg)?;
    let opts = AttachOptions {
        direction: args.direction,
        xdp_mode: args.xdp_mode,
        tc_mode: args.tc_mode,
    };
    for iface in &args.iface {
        let attached = dp.attach(iface, opts)?;
        eprintln!("attached: {}", Attachment::describe(attached));
    }
    let mut drain = Drain::new(dp.take_events()?)?;
    let mut table = FlowTable::new(dp.take_flows()?);
    let counter_map = dp.take_counters()?;

    let mut sink = RowSink {
        out: RowWriter {
            csv: FlowCsvWriter::new(out)?,
            error: None,
        },
        merger: FlowMerger::default(),
        per_record: args.per_record,
        context: FlowContext::new(),
    };
    let mut sample_err: Option<std::io::Error> = None;
    let scan_every =
        (args.idle_timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let mut scan = tokio::time::interval(scan_every);
    scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            r = &mut stop => break r,
            res = drain.next_batch(4096, |ev| match ev {
                Event::Flow(rec) => sink.record(rec),
                Event::Sample(s) => if let Some(f) = samples_out.as_mut() {
                    if let Err(e) = write_sample(f, s) { sample_err.get_or_insert(e); }
                },
                Event::FlowStart(start) => sink.context.observe_start(start),
            }) => { res.context("reading the ring buffer")?; }
            _ = scan.tick() => {
                table.expire_idle(monotonic_ns(), args.idle_timeout, |r| sink.removed(r))?;
            }
        }
        if let Some(e) = sink.take_error() {
            return Err(e).context("writing the flow CSV");
        }
    };
    eprintln!(
        "stopping ({}): detaching and exporting live flows",
        reason.as_str()
    );

    // Detach first so the map stops changing, then take what the last packets produced.
    dp.detach_all();
    drain.drain_now(|ev| {
        if let Event::Flow(rec) = ev {
            sink.record(rec)
        }
    });
    table.export_all(|r| sink.removed(r))?;
    let rows = sink.finish().context("writing the flow CSV")?;
    if let Some(mut f) = samples_out {
        f.flush().context("writing the samples CSV")?;
    }
    if let Some(e) = sample_err {
        return Err(e).context("writing the samples CSV");
    }

    let k = counters::read(&counter_map)?;
    // Detached and exported: nothing changes any more, so the ledger is exact.
    let losses = table.losses_settled(&k);
    print_summary(&k, &losses, rows, drain.stats.flows, drain.stats.samples);
    Ok(())
}

fn print_summary(
    k: &KernelCounters,
    losses: &FlowLosses,
    rows: u64,
    kernel_records: u64,
    samples: u64,
) {
    eprintln!(
        "summary: packets {} ({} bytes), flows {} (rows written), kernel records {}, samples {}, \
         records delayed {} (ring buffer full, sent later), flow starts and samples lost {} (ring buffer full), \
         flows evicted before export {} ({} packets), parse errors {}, non-IP frames {}",
        k.get(Counter::Packets),
        k.get(Counter::Bytes),
        rows,
        kernel_records,
        samples,
        k.get(Counter::RecordsDelayed),
        k.get(Counter::RingbufLost),
        losses.evicted_flows,
        losses.evicted_packets,
        k.get(Counter::ParseErrors),
        k.get(Counter::NonIp),
    );
}
