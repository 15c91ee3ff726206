//! Output folders that appear whole or not at all, and that never lose a user's file.
//!
//! A subcommand writes its files into a hidden temporary folder beside the target
//! (`.<name>.tmp-<pid>-<nanos>`), then swaps it into place: on Linux with one atomic
//! `renameat2(RENAME_EXCHANGE)`, elsewhere with two renames. A run interrupted at any
//! point (Ctrl-C, a crash, `kill -9`) leaves the previous report or the new one, never a
//! mix; its temporary folder is removed by the next run once its process is gone.
//!
//! Each report carries a marker file naming the command that wrote it and every file
//! and folder it wrote (its manifest). A rerun replaces a report of the same command
//! only if the folder holds nothing else; anything else (a user's notes, a folder they
//! added, another command's report, a report from before manifests) is refused, before
//! any work and again just before the swap, unless the caller forces it, and what a
//! forced run discards is listed.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// A report folder being written; [`commit`](Staging::commit) puts it in place.
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    temp: PathBuf,
    kind: String,
    force: bool,
    committed: bool,
}

/// The file in every report naming the command that wrote it, then its files.
pub const MARKER: &str = ".relukit-report";

/// The marker's line before the list of files (a marker without it is from before lists).
const MANIFEST: &str = "files:";

/// The longest file name most file systems take, in bytes.
const NAME_MAX: usize = 255;

