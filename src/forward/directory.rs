//! The directory sink: each document renamed into a pickup folder that an SFTP or AS2 tool
//! takes files from. Delivered means renamed into place.
//!
//! A pickup tool must never see half a document, even if linegate is killed mid-write: each
//! document is written to a temp file in `<folder>/.linegate-tmp/` (a hidden directory inside
//! the folder, so always on the same filesystem, even when the folder is a mount), fsynced,
//! renamed to `<folder>/<document id>.<ext>` and the folder fsynced. A rename is atomic: the
//! name shows either nothing, the old file or the complete new one. A document sent again
//! (retry, replay) replaces its own name, never a second copy. Temp files a crash left behind
//! are removed when the sink starts.
//!
//! Files are 0640: the pickup tool may run as another user of linegate's group; the temp
//! directory is 0700, and the folder is created 0700 when missing (widen it for the tool).

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::sink::{Outgoing, Verdict};
use crate::config::upstream_target::DirectoryTarget;

/// The hidden directory for files being written.
pub const TEMP_DIR: &str = ".linegate-tmp";
const FILE_MODE: u32 = 0o640;
const DIR_MODE: u32 = 0o700;

/// Errors setting the sink up (the folder cannot be created or written).
#[derive(Debug, thiserror::Error)]
pub enum DirectorySinkError {
    #[error(
        "cannot create the pickup folder {path}: {source} (create it, writable by the linegate service user, or fix the url)"
    )]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the pickup folder {path} is not a directory (fix the url)")]
    NotADirectory { path: PathBuf },
    #[error(
        "cannot use the pickup folder {path}: {source} (the linegate service user needs write access to it)"
    )]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub struct DirectorySink {
    dir: PathBuf,
    temp: PathBuf,
}

impl DirectorySink {
    /// Creates the folder (0700) if missing and its temp directory, and removes temp files a
    /// crash left behind.
    pub fn new(target: &DirectoryTarget) -> Result<Self, DirectorySinkError> {
        let dir = target.path.clone();
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(&dir)
                .map_err(|source| DirectorySinkError::Create {
                    path: dir.clone(),
                    source,
                })?;
            tracing::info!(folder = %dir.display(), "created the pickup folder (mode 0700)");
        }
        if !dir.is_dir() {
            return Err(DirectorySinkError::NotADirectory { path: dir });
        }
        let temp = dir.join(TEMP_DIR);
        let prepare = |source| DirectorySinkError::Prepare {
            path: dir.clone(),
            source,
        };
        make_temp_dir(&temp).map_err(prepare)?;
        for entry in std::fs::read_dir(&temp).map_err(prepare)? {
            let path = entry.map_err(prepare)?.path();
            if path.is_file() {
                std::fs::remove_file(&path).map_err(prepare)?;
                tracing::debug!(file = %path.display(), "removed a temp file left by an interrupted write");
            }
        }
        Ok(DirectorySink { dir, temp })
    }

    pub async fn send(&self, d: &Outgoing) -> Verdict {
        let name = d.file_name.clone();
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']) {
            return Verdict::Rejected {
                status: None,
                error: format!(
                    "'{name}' is not a plain file name; it cannot be put in the pickup folder"
                ),
                response: None,
            };
        }
        let body = match d.body.read_all().await {
            Ok(b) => b,
            Err(e) => return Verdict::retry(format!("cannot read the document's file: {e}")),
        };
        let (dir, temp) = (self.dir.clone(), self.temp.clone());
        let written = tokio::task::spawn_blocking(move || put(&dir, &temp, &name, &body)).await;
        match written {
            Ok(Ok(())) => Verdict::Delivered {
                status: None,
                response: None,
            },
            Ok(Err(e)) => Verdict::retry(e),
            Err(e) => Verdict::retry(format!("the write was cut off: {e}")),
        }
    }
}

fn make_temp_dir(temp: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(temp) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists && temp.is_dir() => Ok(()),
        other => other,
    }
}

/// Writes `body` as `dir/name`: temp file, fsync, rename, directory fsync. The error says what
/// to do.
fn put(dir: &Path, temp_dir: &Path, name: &str, body: &[u8]) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!(
            "the pickup folder {} is gone (unmounted or removed): restore it; will retry",
            dir.display()
        ));
    }
    let temp = temp_dir.join(format!("{name}.{:08x}.tmp", fastrand::u32(..)));
    let result = write_synced(temp_dir, &temp, body).and_then(|()| {
        std::fs::rename(&temp, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    });
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        explain(dir, name, &e)
    })
}

