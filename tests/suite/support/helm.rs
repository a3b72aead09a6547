//! The helm tests' set-up: finds the real helm, kubernetes-validate and Lua (lupa) that
//! scripts/install-test-tools.sh puts under .tools/, renders the chart, and validates manifests.
//!
//! A missing tool fails the test with what to run: it is never a skip.
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::Value;

/// Kubernetes version the manifests are validated against.
pub const KUBERNETES_VERSION: &str = "1.35.0";
pub const RELEASE: &str = "pbc";
pub const RELEASE_NAMESPACE: &str = "pbconnector-system";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart_dir() -> PathBuf {
    root().join("charts/pbconnector")
}

/// The tool under `.tools/`; a missing one fails the test.
pub fn tool(relative: &str) -> PathBuf {
    let path = root().join(".tools").join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-test-tools.sh",
        path.display()
    );
    path
}

/// The venv's Python with lupa's Lua 5.1 (the Lua dialect Argo CD runs); missing fails the test.
pub fn lua_python() -> PathBuf {
    let python = tool("venv/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import lupa.lua51"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python package lupa is not installed in .tools/venv: run scripts/install-test-tools.sh"
    );
    python
}

/// Runs a command with `stdin` fed to it, and returns its output.
pub fn run(program: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait for the command")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The real helm 4 binary, driving the chart in this repository.
pub struct Helm(PathBuf);

impl Helm {
    /// The real helm under `.tools/`; missing fails the test.
    pub fn find() -> Self {
        Self(tool("bin/helm"))
    }

    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run(&self.0, args, stdin)
    }

    /// `helm template` with `values` (YAML) as an extra values file, over
    /// `tests/fixtures/values-image.yaml` (an image, which the chart requires); the rendered text.
    pub fn try_template(&self, values: &str, extra: &[&str]) -> Result<String, String> {
        let chart = chart_dir();
        let image = image_values();
        let mut args = vec![
            "template",
            RELEASE,
            chart.to_str().expect("utf-8 path"),
            "--namespace",
            RELEASE_NAMESPACE,
            "-f",
            image.to_str().expect("utf-8 path"),
            "-f",
            "-",
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args, values);
        if out.status.success() {
            Ok(text(&out.stdout))
        } else {
            Err(text(&out.stderr))
        }
    }

    /// Renders the chart with `values` and parses every manifest.
    pub fn template(&self, values: &str) -> Vec<Value> {
        let rendered = self
            .try_template(values, &[])
            .unwrap_or_else(|e| panic!("helm template failed for values {values:?}: {e}"));
        parse_documents(&rendered)
    }
}

/// A Kubernetes quantity of bytes (`256Mi`, `1Gi`, `300M`, `268435456`), as the downward API
/// turns `limits.memory` into a number with the default divisor of 1.
pub fn quantity_bytes(quantity: &str) -> u64 {
    let units: [(&str, u64); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    let (number, unit) = units
        .iter()
        .find_map(|(suffix, unit)| quantity.strip_suffix(suffix).map(|n| (n, *unit)))
        .unwrap_or((quantity, 1));
    number
        .parse::<u64>()
        .unwrap_or_else(|_| panic!("not a whole quantity of bytes: {quantity}"))
        * unit
}

/// The values file naming the image the tests install (the chart has no default image).
pub fn image_values() -> PathBuf {
    root().join("tests/fixtures/values-image.yaml")
}

/// Every non-empty YAML document in `text`, as JSON.
pub fn parse_documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("valid YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

pub fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

pub fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

pub fn one<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    let found = of_kind(docs, wanted);
    assert_eq!(found.len(), 1, "expected exactly one {wanted}");
    found[0]
}

/// Validates `docs` with kubernetes-validate --strict against the Kubernetes OpenAPI schemas.
/// Kinds it has no schema for must be listed in `unknown_kinds` (they are reported as skipped);
/// every other document must pass.
pub fn validate_with_kubernetes(validator: &Path, docs: &[Value], unknown_kinds: &[&str]) {
    static FILE_COUNTER: AtomicUsize = AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "pbconnector-kubernetes-validate-{}-{}.yaml",
        std::process::id(),
        FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let body: Vec<String> = docs
        .iter()
        .map(|d| serde_yaml::to_string(d).expect("serialize"))
        .collect();
    std::fs::write(&file, body.join("---\n")).expect("write manifests");
    let out = Command::new(validator)
        .args(["-k", KUBERNETES_VERSION, "--strict"])
        .arg(&file)
        .output()
        .expect("run kubernetes-validate");
    std::fs::remove_file(&file).ok();
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success() && !report.contains("ERROR"),
        "kubernetes-validate refused the manifests:\n{report}"
    );

    let passed: BTreeSet<String> = report
        .lines()
        .filter_map(|l| l.split(" passed for resource ").nth(1))
        .filter_map(|l| l.split(" against version").next())
        .map(str::to_owned)
        .collect();
    for doc in docs {
        let id = format!("{}/{}", kind(doc).to_lowercase(), name(doc));
        if unknown_kinds.contains(&kind(doc)) {
            assert!(
                report.contains(&format!("Couldn't find schema for kind {}", kind(doc))),
                "{id} was expected to be unknown to kubernetes-validate:\n{report}"
            );
            eprintln!(
                "not schema-validated: {id} (Kubernetes {KUBERNETES_VERSION} has no schema for {})",
                kind(doc)
            );
        } else {
            assert!(passed.contains(&id), "{id} was not validated:\n{report}");
        }
    }
}