/// Every file and folder under `dir`, as paths relative to it (`/`-separated, folders
/// ending in `/`), sorted; empty if `dir` does not exist.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(format!("{relative}/"));
                walk(&entry.path(), &format!("{relative}/"), out);
            } else {
                out.push(relative);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// What replacing `target` by a `kind` report would discard: nothing (absent, empty, or
/// a `kind` report whose manifest names everything in it), or a description of what is
/// there and the entries relukit did not write.
fn foreign(target: &Path, kind: &str) -> Option<(String, Vec<String>)> {
    let present = listing(target);
    if present.is_empty() {
        return None;
    }
    let shown = |names: &[String]| {
        let mut text = names
            .iter()
            .take(5)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > 5 {
            text.push_str(&format!(", and {} more", names.len() - 5));
        }
        text
    };
    let Ok(marker) = std::fs::read_to_string(target.join(MARKER)) else {
        return Some((
            format!("files relukit did not write ({})", shown(&present)),
            present,
        ));
    };
    let mut lines = marker.lines();
    let written = lines.next().unwrap_or("").trim();
    if written != kind {
        return Some((format!("the report of `relukit {written}`"), present));
    }
    if lines.next() != Some(MANIFEST) {
        return Some((
            "a report written before relukit listed its files (so it cannot tell yours from its own)"
                .to_string(),
            present,
        ));
    }
    let manifest: BTreeSet<&str> = lines.collect();
    let others: Vec<String> = present
        .into_iter()
        .filter(|p| p != MARKER && !manifest.contains(p.as_str()))
        .collect();
    if others.is_empty() {
        None
    } else {
        Some((
            format!("files relukit did not write ({})", shown(&others)),
            others,
        ))
    }
}

/// The refusal for `what` in `target`.
fn refusal(target: &Path, kind: &str, what: &str) -> String {
    format!(
        "{} holds {what}, which this `relukit {kind}` would discard: move them away, choose another \
         --out, or add --force to discard them",
        target.display()
    )
}

/// The prefix of this program's temporary folders for the target name `name`: readable
/// where it fits, else a short form with a hash of the whole name (a temporary folder's
/// name must fit the file system's limit as the target's does).
fn temp_prefix(name: &OsStr) -> String {
    let bytes = name.as_encoded_bytes();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    match name.to_str() {
        Some(text) if text.len() <= 160 => format!(".{text}.tmp-"),
        Some(text) => {
            let mut end = 120;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!(".{}~{hash:016x}.tmp-", &text[..end])
        }
        None => format!(".relukit~{hash:016x}.tmp-"),
    }
}

impl Staging {
    /// Starts writing the report of command `kind` that will replace `target` (created
    /// if needed). Fails before any work if the folder cannot be created or written, or
    /// (unless `force`) if it holds anything but a `kind` report's own files.
    pub fn new(target: &Path, kind: &str, force: bool) -> Result<Staging, String> {
        let cannot = |e: &dyn std::fmt::Display| {
            format!("cannot create the output folder {}: {e}", target.display())
        };
        let name = target
            .file_name()
            .filter(|n| !n.is_empty() && *n != "." && *n != "..")
            .ok_or_else(|| cannot(&"give a folder name (not `.`, `..` or `/`)"))?;
        if name.len() > NAME_MAX {
            return Err(cannot(&format_args!(
                "the name is {} bytes, more than the {NAME_MAX} a file system allows",
                name.len()
            )));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // `out/.` and `out/` name the folder `out`: the swap renames that.
        let target = parent.join(name);
        std::fs::create_dir_all(&parent).map_err(|e| cannot(&e))?;
        if target.exists() && !target.is_dir() {
            return Err(cannot(&"a file of that name is in the way"));
        }
        if !force && let Some((what, _)) = foreign(&target, kind) {
            return Err(refusal(&target, kind, &what));
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
            target,
            temp,
            kind: kind.to_string(),
            force,
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

    /// Puts the written folder in place of the target (replacing a previous report
    /// whole). The target is checked again first: a file that appeared in it while the
    /// report was written is never discarded without `force` (the new report is then
    /// kept beside it, and the error says where). Returns what a forced run discarded.
    pub fn commit(mut self) -> Result<Vec<String>, String> {
        let failed = |e: std::io::Error| {
            format!(
                "cannot move the new report into {}: {e}",
                self.target.display()
            )
        };
        let mut manifest = format!("{}\n{MANIFEST}\n", self.kind);
        for entry in listing(&self.temp) {
            if entry != MARKER {
                manifest.push_str(&entry);
                manifest.push('\n');
            }
        }
        std::fs::write(self.temp.join(MARKER), manifest).map_err(failed)?;
        let discarded = match foreign(&self.target, &self.kind) {
            Some((what, _)) if !self.force => {
                let mut kept = self.target.clone().into_os_string();
                kept.push(format!(".new-{}", std::process::id()));
                let kept = PathBuf::from(kept);
                let moved = std::fs::rename(&self.temp, &kept).is_ok();
                self.committed = moved;
                return Err(format!(
                    "{} now holds {what}, which appeared while relukit ran; nothing was replaced{}: \
                     move them away and run again, or add --force to discard them",
                    self.target.display(),
                    if moved {
                        format!(", and the new report is in {}", kept.display())
                    } else {
                        String::new()
                    }
                ));
            }
            Some((_, entries)) => entries,
            None => Vec::new(),
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
                return Ok(discarded);
            }
            // The temporary folder now holds the previous report.
            let _ = std::fs::remove_dir_all(&self.temp);
        } else {
            std::fs::rename(&self.temp, &self.target).map_err(failed)?;
        }
        self.committed = true;
        Ok(discarded)
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
fn remove_stale(parent: &Path, name: &OsStr) {
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
        let stale = dir.join(format!(
            "{}{}-0",
            temp_prefix(OsStr::new("report")),
            u32::MAX - 1
        ));
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
    fn files_a_user_added_to_a_report_survive_a_rerun() {
        let dir = scratch("user-files");
        let target = dir.join("rep");
        let first = Staging::new(&target, "study", false).unwrap();
        std::fs::write(first.path().join("report.md"), "first").unwrap();
        std::fs::create_dir(first.path().join("charts")).unwrap();
        std::fs::write(first.path().join("charts").join("a.png"), "png").unwrap();
        first.commit().unwrap();
        // A rerun over the program's own files is fine.
        let again = Staging::new(&target, "study", false).unwrap();
        std::fs::write(again.path().join("report.md"), "second").unwrap();
        assert!(again.commit().unwrap().is_empty());
        // Files the user added, at the top or in a folder, are refused, and kept.
        std::fs::write(target.join("my_notes.md"), "mine").unwrap();
        std::fs::create_dir(target.join("sub")).unwrap();
        std::fs::write(target.join("sub").join("x.txt"), "mine").unwrap();
        let err = Staging::new(&target, "study", false).unwrap_err();
        assert!(
            err.contains("my_notes.md") && err.contains("sub/") && err.contains("--force"),
            "{err}"
        );
        assert!(target.join("my_notes.md").exists() && target.join("sub/x.txt").exists());
        // --force discards them, and says so.
        let forced = Staging::new(&target, "study", true).unwrap();
        let discarded = forced.commit().unwrap();
        assert_eq!(discarded, vec!["my_notes.md", "sub/", "sub/x.txt"]);
        assert!(!target.join("my_notes.md").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_created_while_a_report_is_written_is_not_discarded() {
        let dir = scratch("during");
        let target = dir.join("rep");
        Staging::new(&target, "study", false)
            .unwrap()
            .commit()
            .unwrap();
        let running = Staging::new(&target, "study", false).unwrap();
        std::fs::write(running.path().join("report.md"), "new").unwrap();
        std::fs::write(target.join("written-meanwhile.txt"), "mine").unwrap();
        let err = running.commit().unwrap_err();
        assert!(
            err.contains("written-meanwhile.txt") && err.contains("nothing was replaced"),
            "{err}"
        );
        assert!(target.join("written-meanwhile.txt").exists());
        let kept = dir.join(format!("rep.new-{}", std::process::id()));
        assert_eq!(
            std::fs::read_to_string(kept.join("report.md")).unwrap(),
            "new",
            "the new report is kept beside"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn dot_long_and_non_utf8_folder_names_work_or_are_refused_before_any_work() {
        let dir = scratch("names");
        // `rep/.` is the folder `rep`.
        let dotted = dir.join("rep").join(".");
        let staging = Staging::new(&dotted, "study", false).unwrap();
        assert_eq!(staging.target(), dir.join("rep"));
        staging.commit().unwrap();
        assert!(dir.join("rep").join(MARKER).exists());
        // A name of 240 characters: its temporary folder's name still fits.
        let long = dir.join("r".repeat(240));
        let staging = Staging::new(&long, "study", false).unwrap();
        assert!(staging.path().file_name().unwrap().len() <= NAME_MAX);
        staging.commit().unwrap();
        assert!(long.join(MARKER).exists());
        // Longer than a file system takes: refused before any work.
        let err = Staging::new(&dir.join("r".repeat(300)), "study", false).unwrap_err();
        assert!(err.contains("300 bytes"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = dir.join(std::ffi::OsStr::from_bytes(b"rep-\xff"));
            let staging = Staging::new(&odd, "study", false).unwrap();
            staging.commit().unwrap();
            assert!(odd.join(MARKER).exists());
        }
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
