//! Output directories written whole or not at all.
//!
//! A run builds its files in a staging directory beside the destination
//! (`.<name>.cascade/out`, which also keeps the checkpoints of finished jobs), writes
//! `manifest.json` last with the size and SHA-256 of every other file, then swaps the
//! staging directory into place: the destination is, at every instant, the previous
//! complete output, nothing, or the new complete output — never a mix, never with files
//! of an earlier run left over (`timeseries_b.png` after variant b was renamed).
//!
//! Ownership: cascade replaces a directory only if everything in it is listed in its
//! manifest (or is one of the names an earlier version wrote). A directory holding
//! anything else is refused, unless `--force`: then cascade's files are replaced and the
//! others are carried over untouched.
//!
//! Readers ([`verify`]) check the manifest's list before they trust a number: a missing,
//! truncated or changed file is a one-line error, not a half-length chart.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::experiment::output::sha256::Sha256;
use crate::experiment::output::{FileEntry, Manifest, OutputError, files, read_manifest};

/// The data files cascade writes (charts aside).
pub const DATA_FILES: [&str; 4] = [
    "runs.csv",
    "summary.csv",
    "timeseries.csv",
    "timeseries.partial.csv",
];

/// A destination claimed for writing, and its staging area.
#[derive(Debug)]
pub struct Staging {
    /// The destination, absolute.
    pub dest: PathBuf,
    /// `.<name>.cascade[-purpose]` beside it: checkpoints and `out/`.
    pub root: PathBuf,
    /// Where the new output is built.
    pub out: PathBuf,
    /// Entries of the destination that cascade did not write, to carry over.
    keep: Vec<PathBuf>,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |cause| OutputError::write(path, cause)
}

/// Claims `dest` for a new output. Refuses a path that is not a directory, and (unless
/// `force`) a directory holding files cascade did not write. `purpose` tells concurrent
/// staging areas apart (`""` for runs and merges, `"plot"` for re-rendering).
pub fn claim(dest: &Path, force: bool, purpose: &str) -> Result<Staging, OutputError> {
    if dest.exists() && !dest.is_dir() {
        return Err(OutputError::read(
            dest,
            "is a file, not a directory: choose another --out",
        ));
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(write_err(dest))?;
    let abs = if dest.exists() {
        dest.canonicalize().map_err(write_err(dest))?
    } else {
        let name = dest
            .file_name()
            .ok_or_else(|| OutputError::read(dest, "needs a directory name"))?;
        parent.canonicalize().map_err(write_err(dest))?.join(name)
    };
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Err(OutputError::read(dest, "cannot hold an output (the root?)"));
    };
    let suffix = if purpose.is_empty() {
        String::new()
    } else {
        format!("-{purpose}")
    };
    let root = parent.join(format!(".{}.cascade{suffix}", name.to_string_lossy()));
    let foreign = if abs.exists() {
        foreign_entries(&abs)?
    } else {
        Vec::new()
    };
    // This process's own stdout or stderr redirected into the directory
    // (`--out d 2>d/err.log`) is carried over like a foreign file but refuses nothing.
    let refusing: Vec<&PathBuf> = foreign
        .iter()
        .filter(|rel| !is_own_output(&abs.join(rel)))
        .collect();
    if !refusing.is_empty() && !force {
        let foreign = refusing;
        let shown: Vec<String> = foreign
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        return Err(OutputError::read(
            dest,
            format!(
                "holds files cascade did not write ({}{}): choose another --out, or --force to write there anyway (cascade's own files are replaced, the others kept)",
                shown.join(", "),
                if foreign.len() > 3 { ", …" } else { "" }
            ),
        ));
    }
    fs::create_dir_all(&root).map_err(write_err(dest))?;
    Ok(Staging {
        out: root.join("out"),
        dest: abs,
        root,
        keep: foreign,
    })
}

/// Whether `path` is the file this process's standard output or error goes to (Linux:
/// the same device and inode as `/proc/self/fd/1` or `/2`; elsewhere never).
fn is_own_output(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = fs::metadata(path) else {
        return false;
    };
    ["/proc/self/fd/1", "/proc/self/fd/2"].iter().any(|fd| {
        fs::metadata(fd).is_ok_and(|o| o.is_file() && o.dev() == m.dev() && o.ino() == m.ino())
    })
}

/// Entries of `dir` (files, with those of `charts/` one by one) that cascade did not
/// write: not listed in its manifest, nor, for a directory of an earlier version without
/// a list, one of the names cascade writes.
fn foreign_entries(dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    let manifest = fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|v| v.get("crate_version").is_some_and(|c| c.is_string()));
    let listed: Option<BTreeSet<String>> = manifest.as_ref().and_then(|m| {
        let files = m.get("files")?.as_array()?;
        Some(
            files
                .iter()
                .filter_map(|f| f.get("path")?.as_str().map(str::to_string))
                .collect(),
        )
    });
    let ours = |rel: &str| -> bool {
        if rel == "manifest.json" {
            return manifest.is_some();
        }
        let name = rel.rsplit('/').next().unwrap_or(rel);
        // Temporary files of an interrupted earlier version.
        if manifest.is_some()
            && name.starts_with('.')
            && (name.ends_with(".tmp") || name.contains(".partial."))
        {
            return true;
        }
        match &listed {
            Some(l) => l.contains(rel),
            None if manifest.is_some() => {
                DATA_FILES.contains(&rel)
                    || (rel.starts_with("charts/")
                        && (name.ends_with(".png") || name.ends_with(".svg")))
            }
            None => false,
        }
    };
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(write_err(dir))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name == "charts" && path.is_dir() {
            for c in fs::read_dir(&path).map_err(write_err(&path))?.flatten() {
                let rel = format!("charts/{}", c.file_name().to_string_lossy());
                if !ours(&rel) {
                    out.push(PathBuf::from(rel));
                }
            }
        } else if !ours(&name) {
            out.push(PathBuf::from(name));
        }
    }
    out.sort();
    Ok(out)
}

