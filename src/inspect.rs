//! `linegate code`: what linegate reads in a code, for a plant engineer commissioning a scanner.
//!
//! Each input (an argument, or one line of standard input with its raw bytes, GS included) goes
//! through exactly the parser the daemon uses, and the result is shown as the elements, the
//! identifier's EPC URI, or the error with its position. With `--json` there is exactly one JSON
//! object per input line, for scripts. The company-prefix lengths come from the configuration
//! file when there is one, else from GS1's table alone.

use std::io::{BufRead, Write};

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use crate::gs1::{self, CompanyPrefixes, EpcUri, Scan};

/// The outcome of one input, ready to print.
pub struct Inspected {
    pub input: String,
    pub result: Result<(Scan, Option<EpcUri>), String>,
}

/// Parses one input and renders its EPC URI (when it names an instance or a location).
pub fn inspect(raw: &[u8], prefixes: &CompanyPrefixes, today: NaiveDate) -> Inspected {
    let input = String::from_utf8_lossy(raw).into_owned();
    let result = gs1::parse_scan(raw, today)
        .map_err(|e| format!("{e} (at byte {})", e.position))
        .and_then(|scan| {
            let epc = if let Some(code) = &scan.code {
                Some(prefixes.epc_uri(code).map_err(|e| e.to_string())?)
            } else if let Some((gln, ext)) = &scan.sgln {
                Some(
                    prefixes
                        .sgln(gln, ext.as_deref())
                        .map_err(|e| e.to_string())?,
                )
            } else {
                None
            };
            Ok((scan, epc))
        });
    Inspected { input, result }
}

/// The `--json` form: one object per input.
pub fn to_json(i: &Inspected) -> Value {
    match &i.result {
        Ok((scan, epc)) => {
            let elements: Map<String, Value> = scan
                .elements
                .iter()
                .map(|e| (e.ai.to_string(), Value::String(e.value.clone())))
                .collect();
            let mut obj = json!({ "input": i.input, "ok": true, "form": scan.form.label(), "elements": elements });
            if let Some(epc) = epc {
                obj["epc"] = Value::String(epc.to_string());
            }
            obj
        }
        Err(e) => json!({ "input": i.input, "ok": false, "error": e }),
    }
}

/// The human form: a small block per input.
pub fn to_text(i: &Inspected) -> String {
    let shown = i.input.replace('\u{1d}', "<GS>");
    let mut rows = vec![format!("input  {shown}")];
    match &i.result {
        Ok((scan, epc)) => {
            rows.push(format!("form   {}", scan.form.label()));
            let body: Vec<Vec<String>> = scan
                .elements
                .iter()
                .map(|e| vec![format!("({})", e.ai), e.title.to_string(), e.value.clone()])
                .collect();
            rows.extend(
                crate::cli::table(&["AI", "TITLE", "VALUE"], body)
                    .lines()
                    .map(|l| format!("       {l}")),
            );
            match epc {
                Some(epc) => rows.push(format!("epc    {epc}")),
                None => rows.push(
                    "epc    - (no serialised identifier or location in this code)".to_string(),
                ),
            }
        }
        Err(e) => rows.push(format!("error  {e}")),
    }
    rows.join("\n")
}

/// Runs the command over `args`, or over standard input when there are none. Returns whether
/// every input parsed.
pub fn run(
    args: &[String],
    json: bool,
    prefixes: &CompanyPrefixes,
    out: &mut impl Write,
) -> std::io::Result<bool> {
    let today = chrono::Local::now().date_naive();
    let mut all_ok = true;
    let mut emit = |raw: &[u8], out: &mut dyn Write| -> std::io::Result<()> {
        let i = inspect(raw, prefixes, today);
        all_ok &= i.result.is_ok();
        if json {
            writeln!(out, "{}", to_json(&i))
        } else {
            writeln!(out, "{}\n", to_text(&i))
        }
    };
    if args.is_empty() {
        let stdin = std::io::stdin();
        for line in stdin.lock().split(b'\n') {
            let mut line = line?;
            while line.last().is_some_and(|b| *b == b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                emit(&line, out)?;
            }
        }
    } else {
        for a in args {
            emit(a.as_bytes(), out)?;
        }
    }
    Ok(all_ok)
}
