//! The outside world's copies: checkpoints written to a directory or POSTed to a URL, and
//! every event as a JSON line for a SIEM.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::config::{CheckpointSink, EventSink};
use crate::model::audit::checkpoint::Checkpoint;
use crate::model::audit::AuditEvent;

/// The file name of checkpoint `number` in a sink directory.
pub fn checkpoint_file(number: i64) -> String {
    format!("checkpoint-{number:010}.json")
}

/// Writes `cp` to the sink. A directory keeps one write-once file per checkpoint: a
/// different checkpoint under an existing number is refused, never overwritten.
pub async fn deliver(
    sink: &CheckpointSink,
    http: &reqwest::Client,
    cp: &Checkpoint,
) -> Result<(), String> {
    match sink {
        CheckpointSink::Dir(dir) => {
            let (dir, cp) = (dir.clone(), cp.clone());
            tokio::task::spawn_blocking(move || write_checkpoint_file(&dir, &cp))
                .await
                .map_err(|e| e.to_string())?
        }
        CheckpointSink::Http(url) => {
            let resp = http
                .post(url)
                .header("content-type", "application/json")
                .body(cp.to_json())
                .timeout(std::time::Duration::from_secs(10))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "{}: {}",
                        crate::model::secret::redact_url(url),
                        e.without_url()
                    )
                })?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!(
                    "{} answered {}",
                    crate::model::secret::redact_url(url),
                    resp.status()
                ))
            }
        }
    }
}

fn write_checkpoint_file(dir: &Path, cp: &Checkpoint) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    {
        use std::os::unix::fs::DirBuilderExt;
        // Only the broker's user reads its checkpoints here; the copy elsewhere is the one that counts.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail("creating", e))?;
    }
    let path = dir.join(checkpoint_file(cp.number));
    let json = cp.to_json();
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim_end() == json => return Ok(()),
        Ok(_) => {
            return Err(format!(
                "{} already holds a different checkpoint {}: refusing to overwrite it",
                path.display(),
                cp.number
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("reading", e)),
    }
    // A temporary file of its own (mode 0600): two deliveries of one checkpoint may run at
    // once. It is removed whatever happens.
    let tmp = write_temp(dir, &format!(".{}.", checkpoint_file(cp.number)), &json)
        .map_err(|e| fail("writing", e))?;
    // Never replaces an existing file: the file is written once.
    match tmp.persist_noclobber(&path) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail("writing", e.error)),
    }
    if std::fs::read_to_string(&path)
        .map_err(|e| fail("reading", e))?
        .trim_end()
        != json
    {
        return Err(format!(
            "{} already holds a different checkpoint {}: refusing to overwrite it",
            path.display(),
            cp.number
        ));
    }
    // The link is durable once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("syncing", e))
}

/// `json` and a newline, synced, in a new temporary file in `dir` named `prefix…`.
fn write_temp(dir: &Path, prefix: &str, json: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut f = tempfile::Builder::new()
        .prefix(prefix)
        .suffix(".tmp")
        .tempfile_in(dir)?;
    f.write_all(json.as_bytes())?;
    f.write_all(b"\n")?;
    f.as_file().sync_all()?;
    Ok(f)
}

/// Every checkpoint file in a sink directory, in number order.
pub fn read_checkpoint_dir(dir: &Path) -> Result<Vec<Checkpoint>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("checkpoint-") && name.ends_with(".json")) {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))?,
        );
    }
    out.sort_by_key(|c: &Checkpoint| c.number);
    Ok(out)
}

/// The newest checkpoint file in a sink directory (by number), `None` if it holds none.
pub fn newest_in_dir(dir: &Path) -> Result<Option<Checkpoint>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut newest: Option<(i64, PathBuf)> = None;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let number = name
            .strip_prefix("checkpoint-")
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(n) = number {
            if newest.as_ref().is_none_or(|(m, _)| *m < n) {
                newest = Some((n, path));
            }
        }
    }
    let Some((_, path)) = newest else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is not a checkpoint: {e}", path.display()))
}

/// Where the newest checkpoint an `https` sink acknowledged is remembered, in the data
/// directory: outside the database, so that removing checkpoints there is noticed even
/// when the sink cannot be read back.
pub fn acknowledged_file(data_dir: &Path) -> PathBuf {
    data_dir.join("audit-checkpoint-acknowledged.json")
}

/// Remembers `cp` as the newest checkpoint the sink acknowledged (an older one is kept).
pub fn remember_acknowledged(data_dir: &Path, cp: &Checkpoint) -> Result<(), String> {
    if acknowledged(data_dir)?.is_some_and(|known| known.number >= cp.number) {
        return Ok(());
    }
    let path = acknowledged_file(data_dir);
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    write_temp(data_dir, ".audit-checkpoint-acknowledged.", &cp.to_json())
        .map_err(fail)?
        .persist(&path)
        .map(drop)
        .map_err(|e| fail(e.error))
}

/// The newest checkpoint the `https` sink acknowledged, as remembered in the data directory.
pub fn acknowledged(data_dir: &Path) -> Result<Option<Checkpoint>, String> {
    let path = acknowledged_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is not a checkpoint: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// An open JSON-lines event feed.
pub struct EventWriter {
    out: Box<dyn Write + Send>,
    /// The last sequence number written.
    pub last_seq: i64,
}

impl EventWriter {
    /// Opens the sink. A file resumes after the last event it holds; standard output
    /// starts at `head` (what happened before the broker started is in the log, not here).
    pub fn open(sink: &EventSink, head: i64) -> Result<Self, String> {
        match sink {
            EventSink::Stdout => Ok(EventWriter {
                out: Box::new(std::io::stdout()),
                last_seq: head,
            }),
            EventSink::File(path) => {
                let last_seq = last_seq_in(path)?;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o640)
                    .open(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(EventWriter {
                    out: Box::new(file),
                    last_seq,
                })
            }
        }
    }

    /// Writes events (in order, after `last_seq`) as canonical JSON lines and flushes.
    pub fn write(&mut self, events: &[AuditEvent]) -> Result<(), String> {
        let mut buf = Vec::with_capacity(events.len() * 512);
        for e in events.iter().filter(|e| e.seq > self.last_seq) {
            crate::model::audit::chain::write_event(e, true, &mut buf)
                .map_err(|e| e.to_string())?;
            buf.push(b'\n');
        }
        self.out
            .write_all(&buf)
            .and_then(|()| self.out.flush())
            .map_err(|e| e.to_string())?;
        if let Some(last) = events.last() {
            self.last_seq = self.last_seq.max(last.seq);
        }
        Ok(())
    }
}

/// The `seq` of the last complete line of a JSON-lines file (0 if none); only the
/// file's tail is read.
fn last_seq_in(path: &PathBuf) -> Result<i64, String> {
    use std::io::{Read, Seek, SeekFrom};
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(fail(e)),
    };
    let len = file.metadata().map_err(fail)?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(1 << 16)))
        .map_err(fail)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(fail)?;
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: i64,
    }
    Ok(tail
        .rsplit(|b| *b == b'\n')
        .find_map(|line| serde_json::from_slice::<Seq>(line).ok())
        .map_or(0, |s| s.seq))
}
