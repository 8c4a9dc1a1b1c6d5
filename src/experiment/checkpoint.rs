//! Checkpoints: every finished job saved to its own file, so that an interrupted run
//! (Ctrl-C, a killed process, a pre-empted cluster node) resumes where it stopped and
//! ends byte-identical to a run that never stopped.
//!
//! Why one file per job: a job's file is written under a temporary name and renamed
//! when complete, so a kill at any instant leaves either the whole job or nothing, and
//! workers never contend for one file. Values are stored as their exact bits (no
//! decimal round trip), so a resumed aggregation adds exactly the numbers a fresh run
//! would have. A file that fails its checksum, or belongs to another job, is ignored and
//! the job runs again.
//!
//! The directory also holds `plan.json`, a fingerprint of everything that decides the
//! results (the resolved experiment, every model, the shard, the crate version):
//! checkpoints of another configuration are never reused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::experiment::results::{Series, SeriesKey};
use crate::experiment::runner::{JobResult, JobStore};
use crate::experiment::spec::Job;

const MAGIC: &[u8; 12] = b"CASCADE-JOB1";

/// Finished jobs of one configuration, in a directory.
pub struct Checkpoints {
    dir: PathBuf,
}

/// Why checkpoints cannot be used. Consequence: nothing was run.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The directory or its fingerprint cannot be written or read.
    #[error("{}: {cause}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// `--resume` found checkpoints of another configuration.
    #[error(
        "{}: the saved jobs belong to a different configuration (experiment, model, seed, shard or version changed): run without --resume to start over",
        .path.display()
    )]
    Mismatch {
        /// The fingerprint file.
        path: PathBuf,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |cause| CheckpointError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

impl Checkpoints {
    /// Opens `dir` for a run with `fingerprint`. Resuming keeps the saved jobs (an
    /// error if they belong to another fingerprint); otherwise the directory is emptied.
    /// Returns the store and how many job files it holds.
    pub fn open(
        dir: &Path,
        fingerprint: &str,
        resume: bool,
    ) -> Result<(Self, usize), CheckpointError> {
        let plan = dir.join("plan.json");
        let expected = format!("{{\"fingerprint\":\"{fingerprint}\"}}\n");
        if resume && plan.exists() {
            let found = fs::read_to_string(&plan).map_err(io(&plan))?;
            if found != expected {
                return Err(CheckpointError::Mismatch { path: plan });
            }
        } else {
            if dir.exists() {
                fs::remove_dir_all(dir).map_err(io(dir))?;
            }
            fs::create_dir_all(dir).map_err(io(dir))?;
            write_atomic(&plan, expected.as_bytes()).map_err(io(&plan))?;
        }
        let saved = fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".job"))
            .count();
        Ok((
            Checkpoints {
                dir: dir.to_path_buf(),
            },
            saved,
        ))
    }

    fn path(&self, job: &Job) -> PathBuf {
        self.dir.join(format!("{:07}.job", job.index))
    }
}

impl JobStore for Checkpoints {
    fn load(&self, job: &Job) -> Option<(JobResult, Series)> {
        let bytes = fs::read(self.path(job)).ok()?;
        decode(&bytes).filter(|(r, _)| r.job == *job)
    }

    fn save(&self, result: &JobResult, series: &Series) -> Result<(), String> {
        let path = self.path(&result.job);
        write_atomic(&path, &encode(result, series)).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// FNV-1a, 64 bits: enough to tell a damaged file from a whole one.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn encode(r: &JobResult, series: &Series) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    let u64s = |b: &mut Vec<u8>, x: u64| b.extend_from_slice(&x.to_le_bytes());
    let text = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as u64).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    let floats = |b: &mut Vec<u8>, xs: &[f64]| {
        b.extend_from_slice(&(xs.len() as u64).to_le_bytes());
        for x in xs {
            b.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    };
    let j = &r.job;
    for x in [
        j.index as u64,
        j.variant as u64,
        j.point as u64,
        j.replication as u64,
    ] {
        u64s(&mut b, x);
    }
    floats(&mut b, &r.values);
    match &r.diverged {
        Some(d) => {
            u64s(&mut b, 1);
            text(&mut b, d);
        }
        None => u64s(&mut b, 0),
    }
    u64s(&mut b, series.len() as u64);
    for (key, values) in series {
        text(&mut b, &key.metric);
        text(&mut b, &key.entity);
        floats(&mut b, values);
    }
    let sum = fnv(&b);
    u64s(&mut b, sum);
    b
}

/// Reads what [`encode`] wrote; `None` for anything else.
fn decode(bytes: &[u8]) -> Option<(JobResult, Series)> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if !body.starts_with(MAGIC) || fnv(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = Reader {
        rest: &body[MAGIC.len()..],
    };
    let job = Job {
        index: r.u64()? as usize,
        variant: r.u64()? as usize,
        point: r.u64()? as usize,
        replication: u32::try_from(r.u64()?).ok()?,
    };
    let values = r.floats()?;
    let diverged = match r.u64()? {
        0 => None,
        _ => Some(r.text()?),
    };
    let n = r.u64()?;
    let mut series = Vec::new();
    for _ in 0..n {
        let key = SeriesKey {
            metric: r.text()?,
            entity: r.text()?,
        };
        series.push((key, r.floats()?));
    }
    r.rest.is_empty().then_some((
        JobResult {
            job,
            values,
            diverged,
        },
        series,
    ))
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, tail) = self.rest.split_at_checked(n)?;
        self.rest = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn len(&mut self, unit: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(unit)? <= self.rest.len()).then_some(n)
    }
    fn text(&mut self) -> Option<String> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn floats(&mut self) -> Option<Vec<f64>> {
        let n = self.len(8)?;
        let raw = self.take(n * 8)?;
        Some(
            raw.chunks_exact(8)
                .map(|c| f64::from_bits(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (JobResult, Series) {
        (
            JobResult {
                job: Job {
                    index: 5,
                    variant: 1,
                    point: 2,
                    replication: 3,
                },
                values: vec![0.1, f64::NAN, -0.0, 1e300],
                diverged: Some("diverged at 3m".into()),
            },
            vec![(SeriesKey::of("busy", "api"), vec![1.5, f64::NAN])],
        )
    }

    #[test]
    fn a_saved_job_reads_back_bit_for_bit() {
        let (r, s) = sample();
        let (r2, s2) = decode(&encode(&r, &s)).unwrap();
        assert_eq!(r2.job, r.job);
        assert_eq!(r2.diverged, r.diverged);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&r2.values), bits(&r.values));
        assert_eq!(s2[0].0, s[0].0);
        assert_eq!(bits(&s2[0].1), bits(&s[0].1));
    }

    #[test]
    fn a_damaged_or_truncated_file_is_not_a_job() {
        let (r, s) = sample();
        let bytes = encode(&r, &s);
        for cut in [0, 7, 12, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_none(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).is_none());
    }

    #[test]
    fn resuming_another_configuration_is_refused() {
        let dir = std::env::temp_dir().join(format!("cascade-ckpt-{}", std::process::id()));
        let (store, n) = Checkpoints::open(&dir, "aaa", false).unwrap();
        assert_eq!(n, 0);
        let (r, s) = sample();
        store.save(&r, &s).unwrap();
        assert_eq!(Checkpoints::open(&dir, "aaa", true).unwrap().1, 1);
        assert!(matches!(
            Checkpoints::open(&dir, "bbb", true),
            Err(CheckpointError::Mismatch { .. })
        ));
        assert_eq!(
            Checkpoints::open(&dir, "bbb", false).unwrap().1,
            0,
            "a fresh start empties it"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
