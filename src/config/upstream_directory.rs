//! The keys of a pickup-directory `[[upstream]]` (`url = "file:///path"`): a folder from which
//! an SFTP or AS2 tool takes the documents.
//!
//! Only an absolute path on this host is accepted: a relative one would depend on the
//! service's working directory, and `file://otherhost/…` is not something linegate can write
//! to. The folder itself is created (0700) when the forwarder starts, not here, so a CLI that
//! loads the same configuration never touches it.

use std::path::PathBuf;

use super::reader::{Problems, Table};
use super::upstream_target::DirectoryTarget;

pub(super) fn read(t: &Table<'_>, url: &str, p: &mut Problems) -> Option<DirectoryTarget> {
    match path_of(url) {
        Ok(path) => Some(DirectoryTarget { path }),
        Err(why) => {
            p.add(t.path_of("url"), why);
            None
        }
    }
}

/// The directory a `file:///…` URL names.
fn path_of(url: &str) -> Result<PathBuf, String> {
    let example = "e.g. url = \"file:///var/spool/linegate/outgoing\"";
    // `file:out` would be read as `/out`: only the explicit `file://` form is taken.
    if !url
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("file://"))
    {
        return Err(format!(
            "'{url}' must be file:// with three slashes and an absolute path: {example}"
        ));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("'{url}' is not a file:/// URL ({e}): {example}"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "'{url}' must name a directory only (no ? or #): {example}"
        ));
    }
    if parsed
        .host_str()
        .is_some_and(|h| !h.is_empty() && h != "localhost")
    {
        return Err(format!(
            "'{url}' names host '{}': a pickup directory is on this host, written with three \
             slashes and an absolute path: {example}",
            parsed.host_str().unwrap_or_default()
        ));
    }
    let path = parsed
        .to_file_path()
        .map_err(|()| format!("'{url}' is not an absolute directory path: {example}"))?;
    if !path.is_absolute() || path.parent().is_none() {
        return Err(format!(
            "'{url}' must be an absolute path below / (a folder of its own): {example}"
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absolute_path_on_this_host() {
        let ok = |u: &str| path_of(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        assert_eq!(
            ok("file:///var/spool/linegate/outgoing"),
            PathBuf::from("/var/spool/linegate/outgoing")
        );
        assert_eq!(
            ok("file://localhost/srv/as2/out/"),
            PathBuf::from("/srv/as2/out/")
        );
        assert_eq!(ok("file:///srv/AS2%20out"), PathBuf::from("/srv/AS2 out"));
    }

    #[test]
    fn anything_else_is_refused_with_an_example() {
        for (url, says) in [
            ("file://spool/outgoing", "host 'spool'"),
            ("file://fileserver/share/out", "three slashes"),
            ("file:///", "below /"),
            ("file:///srv/out?x=1", "no ? or #"),
            ("file:relative/out", "three slashes"),
            ("file:/srv/out", "three slashes"),
        ] {
            let e = path_of(url).expect_err(url);
            assert!(e.contains(says), "{url}: {e}");
            assert!(
                e.contains("file:///var/spool/linegate/outgoing"),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn the_upstream_reads_it_and_nothing_else() {
        use super::super::{ParseError, parse};
        use crate::config::upstream_target::Target;
        let text = r#"
[gateway]
data_dir = "/var/lib/linegate"
site_gln = "0361414000001"
[gs1]
company_prefixes = ["0361414"]
[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "acme/plant1"
[[line]]
id = "L1"
sgln = "urn:epc:id:sgln:0361414.00001.L1"
[[upstream]]
name = "as2"
url = "file:///var/spool/linegate/outgoing"
sender_gln = "0361414000001"
receiver_gln = "0614141000005"
"#;
        let c = parse(text).expect("a directory upstream");
        assert_eq!(
            c.upstreams[0].target,
            Target::Directory(DirectoryTarget {
                path: "/var/spool/linegate/outgoing".into()
            })
        );
        // A key of another kind of upstream is a mistake, not silently ignored.
        match parse(&format!("{text}topic = \"x\"\n")) {
            Err(ParseError::Invalid(p)) => {
                assert_eq!(p.len(), 1, "{p:#?}");
                assert_eq!(p[0].path, "upstream[0].topic");
            }
            other => panic!("{other:?}"),
        }
    }
}