fn write_synced(temp_dir: &Path, temp: &Path, body: &[u8]) -> std::io::Result<()> {
    // The temp directory may have been removed by hand; it is ours, so it comes back.
    make_temp_dir(temp_dir)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(temp)?;
    // Whatever the umask: the pickup tool's group may read it.
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(body)?;
    file.sync_all()
}

fn explain(dir: &Path, name: &str, e: &std::io::Error) -> String {
    let dir = dir.display();
    let advice = match e.raw_os_error() {
        Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT) => {
            "the filesystem is full (or the quota used up): free space there"
        }
        Some(nix::libc::EACCES) | Some(nix::libc::EPERM) => {
            "the linegate service user needs write access to the folder"
        }
        Some(nix::libc::EROFS) => "the filesystem is mounted read-only: remount it read-write",
        _ => "check the folder",
    };
    format!("cannot put {name} into the pickup folder {dir}: {e} ({advice}); will retry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Body;

    fn doc(id: &str, body: &[u8]) -> Outgoing {
        Outgoing {
            document_id: id.into(),
            upstream: "as2".into(),
            kind: "end_of_batch".into(),
            batch: Some("B1".into()),
            part: 1,
            parts: 1,
            content_type: "application/xml".into(),
            file_name: format!("{id}.xml"),
            body: Body::Inline(body.to_vec()),
            attempts: 0,
        }
    }

    fn visible(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn documents_are_renamed_into_place_0640_and_a_resend_replaces_its_own_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("spool/outgoing");
        let sink = DirectorySink::new(&DirectoryTarget { path: dir.clone() }).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "created for linegate only");
        assert_eq!(mode(&dir.join(TEMP_DIR)), 0o700);

        let v = sink.send(&doc("d1", b"<a/>")).await;
        assert!(matches!(v, Verdict::Delivered { .. }), "{v:?}");
        assert_eq!(sink.send(&doc("d2", b"<b/>")).await, v);
        assert_eq!(sink.send(&doc("d1", b"<a/>")).await, v);
        assert_eq!(visible(&dir), ["d1.xml", "d2.xml"]);
        assert_eq!(std::fs::read(dir.join("d1.xml")).unwrap(), b"<a/>");
        assert_eq!(mode(&dir.join("d1.xml")), 0o640);
        assert_eq!(std::fs::read_dir(dir.join(TEMP_DIR)).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn leftovers_of_a_crash_are_removed_at_start_and_a_lost_temp_dir_comes_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().to_path_buf();
        std::fs::create_dir(dir.join(TEMP_DIR)).unwrap();
        std::fs::write(dir.join(TEMP_DIR).join("d1.xml.0000beef.tmp"), b"<a").unwrap();
        let sink = DirectorySink::new(&DirectoryTarget { path: dir.clone() }).unwrap();
        assert_eq!(std::fs::read_dir(dir.join(TEMP_DIR)).unwrap().count(), 0);
        std::fs::remove_dir(dir.join(TEMP_DIR)).unwrap();
        let v = sink.send(&doc("d1", b"<a/>")).await;
        assert!(matches!(v, Verdict::Delivered { .. }), "{v:?}");
        assert_eq!(visible(&dir), ["d1.xml"]);
    }

    #[tokio::test]
    async fn a_folder_that_cannot_be_written_is_a_retry_that_says_why() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let sink = DirectorySink::new(&DirectoryTarget { path: dir.clone() }).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        match sink.send(&doc("d1", b"<a/>")).await {
            Verdict::Retry { error, .. } => {
                assert!(
                    error.contains("is gone") && error.contains("restore it"),
                    "{error}"
                )
            }
            other => panic!("{other:?}"),
        }
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(TEMP_DIR), b"not a directory").unwrap();
        match sink.send(&doc("d1", b"<a/>")).await {
            Verdict::Retry { error, .. } => assert!(error.contains("d1.xml"), "{error}"),
            other => panic!("{other:?}"),
        }
        assert!(visible(&dir).is_empty());
        let odd = Outgoing {
            file_name: "../x.xml".into(),
            ..doc("d2", b"<a/>")
        };
        assert!(matches!(sink.send(&odd).await, Verdict::Rejected { .. }));
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let e = DirectorySink::new(&DirectoryTarget { path: file.clone() })
            .err()
            .expect("a file is no folder");
        assert!(e.to_string().contains("not a directory"), "{e}");
        let below = file.join("sub");
        let e = DirectorySink::new(&DirectoryTarget { path: below })
            .err()
            .expect("cannot create below a file");
        assert!(
            e.to_string().contains("cannot create the pickup folder"),
            "{e}"
        );
    }
}
