//! The printed result: one table row per server and client count, then the
//! gateway's ratios to each peer and the servers' CPU per call.

use super::load::Cell;
use super::processes::GATEWAY;

/// Every cell of one server, in client-count order.
pub struct ServerCells {
    pub server: &'static str,
    pub cells: Vec<Cell>,
}

pub fn print_table_header() {
    println!(
        "{:>7}  {:<9} {:>9} {:>8} {:>8} {:>18} {:>7}",
        "clients", "server", "calls/s", "p50 ms", "p99 ms", "server CPU µs/call", "errors"
    );
}

pub fn print_row(server: &str, cell: &Cell) {
    println!(
        "{:>7}  {:<9} {:>9.0} {:>8.2} {:>8.2} {:>18.0} {:>7}",
        cell.clients,
        server,
        cell.calls_per_second(),
        cell.latencies.percentile_ms(50.0),
        cell.latencies.percentile_ms(99.0),
        cell.cpu_micros_per_call(),
        cell.errors,
    );
}

/// The gateway against each peer, per client count: calls/s ratio (above 1
/// means the gateway serves more) and p50 ratio (above 1 means the gateway
/// answers slower), then every server's CPU per call.
pub fn print_ratios(all: &[ServerCells]) {
    let Some(gateway) = all.iter().find(|server| server.server == GATEWAY) else {
        return;
    };
    let mut columns: Vec<(String, Vec<String>)> = vec![(
        "clients".into(),
        gateway
            .cells
            .iter()
            .map(|cell| cell.clients.to_string())
            .collect(),
    )];
    for peer in all.iter().filter(|server| server.server != GATEWAY) {
        let pairs = || gateway.cells.iter().zip(&peer.cells);
        columns.push((
            format!("gateway/{} calls/s", peer.server),
            pairs()
                .map(|(ours, theirs)| {
                    times(ratio(ours.calls_per_second(), theirs.calls_per_second()))
                })
                .collect(),
        ));
        columns.push((
            format!("gateway/{} p50", peer.server),
            pairs()
                .map(|(ours, theirs)| {
                    times(ratio(
                        ours.latencies.percentile_ms(50.0),
                        theirs.latencies.percentile_ms(50.0),
                    ))
                })
                .collect(),
        ));
    }
    for server in all {
        columns.push((
            format!("{} µs/call", server.server),
            server
                .cells
                .iter()
                .map(|cell| format!("{:.0}", cell.cpu_micros_per_call()))
                .collect(),
        ));
    }
    println!();
    let widths: Vec<usize> = columns
        .iter()
        .map(|(label, _)| label.chars().count())
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:>width$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!(
        "{}",
        line(columns.iter().map(|(label, _)| label.as_str()).collect())
    );
    for row in 0..gateway.cells.len() {
        println!(
            "{}",
            line(
                columns
                    .iter()
                    .map(|(_, values)| values.get(row).map_or("-", String::as_str))
                    .collect()
            )
        );
    }
}

fn times(value: f64) -> String {
    format!("{value:.2}x")
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        f64::NAN
    }
}
