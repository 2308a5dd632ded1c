//! The keys of a pickup-directory `[[upstream]]` (`url = "file:///path"`).

use super::reader::{Problems, Table};
use super::upstream_target::DirectoryTarget;

pub(super) fn read(t: &Table<'_>, url: &str, p: &mut Problems) -> Option<DirectoryTarget> {
    p.add(
        t.path_of("url"),
        format!("'{url}': directory upstreams are not supported yet"),
    );
    None
}
