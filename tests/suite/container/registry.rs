//! The chart README's publishing commands, run as written against a real OCI distribution
//! registry: go-containerregistry's in-memory `registry` (`.tools/bin/registry`, from
//! `scripts/install-test-tools.sh`; missing, the test fails saying so), on a loopback port it
//! picks itself, killed when the test ends.
//!
//! The `bash` blocks of `charts/pbconnector/README.md` that use `$REGISTRY` run in order, with
//! `REGISTRY` set to the test registry: `skopeo copy` of the image archive, `helm package` and
//! `helm push` of the chart, the podman alternative (`podman load`, `podman push`), and the
//! `helm install` from the registry (client-side dry run: it renders what it would install). The
//! only changes are the flags the README says a registry without TLS needs
//! (`--dest-tls-verify=false`, `--tls-verify=false`, `--plain-http`), added by shell functions
//! in front of the block, and `--dry-run=client --output json` on `helm install`. Needs the
//! image archive (`PBCONNECTOR_IMAGE_ARCHIVE`), skopeo and podman as `container::image` does.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};

use super::image::{archive, container_settings, manifest_and_config, manifest_digest, repo, text};
use crate::support::helm::{kind, parse_documents, tool};
use serde_json::Value;

/// The README's registry, which the test's replaces.
const README_REGISTRY: &str = "registry.example.com";

/// The in-memory registry, listening on 127.0.0.1 only (it binds `localhost`), killed on drop.
struct Registry {
    child: Child,
    host: String,
    log: Arc<Mutex<String>>,
}

