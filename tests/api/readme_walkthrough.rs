//! The README's "Five minutes with latchkey", run as written: the server command of "The
//! two commands" and then every command of the walkthrough, in order, read from README.md
//! itself so the two cannot drift. `bash` runs each line with `latchkey` on `PATH`; the
//! README's address becomes a free port, its `/tmp/` a temporary directory, and `ID` the
//! request made last. A comment's `exit code N` is the code the line must end with (0
//! where none is named). A line ending in `&`, and `latchkey stream`, run in the
//! background (the README's "another terminal") and must have ended so by the end.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cli_and_config::{free_port, wait_ready};

const BIN: &str = env!("CARGO_BIN_EXE_latchkey");
const README_ADDR: &str = "127.0.0.1:8080";

/// The lines of the first ```sh block after the heading `heading`.
fn sh_block(readme: &str, heading: &str) -> Vec<String> {
    let section = &readme[readme.find(heading).unwrap_or_else(|| panic!("{heading}"))..];
    let start = section.find("```sh\n").expect("a sh block") + 6;
    let end = start + section[start..].find("```").expect("its end");
    section[start..end].lines().map(str::to_string).collect()
}

/// One walkthrough command.
#[derive(Debug)]
struct Step {
    /// As written, without its comment and a trailing `&`.
    command: String,
    expect: i32,
    background: bool,
}

fn steps(lines: &[String]) -> Vec<Step> {
    lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (command, comment) = match l.find(" #") {
                Some(at) => (l[..at].trim(), &l[at..]),
                None => (l, ""),
            };
            let expect = comment
                .split("exit code ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let background = command.ends_with('&') || command.starts_with("latchkey stream ");
            Step {
                command: command.trim_end_matches('&').trim().to_string(),
                expect,
                background,
            }
        })
        .collect()
}

/// Where the walkthrough runs: a working directory with the example policies, `latchkey`
/// on `PATH`, and a directory standing for `/tmp/`.
struct Place {
    _root: tempfile::TempDir,
    work: PathBuf,
    tmp: PathBuf,
    path: String,
}

impl Place {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let (work, tmp, bin) = (
            root.path().join("work"),
            root.path().join("tmp"),
            root.path().join("bin"),
        );
        for d in [&work, &tmp, &bin] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(BIN, bin.join("latchkey")).unwrap();
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
            work.join("policies"),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Place {
            _root: root,
            work,
            tmp,
            path,
        }
    }

    /// `bash -c line`, as the person typing it would run it (alice's config by default).
    fn bash(&self, line: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(line)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.tmp.join("home"))
            .env("XDG_CONFIG_HOME", self.tmp.join("alice"))
            .env("LATCHKEY_NO_BROWSER", "1")
            .current_dir(&self.work)
            .stdin(Stdio::null());
        c
    }

    /// The newest request the person of `command` sees (`show` without an id).
    fn newest_request(&self, command: &str) -> Option<String> {
        let out = self
            .bash(&format!("{} latchkey --output json show", person(command)))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["id"].as_str().map(str::to_string)
    }
}

/// Who runs `command`: its variables (`XDG_CONFIG_HOME=…`), empty for alice.
fn person(command: &str) -> String {
    command
        .split_whitespace()
        .take_while(|w| w.contains('=') && !w.starts_with('-'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A background command, its output lines arriving on a channel.
struct Job {
    person: String,
    step: String,
    expect: i32,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn spawn(place: &Place, step: &Step, line: &str) -> Job {
    let mut child = place
        .bash(line)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx.send(l)))
    });
    std::thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .for_each(|l| drop(tx2.send(l)))
    });
    let mut job = Job {
        person: person(line),
        step: step.command.clone(),
        expect: step.expect,
        child,
        lines,
        seen: Vec::new(),
    };
    // It is under way once it has said something (the request made, the first event).
    match job.lines.recv_timeout(Duration::from_secs(20)) {
        Ok(l) => job.seen.push(l),
        Err(_) => panic!("{}: said nothing within 20 s", job.step),
    }
    job
}

fn finish(mut job: Job) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = job.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{}: still running", job.step);
        std::thread::sleep(Duration::from_millis(50));
    };
    job.seen.extend(job.lines.try_iter());
    assert_eq!(
        status.code(),
        Some(job.expect),
        "{} (in the background):\n{}",
        job.step,
        job.seen.join("\n")
    );
}

#[test]
fn readme_walkthrough_runs_as_written_against_a_development_server() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let place = Place::new();
    let addr = format!("127.0.0.1:{}", free_port());
    let local = |line: &str| {
        line.replace(README_ADDR, &addr)
            .replace("/tmp/", &format!("{}/", place.tmp.display()))
    };
    let serve = sh_block(&readme, "## The two commands")
        .into_iter()
        .find(|l| l.starts_with("latchkey serve"))
        .expect("the README starts the server with `latchkey serve`");
    let mut server = place
        .bash(&format!("exec {}", local(&serve)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://{addr}"), &mut server);
    let walkthrough = steps(&sh_block(&readme, "## Five minutes with latchkey"));
    assert!(walkthrough.len() > 30, "{walkthrough:?}");
    let mut last_request: Option<String> = None;
    let mut jobs: Vec<Job> = Vec::new();
    for step in &walkthrough {
        let mut line = local(&step.command);
        if line.split_whitespace().any(|w| w == "ID") {
            let id = last_request
                .as_deref()
                .unwrap_or_else(|| panic!("{}: no request made yet", step.command));
            line = line
                .split(' ')
                .map(|w| if w == "ID" { id } else { w })
                .collect::<Vec<_>>()
                .join(" ");
        }
        // Back in the terminal where a command was left running: it has ended by now
        // (the README's "--wait above exits 0 once approved", the stream closed).
        let (done, running): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|j: &Job| j.person == person(&line));
        done.into_iter().for_each(finish);
        jobs = running;
        if step.background {
            jobs.push(spawn(&place, step, &line));
        } else {
            let out = place.bash(&line).output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(step.expect),
                "{}\nstdout: {}\nstderr: {}",
                step.command,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .windows(2)
            .any(|w| w[0] == "latchkey" && matches!(w[1], "request" | "breakglass"))
        {
            last_request = Some(
                place
                    .newest_request(&line)
                    .unwrap_or_else(|| panic!("{}: no request to show", step.command)),
            );
        }
    }
    for job in jobs {
        finish(job);
    }
    let _ = server.kill();
    let _ = server.wait();
}
