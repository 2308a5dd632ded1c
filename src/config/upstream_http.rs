//! The keys of an HTTP(S) `[[upstream]]` (`url = "https://…"`).

use std::path::PathBuf;

use super::reader::{Problems, Table};
use super::upstream_target::HttpTarget;

pub(super) fn read(t: &Table<'_>, url: &str, p: &mut Problems) -> Option<HttpTarget> {
    let ok = reqwest::Url::parse(url)
        .is_ok_and(|x| matches!(x.scheme(), "http" | "https") && x.host_str().is_some());
    if !ok {
        p.add(
            t.path_of("url"),
            format!("'{url}' must be an http:// or https:// URL"),
        );
    }
    let ca_file = t.opt_string("ca_file", p).map(PathBuf::from);
    ok.then(|| HttpTarget {
        url: url.to_string(),
        ca_file,
        client_auth: None,
        auth: None,
        headers: Vec::new(),
        gzip: false,
        insecure_skip_verify: false,
    })
}
