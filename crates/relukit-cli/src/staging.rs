//! Output folders that appear whole or not at all.
//!
//! A subcommand writes its files into a hidden temporary folder beside the target
//! (`.<name>.tmp-<pid>-<nanos>`), then swaps it into place: on Linux with one atomic
//! `renameat2(RENAME_EXCHANGE)`, elsewhere with two renames. A run interrupted at any
//! point (Ctrl-C, a crash, `kill -9`) leaves the previous report or the new one, never a
//! mix; its temporary folder is removed by the next run once its process is gone.
//!
//! Each report carries a marker file naming the command that wrote it: a folder holding
//! a report of the same command is replaced whole (no stale file of the earlier run
//! survives); a folder holding anything else (a user's files, another command's report,
//! a report from before markers) is refused unless the caller forces it.

use std::path::{Path, PathBuf};

/// A report folder being written; [`commit`](Staging::commit) puts it in place.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    temp: PathBuf,
    committed: bool,
}

/// The file in every report naming the command that wrote it.
pub const MARKER: &str = ".relukit-report";

/// Whether `target` may be replaced by a `kind` report: absent, empty, or a `kind`
/// report; otherwise an error that says what is there.
fn check_replaceable(target: &Path, kind: &str) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(target) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let what = match std::fs::read_to_string(target.join(MARKER)) {
        Ok(marker) if marker.trim() == kind => return Ok(()),
        Ok(marker) => format!("the report of `relukit {}`", marker.trim()),
        Err(_) => {
            let mut shown: Vec<&String> = names.iter().take(3).collect();
            shown.sort();
            format!(
                "files relukit did not write ({}{})",
                shown
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if names.len() > 3 { ", ..." } else { "" }
            )
        }
    };
    Err(format!(
        "{} holds {what}, which this `relukit {kind}` would replace whole: choose another --out, \
         or add --force to replace it",
        target.display()
    ))
}

/// The prefix of this program's temporary folders for `name`.
fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

impl Staging {
    /// Starts writing the report of command `kind` that will replace `target` (created
    /// if needed). Fails before any work if the folder cannot be created or written, or
    /// (unless `force`) if it holds something other than a `kind` report.
    pub fn new(target: &Path, kind: &str, force: bool) -> Result<Staging, String> {
        let cannot = |e: &dyn std::fmt::Display| {
            format!("cannot create the output folder {}: {e}", target.display())
        };
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| cannot(&"give a folder name (not `.`, `..` or `/`)"))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| cannot(&e))?;
        if target.exists() && !target.is_dir() {
            return Err(cannot(&"a file of that name is in the way"));
        }
        if !force {
            check_replaceable(target, kind)?;
        }
        remove_stale(&parent, name);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let temp = parent.join(format!(
            "{}{}-{nanos}",
            temp_prefix(name),
            std::process::id()
        ));
        std::fs::create_dir(&temp).map_err(|e| cannot(&e))?;
        std::fs::write(temp.join(MARKER), format!("{kind}\n")).map_err(|e| cannot(&e))?;
        Ok(Staging {
            target: target.to_path_buf(),
            temp,
            committed: false,
        })
    }

    /// The folder to write the report's files into.
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The folder the report will be in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the written folder in place of the target (replacing a previous report whole).
    pub fn commit(mut self) -> Result<(), String> {
        let failed = |e: std::io::Error| {
            format!(
                "cannot move the new report into {}: {e}",
                self.target.display()
            )
        };
        if self.target.exists() {
            if exchange(&self.temp, &self.target).is_err() {
                // No atomic exchange here: move the old report aside, then the new one in.
                let mut old = self.temp.clone().into_os_string();
                old.push("-old");
                let old = PathBuf::from(old);
                std::fs::rename(&self.target, &old).map_err(failed)?;
                std::fs::rename(&self.temp, &self.target).map_err(failed)?;
                let _ = std::fs::remove_dir_all(&old);
                self.committed = true;
                return Ok(());
            }
            // The temporary folder now holds the previous report.
            let _ = std::fs::remove_dir_all(&self.temp);
        } else {
            std::fs::rename(&self.temp, &self.target).map_err(failed)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

/// Swaps two paths atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let path = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (a, b) = (path(a)?, path(b)?);
    // SAFETY: both are valid NUL-terminated paths that outlive the call; renameat2 only
    // reads them.
    let status = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Removes the temporary folders of earlier runs for `name` whose process is gone.
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefix = temp_prefix(name);
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest
            .split(['-', '.'])
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid != std::process::id() && !alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process is running (where that can be known; elsewhere, assume it is).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("relukit-staging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_report_replaces_the_previous_one_whole() {
        let dir = scratch("replace");
        let target = dir.join("report");
        let first = Staging::new(&target, "study", false).unwrap();
        std::fs::write(first.path().join("a.txt"), "first").unwrap();
        std::fs::write(first.path().join("stale.txt"), "first").unwrap();
        first.commit().unwrap();
        let second = Staging::new(&target, "study", false).unwrap();
        std::fs::write(second.path().join("a.txt"), "second").unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "first"
        );
        second.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "second"
        );
        assert!(
            !target.join("stale.txt").exists(),
            "a file of the old report survived"
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("report")], "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_abandoned_report_leaves_the_old_one_and_no_temporary_folder() {
        let dir = scratch("abandon");
        let target = dir.join("report");
        let first = Staging::new(&target, "study", false).unwrap();
        std::fs::write(first.path().join("a.txt"), "first").unwrap();
        first.commit().unwrap();
        {
            let second = Staging::new(&target, "study", false).unwrap();
            std::fs::write(second.path().join("a.txt"), "half").unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(target.join("a.txt")).unwrap(),
            "first"
        );
        // A temporary folder of a process that is gone is removed by the next run.
        let stale = dir.join(format!("{}{}-0", temp_prefix("report"), u32::MAX - 1));
        std::fs::create_dir(&stale).unwrap();
        drop(Staging::new(&target, "study", false).unwrap());
        assert!(!stale.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_of_other_files_is_refused_unless_forced() {
        let dir = scratch("foreign");
        let target = dir.join("documents");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("thesis.tex"), "x").unwrap();
        let err = Staging::new(&target, "study", false).unwrap_err();
        assert!(
            err.contains("files relukit did not write (thesis.tex)") && err.contains("--force"),
            "{err}"
        );
        assert!(target.join("thesis.tex").exists(), "nothing touched");
        // Another command's report is refused too.
        let bench = dir.join("bench");
        Staging::new(&bench, "bench", false)
            .unwrap()
            .commit()
            .unwrap();
        let err = Staging::new(&bench, "study", false).unwrap_err();
        assert!(err.contains("the report of `relukit bench`"), "{err}");
        // The same command's report is replaced; --force replaces anything.
        Staging::new(&bench, "bench", false)
            .unwrap()
            .commit()
            .unwrap();
        let forced = Staging::new(&target, "study", true).unwrap();
        forced.commit().unwrap();
        assert!(!target.join("thesis.tex").exists() && target.join(MARKER).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let dir = scratch("file");
        std::fs::write(dir.join("report"), "x").unwrap();
        let err = Staging::new(&dir.join("report"), "study", false).unwrap_err();
        assert!(err.contains("cannot create the output folder"), "{err}");
        let err = Staging::new(&dir.join("report").join("inner"), "study", false).unwrap_err();
        assert!(err.contains("cannot create the output folder"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
