//! A progress bar on standard error, drawn only when it is a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

/// Bytes done out of a known total, redrawn at most ten times a second.
pub struct Bar {
    on: bool,
    total: u64,
    done: u64,
    drawn: Option<Instant>,
}

impl Bar {
    /// A bar for `total` bytes; `on` false draws nothing (not a terminal).
    pub fn new(on: bool, total: u64) -> Self {
        Bar {
            on,
            total,
            done: 0,
            drawn: None,
        }
    }

    /// Records progress and redraws when due.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self
            .drawn
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.draw();
    }

    fn draw(&mut self) {
        if !self.on {
            return;
        }
        const WIDTH: u64 = 30;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let done = self.done.min(self.total);
        let line = match (done * WIDTH).checked_div(self.total) {
            Some(filled) => format!(
                "\r[{}{}] {:>3}%  {:.1} / {:.1} MiB ",
                "#".repeat(filled as usize),
                "-".repeat((WIDTH - filled) as usize),
                done * 100 / self.total,
                mib(self.done),
                mib(self.total)
            ),
            None => format!("\r{:.1} MiB ", mib(self.done)),
        };
        let mut err = std::io::stderr();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }

    /// Draws the final state and ends the line.
    pub fn done(&mut self) {
        self.draw();
        if self.on {
            eprintln!();
        }
    }
}