impl Registry {
    fn start() -> Self {
        let bin = tool("bin/registry");
        let mut child = Command::new(&bin)
            .args(["-port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} cannot start: {e}", bin.display()));
        // It logs every request to stderr: drained here (a full pipe would stall it), kept for
        // the assertions and failure messages.
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line.split("serving on port ").nth(1) {
                    let _ = port_tx.send(port.trim().parse::<u16>().expect("a port number"));
                }
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok(port) = port_rx.recv() else {
            let status = child.wait().expect("the registry's exit");
            panic!(
                "the registry ended ({status}) without serving: {}",
                log.lock().unwrap()
            );
        };
        Self {
            child,
            host: format!("127.0.0.1:{port}"),
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the registry stored the manifest `repository:tag` (a PUT it answered).
    fn stored(&self, repository: &str, tag: &str) -> bool {
        self.log()
            .lines()
            .any(|l| l.ends_with(&format!("PUT /v2/{repository}/manifests/{tag}")))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Shell functions put in front of each README block: the flags a registry without TLS needs
/// (as the README says), podman with the repository's container storage, and `helm install`
/// as a client-side dry run that prints the release (with its manifests) as JSON.
fn prelude() -> String {
    let (_, podman_flags) = container_settings();
    let podman_flags: Vec<String> = podman_flags.iter().map(|f| format!("'{f}'")).collect();
    let podman_flags = podman_flags.join(" ");
    format!(
        r#"skopeo() {{ if [[ $1 == copy ]]; then command skopeo copy --dest-tls-verify=false "${{@:2}}"; else command skopeo "$@"; fi; }}
podman() {{ if [[ $1 == push ]]; then command podman {podman_flags} push --tls-verify=false "${{@:2}}"; else command podman {podman_flags} "$@"; fi; }}
helm() {{ case $1 in
  push) command helm "$@" --plain-http ;;
  install) command helm install --dry-run=client --output json "${{@:2}}" --plain-http ;;
  *) command helm "$@" ;;
esac; }}
"#
    )
}

/// The fenced `bash` blocks of `markdown` that use `$REGISTRY`, in order.
fn registry_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```bash\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains("$REGISTRY"))
        .map(str::to_owned)
        .collect()
}

/// The one block holding `command`, which must be there.
fn block_with<'a>(blocks: &'a [String], command: &str) -> &'a str {
    let found: Vec<&String> = blocks.iter().filter(|b| b.contains(command)).collect();
    assert_eq!(
        found.len(),
        1,
        "one `$REGISTRY` block of the chart README runs `{command}`: {blocks:#?}"
    );
    found[0]
}

/// Runs a README block with bash in `cwd`, the test registry as `REGISTRY`; its stdout.
fn run_block(block: &str, cwd: &Path, registry: &Registry) -> String {
    let script = format!(
        "{}{}",
        prelude(),
        block.replace(
            &format!("REGISTRY={README_REGISTRY}"),
            &format!("REGISTRY={}", registry.host)
        )
    );
    let tools = tool("bin/helm").parent().expect("bin dir").to_owned();
    let (container_env, _) = container_settings();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(cwd)
        .envs(container_env)
        .env("REGISTRY", &registry.host)
        .env(
            "PATH",
            format!(
                "{}:{}",
                tools.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        // helm's registry configuration and cache, and anything else, in the test's directory.
        .env("HOME", cwd)
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "the README block failed ({}):\n{block}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- registry\n{}",
        out.status,
        registry.log()
    );
    stdout
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("skopeo cannot run ({e}): install it with scripts/install-test-tools.sh")
        });
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        text(&out.stderr)
    );
    out.stdout
}

/// The pushed image pulled back from the registry, every blob (skopeo checks each digest), into
/// a directory: (manifest digest, configuration) as `skopeo inspect` reports them.
fn pulled_back(reference: &str) -> (String, Value) {
    let source = format!("docker://{reference}");
    let pulled = tempfile::tempdir().expect("temp dir");
    let destination = format!("dir:{}", pulled.path().display());
    skopeo(&["copy", "--src-tls-verify=false", &source, &destination]);
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(pulled.path().join("manifest.json")).expect("the pulled manifest"),
    )
    .expect("the pulled manifest is JSON");
    let layers = manifest["layers"].as_array().expect("layers");
    assert!(!layers.is_empty(), "{reference} has layers: {manifest}");
    for layer in layers {
        let digest = layer["digest"].as_str().expect("layer digest");
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let size = std::fs::metadata(pulled.path().join(hex))
            .unwrap_or_else(|e| panic!("layer {digest} of {reference} pulled: {e}"))
            .len();
        assert_eq!(Some(size), layer["size"].as_u64(), "layer {digest} whole");
    }

    let inspect = |extra: &[&str]| -> Value {
        let mut args = vec!["inspect", "--tls-verify=false"];
        args.extend_from_slice(extra);
        args.push(&source);
        serde_json::from_slice(&skopeo(&args)).expect("skopeo inspect prints JSON")
    };
    let summary = inspect(&[]);
    let digest = summary["Digest"].as_str().expect("Digest").to_owned();
    (digest, inspect(&["--config"]))
}

/// The image as pulled back is the archive's: run as 65532, with its labels.
fn assert_is_the_archive_image(config: &Value, archive_config: &Value, reference: &str) {
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{reference} runs as 65532: {c}");
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "{reference}: {labels}"
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        config, archive_config,
        "{reference} has the archive's configuration"
    );
}

#[test]
fn the_readme_pushes_the_image_and_chart_to_a_registry_and_installs_from_it() {
    let readme = std::fs::read_to_string(repo().join("charts/pbconnector/README.md"))
        .expect("the chart README");
    let blocks = registry_blocks(&readme);
    let push = block_with(&blocks, "skopeo copy oci-archive:");
    assert!(
        push.contains("helm package charts/pbconnector") && push.contains("helm push "),
        "the push block also publishes the chart: {push}"
    );
    let podman = block_with(&blocks, "podman push ");
    let install = block_with(&blocks, "helm install pbconnector oci://");

    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo().join("charts/pbconnector/Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml is YAML");
    let chart_version = chart["version"].as_str().expect("the chart's version");
    let app_version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        chart["appVersion"], app_version,
        "the image tag is the crate's"
    );

    // A checkout as the README assumes: the chart, and the archive where build-image.sh writes it.
    let cwd = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(repo().join("charts"), cwd.path().join("charts"))
        .expect("charts in the working directory");
    let archive_path = push
        .split("oci-archive:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the archive skopeo copies");
    let linked = cwd.path().join(archive_path);
    std::fs::create_dir_all(linked.parent().expect("a directory")).expect("target/image");
    std::os::unix::fs::symlink(archive(), &linked).expect("the archive in the working directory");

    let registry = Registry::start();
    let image = format!("{}/pbconnector", registry.host);
    let reference = format!("{image}:{app_version}");
    let (_, archive_config) = manifest_and_config();

    // skopeo copy, helm package, helm push.
    run_block(push, cwd.path(), &registry);
    assert!(
        registry.stored("pbconnector", app_version),
        "skopeo stored pbconnector:{app_version} in the test registry:\n{}",
        registry.log()
    );
    assert!(
        registry.stored("charts/pbconnector", chart_version),
        "helm stored charts/pbconnector:{chart_version} in the test registry:\n{}",
        registry.log()
    );
    let (digest, config) = pulled_back(&reference);
    assert_eq!(
        digest,
        manifest_digest(),
        "skopeo copied the archive's manifest unchanged (the digest image.digest pins)"
    );
    assert_is_the_archive_image(&config, &archive_config, &reference);

    // The podman alternative, to the same tag.
    run_block(podman, cwd.path(), &registry);
    let (_, config) = pulled_back(&reference);
    assert_is_the_archive_image(&config, &archive_config, &reference);

    // helm install from the registry, with the pushed image.
    let release: Value = serde_json::from_str(&run_block(install, cwd.path(), &registry))
        .expect("helm install --output json prints the release");
    assert_eq!(
        release["chart"]["metadata"]["version"], chart_version,
        "the chart installed is the one pushed"
    );
    assert!(
        registry.log().contains(&format!(
            "GET /v2/charts/pbconnector/manifests/{chart_version}"
        )),
        "helm pulled the chart from the test registry:\n{}",
        registry.log()
    );
    let manifests = parse_documents(
        release["manifest"]
            .as_str()
            .expect("the release's manifest"),
    );
    let deployments: Vec<&Value> = manifests
        .iter()
        .filter(|d| kind(d) == "Deployment")
        .collect();
    assert_eq!(deployments.len(), 1, "one Deployment: {manifests:#?}");
    let containers = deployments[0]["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    assert_eq!(
        images,
        [reference.as_str()],
        "the Deployment runs the image pushed to the registry"
    );
}
