//! A progress bar on standard error, drawn only when it is a terminal (through `indicatif`).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bytes done out of a known total, redrawn at most ten times a second.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar for `total` bytes (`0`: unknown, only the bytes done are shown); `on` false
    /// draws nothing (not a terminal).
    pub fn new(on: bool, total: u64) -> Self {
        let target = if on {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        let template = if total > 0 {
            "[{bar:30}] {percent:>3}%  {binary_bytes} / {binary_total_bytes}"
        } else {
            "{binary_bytes}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("##-");
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
        Bar(bar)
    }

    /// Records progress; the bar redraws when due.
    pub fn set(&mut self, done: u64) {
        self.0.set_position(done);
    }

    /// Draws the final state and ends the line.
    pub fn done(&mut self) {
        self.0.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_that_is_off_stays_hidden_and_follows_the_bytes() {
        let mut bar = Bar::new(false, 2048);
        assert!(bar.0.is_hidden());
        bar.set(1024);
        assert_eq!(bar.0.position(), 1024);
        bar.done();
        assert!(bar.0.is_finished());
        let mut unknown = Bar::new(false, 0);
        unknown.set(10);
        unknown.done();
    }
}