impl Staging {
    /// An empty `out/` to build the new output in.
    pub fn begin(&self) -> Result<(), OutputError> {
        if self.out.exists() {
            fs::remove_dir_all(&self.out).map_err(write_err(&self.out))?;
        }
        fs::create_dir_all(&self.out).map_err(write_err(&self.out))
    }

    /// Where checkpoints of finished jobs live.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// Lists every file of `out/` in `manifest`, writes the manifest last, and swaps
    /// `out/` into place, carrying over the entries cascade did not write. Then removes
    /// the staging area (checkpoints included).
    pub fn commit(&self, manifest: &mut Manifest) -> Result<(), OutputError> {
        manifest.files = list_files(&self.out)?
            .into_iter()
            .filter(|f| f.path != "manifest.json")
            .collect();
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        files::write_file(&self.out, "manifest.json", &json)?;
        for rel in &self.keep {
            let (from, to) = (self.dest.join(rel), self.out.join(rel));
            if to.exists() {
                continue; // cascade's file of the same name replaces it
            }
            if let Some(p) = to.parent() {
                fs::create_dir_all(p).map_err(write_err(p))?;
            }
            fs::rename(&from, &to).map_err(write_err(&from))?;
        }
        let old = PathBuf::from(format!("{}-old", self.root.display()));
        if old.exists() {
            fs::remove_dir_all(&old).map_err(write_err(&old))?;
        }
        let had = self.dest.exists();
        if had {
            fs::rename(&self.dest, &old).map_err(write_err(&self.dest))?;
        }
        if let Err(cause) = fs::rename(&self.out, &self.dest) {
            if had {
                let _ = fs::rename(&old, &self.dest);
            }
            return Err(OutputError::write(&self.dest, cause));
        }
        if had {
            let _ = fs::remove_dir_all(&old);
        }
        let _ = fs::remove_dir_all(&self.root);
        Ok(())
    }

    /// Removes the staging area (checkpoints included): for a step that failed and has
    /// nothing worth resuming.
    pub fn discard(&self) {
        let _ = fs::remove_dir_all(&self.root);
    }

    /// Links (or copies) the data files of the claimed directory into `out/`, for a
    /// re-render that keeps the data and replaces the charts.
    pub fn reuse_data(&self, manifest: &Manifest) -> Result<(), OutputError> {
        for f in manifest
            .files
            .iter()
            .filter(|f| !f.path.starts_with("charts/"))
        {
            let (from, to) = (self.dest.join(&f.path), self.out.join(&f.path));
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(write_err(&to))?;
            }
        }
        super::write_draft(&self.out, manifest)
    }
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((n, h.hex()))
}

/// Every file under `dir` (sorted, `/`-separated), with size and hash.
fn list_files(dir: &Path) -> Result<Vec<FileEntry>, OutputError> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for e in fs::read_dir(dir)? {
            let e = e?;
            let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type()?.is_dir() {
                walk(&e.path(), &format!("{rel}/"), out)?;
            } else {
                out.push((rel, e.path()));
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, "", &mut paths).map_err(write_err(dir))?;
    paths.sort();
    paths
        .into_iter()
        .map(|(rel, path)| {
            let (bytes, sha256) = hash_file(&path).map_err(write_err(&path))?;
            Ok(FileEntry {
                path: rel,
                bytes,
                sha256,
            })
        })
        .collect()
}

/// Reads `dir`'s manifest and checks the files it lists are there, whole and unchanged
/// (`with_charts`: the charts too; otherwise the data files only), and that no data file
/// is there unlisted. The one-line error says which file and how it differs.
pub fn verify(dir: &Path, with_charts: bool) -> Result<Manifest, OutputError> {
    if !dir.is_dir() {
        return Err(OutputError::read(dir, "is not a directory"));
    }
    let m = read_manifest(dir)?;
    if m.files.is_empty() {
        return Err(OutputError::read(
            &dir.join("manifest.json"),
            "lists no files: not a complete output of this version of cascade (run the experiment again)",
        ));
    }
    for f in &m.files {
        if f.path.starts_with("charts/") && !with_charts {
            continue;
        }
        let path = dir.join(&f.path);
        let (bytes, sha) = hash_file(&path).map_err(|e| {
            OutputError::read(
                &path,
                format!(
                    "is listed in manifest.json but cannot be read ({e}): the output is incomplete"
                ),
            )
        })?;
        if bytes != f.bytes {
            return Err(OutputError::read(
                &path,
                format!(
                    "has {bytes} bytes where manifest.json lists {}: truncated or changed since cascade wrote it",
                    f.bytes
                ),
            ));
        }
        if sha != f.sha256 {
            return Err(OutputError::read(
                &path,
                "differs from the file cascade wrote (its SHA-256 does not match manifest.json)",
            ));
        }
    }
    for name in DATA_FILES {
        if dir.join(name).exists() && !m.files.iter().any(|f| f.path == name) {
            return Err(OutputError::read(
                &dir.join(name),
                "is not listed in manifest.json: it belongs to another run",
            ));
        }
    }
    Ok(m)
}
