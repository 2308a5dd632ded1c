//! How many scanned codes per second one core can turn into EPC URIs: a
//! typical GS1 DataMatrix payload (`]d2` + (01) GTIN + (17) expiry +
//! (10) lot + GS + (21) serial) through `gs1::parse_code` (the daemon's
//! path for every commissioned code) and `Identifier::epc_uri`, timed with
//! `std::time::Instant`. `parse_scan`, which also keeps every element for
//! `linegate code`, is measured beside it for reference.
//!
//! A packaging line produces a few hundred codes per second and a gateway
//! serves several lines, so the target is generous: at least two million
//! codes per second, so parsing never matters next to SQLite and the
//! network. Run with `cargo bench --bench gs1_parse` (release profile).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use linegate::gs1::{parse_code, parse_scan};

const TARGET_PER_SECOND: f64 = 2_000_000.0;

/// Distinct codes so nothing is accidentally cached between iterations.
fn codes() -> Vec<Vec<u8>> {
    (0..1024u32)
        .map(|i| format!("]d20100361414567894172701311024A{i:03}\x1d21SN{i:08}X").into_bytes())
        .collect()
}

/// Parses and converts every code `rounds` times; returns codes done.
fn run(codes: &[String], today: NaiveDate, rounds: usize) -> usize {
    let mut done = 0;
    for _ in 0..rounds {
        for code in codes {
            let code = parse_code(black_box(code), today).expect("the benchmark codes are valid");
            black_box(code.id.epc_uri(7).expect("prefix length 7 is valid"));
            done += 1;
        }
    }
    done
}

/// The same through `parse_scan`, which keeps the element list.
fn run_scan(codes: &[String], today: NaiveDate, rounds: usize) -> usize {
    let mut done = 0;
    for _ in 0..rounds {
        for code in codes {
            let scan = parse_scan(black_box(code.as_bytes()), today).expect("valid");
            let id = &scan.code.expect("an SGTIN").id;
            black_box(id.epc_uri(7).expect("prefix length 7 is valid"));
            done += 1;
        }
    }
    done
}

/// Best codes/s of five timed runs of `f`.
fn best_of_five(name: &str, f: impl Fn(usize) -> usize) -> f64 {
    f(50); // warm-up: dictionary parse, caches, allocator
    let mut best = 0.0f64;
    for attempt in 1..=5 {
        let start = Instant::now();
        let mut done = 0;
        while start.elapsed() < Duration::from_millis(600) {
            done += f(20);
        }
        let per_second = done as f64 / start.elapsed().as_secs_f64();
        best = best.max(per_second);
        println!("{name} run {attempt}: {done} codes, {per_second:.0} codes/s");
    }
    best
}

fn main() {
    let codes: Vec<String> = codes()
        .into_iter()
        .map(|c| String::from_utf8(c).expect("ASCII"))
        .collect();
    let today = NaiveDate::from_ymd_opt(2025, 6, 15).expect("a date");
    let scan = best_of_five("parse_scan + epc_uri", |r| run_scan(&codes, today, r));
    let best = best_of_five("parse_code + epc_uri", |r| run(&codes, today, r));
    let verdict = if best >= TARGET_PER_SECOND {
        "meets"
    } else {
        "BELOW"
    };
    println!("gs1_parse: parse_scan (all elements kept) best {scan:.0} codes/s on one core");
    println!(
        "gs1_parse: parse_code (daemon path) best {best:.0} codes/s on one core ({verdict} the target of {TARGET_PER_SECOND:.0})"
    );
}
