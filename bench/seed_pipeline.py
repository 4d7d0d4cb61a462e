#!/usr/bin/env python3
"""A seed-style detector, as the small Python tools PacketGuard's users come from build one.

A Scapy sniffer hands every packet to a callback that extracts a few header features; every
BATCH packets (or every second) the batch is scored with scikit-learn's IsolationForest in
the sniffer's thread, as these tools do. The model is fitted at startup on generated rows
(such tools load one trained offline), so fitting costs the capture nothing. `cargo xtask bench` runs it on the victim's
interface to measure what such a pipeline accounts for and what it costs per packet.

Usage: seed_pipeline.py IFACE. It prints "ready" to stderr once sniffing, and on SIGTERM or
SIGINT one JSON line to stdout: {"packets": N, "scored": M, "anomalies": K}.
"""

import json
import signal
import sys
import threading
import time

import numpy as np
from scapy.all import ICMP, IP, TCP, UDP, AsyncSniffer
from sklearn.ensemble import IsolationForest

BATCH = 1000


def normal_rows(n):
    """Rows like ordinary web and DNS client traffic, with a fixed seed."""
    rng = np.random.default_rng(1)
    tcp = rng.random(n) < 0.8
    return np.column_stack([
        rng.integers(54, 1500, n),
        np.where(tcp, 6, 17),
        rng.integers(32768, 61000, n),
        np.where(tcp, rng.choice([80, 443], n), 53),
        np.where(tcp, rng.choice([0x10, 0x18, 0x02, 0x11], n), 0),
        rng.choice([64, 128], n),
    ]).astype(np.float64)


class Pipeline:
    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []
        self.packets = 0
        self.scored = 0
        self.anomalies = 0
        self.model = IsolationForest(n_estimators=100, max_samples=256, random_state=1)
        self.model.fit(normal_rows(2048))
        self.last = time.monotonic()

    def features(self, pkt):
        """Length, protocol, ports, TCP flags and TTL: what these detectors usually take."""
        if IP not in pkt:
            return [len(pkt), 0, 0, 0, 0, 0]
        ip = pkt[IP]
        sport = dport = flags = 0
        if TCP in pkt:
            sport, dport, flags = pkt[TCP].sport, pkt[TCP].dport, int(pkt[TCP].flags)
        elif UDP in pkt:
            sport, dport = pkt[UDP].sport, pkt[UDP].dport
        elif ICMP in pkt:
            sport = pkt[ICMP].type
        return [len(pkt), ip.proto, sport, dport, flags, ip.ttl]

    def on_packet(self, pkt):
        row = self.features(pkt)
        with self.lock:
            self.packets += 1
            self.rows.append(row)
            due = len(self.rows) >= BATCH or time.monotonic() - self.last >= 1.0
        if due:
            self.score()

    def score(self):
        with self.lock:
            rows, self.rows = self.rows, []
            self.last = time.monotonic()
        if not rows:
            return
        x = np.asarray(rows, dtype=np.float64)
        verdicts = self.model.predict(x)
        self.scored += len(rows)
        self.anomalies += int((verdicts == -1).sum())


def main():
    if len(sys.argv) != 2:
        print("usage: seed_pipeline.py IFACE", file=sys.stderr)
        sys.exit(2)
    pipeline = Pipeline()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    started = threading.Event()
    sniffer = AsyncSniffer(iface=sys.argv[1], prn=pipeline.on_packet, store=False,
                           started_callback=started.set)
    sniffer.start()
    if not started.wait(10):
        print("the sniffer did not start within 10 s", file=sys.stderr)
        sys.exit(1)
    print("ready", file=sys.stderr, flush=True)
    stop.wait()
    sniffer.stop()
    pipeline.score()
    print(json.dumps({"packets": pipeline.packets, "scored": pipeline.scored,
                      "anomalies": pipeline.anomalies}), flush=True)


if __name__ == "__main__":
    main()
