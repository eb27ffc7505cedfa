//! Output files written whole or not at all: the path is checked before a long run
//! ([`check_out_path`]), and the bytes go to a sibling `<name>.tmp` that is renamed over the target
//! only once complete ([`write_atomic`]), so a failed run never leaves a complete-looking file, nor
//! a stray temporary one.
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Check that `p` can be written before a long run: its folder must exist and `p`, if it exists,
/// must be a regular file ([`refuse_non_regular`]). `flag` names the argument in the error.
pub fn check_out_path(flag: &str, p: &Path) -> Result<()> {
    let parent = p.parent().filter(|x| !x.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(Error::invalid(flag, format!("folder {} does not exist", parent.display())));
    }
    refuse_non_regular(p)
}

/// Refuse an output path that exists and is not a regular file (a folder, `/dev/null`, a pipe):
/// it would be written through a sibling `.tmp` or get a sidecar beside it.
pub fn refuse_non_regular(p: &Path) -> Result<()> {
    match std::fs::metadata(p) {
        Ok(m) if !m.is_file() => Err(Error::invalid(
            p.display().to_string(),
            "not a regular file (a folder, a device or a pipe): expected a path for a file",
        )),
        _ => Ok(()),
    }
}

/// `p` with `.ext` appended to its whole name (`r.jsonl` → `r.jsonl.tmp`, so that it never collides
/// with a file of another extension).
pub fn with_suffix(p: &Path, ext: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{ext}"));
    PathBuf::from(s)
}

/// Write `bytes` to `p` through a temporary sibling ([`with_suffix`] `tmp`) renamed over it; on
/// failure the temporary file is removed and the error names `p`.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(p, "tmp");
    let done = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, p));
    done.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(p, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("attnproof-out-file-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("target_is_a_folder")).unwrap();
        let p = dir.join("target_is_a_folder");
        assert!(write_atomic(&p, b"x").unwrap_err().to_string().contains("target_is_a_folder"));
        assert!(!with_suffix(&p, "tmp").exists());
        assert!(check_out_path("--out", &p).is_err());
        assert!(check_out_path("--out", &dir.join("no/such/folder.jsonl")).is_err());
        let f = dir.join("r.jsonl");
        check_out_path("--out", &f).unwrap();
        write_atomic(&f, b"line\n").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"line\n");
        assert_eq!(with_suffix(&f, "tmp").file_name().unwrap(), "r.jsonl.tmp");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
