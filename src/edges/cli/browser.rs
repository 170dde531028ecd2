//! Opening the login URL in a browser. `$BROWSER` is read as `xdg-open` and Python's
//! `webbrowser` read it: a colon-separated list of commands tried in order until one exits
//! with 0, each split on whitespace, with `%s` replaced by the URL (or the URL appended
//! when no word holds `%s`). Without `$BROWSER`, `xdg-open`. The caller prints the URL as
//! well, for a browser on another machine.

use std::process::{Command, Stdio};

/// The command lines to try for `url`, in order: `$BROWSER`'s entries (`browser`), else
/// `xdg-open URL`.
pub fn command_lines(browser: Option<&str>, url: &str) -> Vec<Vec<String>> {
    let Some(browser) = browser.filter(|b| !b.trim().is_empty()) else {
        return vec![vec!["xdg-open".into(), url.into()]];
    };
    browser
        .split(':')
        .filter_map(|entry| {
            let words: Vec<&str> = entry.split_whitespace().collect();
            if words.is_empty() {
                return None;
            }
            let mut line: Vec<String> = words.iter().map(|w| w.replace("%s", url)).collect();
            if !words.iter().any(|w| w.contains("%s")) {
                line.push(url.into());
            }
            Some(line)
        })
        .collect()
}

/// Opens `url` with the first command of [`command_lines`] (from `$BROWSER`) that
/// succeeds, on a thread of its own: a browser that stays in the foreground does not hold
/// up the login, which goes on waiting for the redirect.
pub fn open(url: &str) {
    let lines = command_lines(std::env::var("BROWSER").ok().as_deref(), url);
    std::thread::spawn(move || {
        for line in lines {
            let Some((program, args)) = line.split_first() else {
                continue;
            };
            let ran = Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match ran {
                Ok(status) if status.success() => return,
                Ok(status) => {
                    tracing::debug!(%program, %status, "the browser command failed; trying the next")
                }
                Err(e) => {
                    tracing::debug!(%program, error = %e, "the browser command did not start; trying the next")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::command_lines;

    const URL: &str = "https://idp.example.com/auth?a=1&b=2";

    #[test]
    fn without_browser_xdg_open_is_used() {
        assert_eq!(command_lines(None, URL), vec![vec!["xdg-open", URL]]);
        assert_eq!(command_lines(Some(" "), URL), vec![vec!["xdg-open", URL]]);
    }

    #[test]
    fn each_entry_is_tried_with_percent_s_replaced_or_the_url_appended() {
        assert_eq!(
            command_lines(Some("firefox --new-tab:w3m %s::lynx -url=%s"), URL),
            vec![
                vec!["firefox".to_string(), "--new-tab".into(), URL.into()],
                vec!["w3m".to_string(), URL.into()],
                vec!["lynx".to_string(), format!("-url={URL}")],
            ]
        );
    }
}
