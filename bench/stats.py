"""Percentiles and the printed table."""
import math
import statistics


def pct(values, p):
    """The ``p``-th percentile (nearest rank); ``None`` when there are no values."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


#: (key, heading, format); the medians of these are printed.
COLUMNS = [
    ("msgs_per_s", "msg/s", "{:,.0f}"),
    ("ack_p50", "ack p50", "{:.1f}"), ("ack_p95", "ack p95", "{:.1f}"),
    ("ack_p99", "ack p99", "{:.1f}"),
    ("e2e_p50", "dlv p50", "{:.1f}"), ("e2e_p95", "dlv p95", "{:.1f}"),
    ("e2e_p99", "dlv p99", "{:.1f}"),
    ("victim_ack_p99", "victim p99", "{:.1f}"),
    ("lost", "lost", "{:d}"), ("duplicates", "dup", "{:d}"), ("error_count", "err", "{:d}"),
    ("connect_failed", "conn fail", "{:d}"),
    ("rss_per_conn_kib", "KiB/conn", "{:.1f}"),
    ("server_cpu_pct", "srv CPU%", "{:.0f}"),
    ("load1", "load", "{:.1f}"),  # the machine's 1-minute load average after each run
]



def summarize(runs):
    """Median of each column over runs; counts (lost, dup, errors) are summed."""
    out = {}
    for key, _, _ in COLUMNS:
        vals = [r.get(key) for r in runs]
        if key in ("lost", "duplicates", "error_count", "connect_failed"):
            vals = [v for v in vals if v is not None]
            out[key] = sum(vals) if vals else None
        else:
            out[key] = median(vals)
    return out


def _cell(fmt, v):
    if v is None:
        return "-"
    return fmt.format(int(v) if fmt == "{:d}" else v)


def table(rows):
    """``rows``: (scenario, server, summary) -> aligned text, ms for latencies."""
    used = [c for c in COLUMNS if any(r[2].get(c[0]) is not None for r in rows)]
    head = ["scenario", "server"] + [h for _, h, _ in used]
    body = [[sc, srv] + [_cell(f, s.get(k)) for k, _, f in used] for sc, srv, s in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(r, widths)) for r in [head] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


