//! The chart's `shards`: with 1 (the default) exactly the chart as before (one Deployment, its
//! name and selector unchanged, so upgrades keep working); with N > 1, N Deployments
//! `<fullname>-shard-I` each running `replicaCount` pods with `--shards=N --shard=I` and leader
//! election, a PodDisruptionBudget per shard, one ServiceAccount, and the leader Role granting
//! exactly the N shard Leases. (The N = 3 render is applied to a real API server in
//! `apply.rs`.)

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::helm::{
    self, Helm, RELEASE_NAMESPACE, kind, name, of_kind, one, tool, validate_with_kubernetes,
};

const FULLNAME: &str = "pbc-pbconnector";
const THREE_SHARDS: &str = "shards: 3\nreplicaCount: 2\n";

fn args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

/// Whether `selector` (matchLabels) selects a pod with `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .expect("matchLabels")
        .iter()
        .all(|(k, v)| &labels[k] == v)
}

fn pod_labels(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["metadata"]["labels"]
}

#[test]
fn one_shard_renders_the_chart_as_before() {
    let helm = Helm::find();
    let default = helm.try_template("", &[]).expect("renders");
    let explicit = helm.try_template("shards: 1\n", &[]).expect("renders");
    assert_eq!(default, explicit, "shards: 1 is the default");
    for values in ["", "replicaCount: 2\n"] {
        let docs = helm.template(values);
        let deployment = one(&docs, "Deployment");
        assert_eq!(
            name(deployment),
            FULLNAME,
            "{values}: the name it always had"
        );
        assert_eq!(
            deployment["spec"]["selector"]["matchLabels"],
            serde_json::json!({
                "app.kubernetes.io/name": "pbconnector",
                "app.kubernetes.io/instance": "pbc",
            }),
            "{values}: a Deployment's selector cannot change on upgrade"
        );
        let a = args(deployment);
        assert!(
            !a.iter().any(|a| a.starts_with("--shard")),
            "{values}: {a:?}"
        );
    }
    let docs = helm.template("replicaCount: 2\n");
    let role = of_kind(&docs, "Role")
        .into_iter()
        .find(|r| name(r).ends_with("-leader-election"))
        .expect("the leader Role");
    let names = &role["rules"][1]["resourceNames"];
    assert_eq!(names, &serde_json::json!(["pbconnector-leader"]));
}

#[test]
fn three_shards_render_a_deployment_a_pdb_and_a_lease_each() {
    let helm = Helm::find();
    let docs = helm.template(THREE_SHARDS);
    let deployments = of_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 3);
    let pdbs = of_kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdbs.len(), 3);
    assert_eq!(
        of_kind(&docs, "ServiceAccount").len(),
        1,
        "one ServiceAccount"
    );
    for (i, deployment) in deployments.iter().enumerate() {
        assert_eq!(name(deployment), format!("{FULLNAME}-shard-{i}"));
        assert_eq!(deployment["spec"]["replicas"], 2, "replicaCount per shard");
        assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
        let a = args(deployment);
        for flag in [
            "--leader-elect".to_owned(),
            "--lease-name=pbconnector-leader".to_owned(),
            format!("--lease-namespace={RELEASE_NAMESPACE}"),
            "--shards=3".to_owned(),
            format!("--shard={i}"),
        ] {
            assert!(a.contains(&flag), "shard {i} lacks {flag}: {a:?}");
        }
        // Each Deployment and PDB selects its own shard's pods and no other's.
        for (j, other) in deployments.iter().enumerate() {
            assert_eq!(
                selects(&deployment["spec"]["selector"], pod_labels(other)),
                i == j,
                "Deployment {i} selecting shard {j}'s pods"
            );
            assert_eq!(
                selects(&pdbs[i]["spec"]["selector"], pod_labels(other)),
                i == j,
                "PDB {i} selecting shard {j}'s pods"
            );
        }
    }
    // The Service (metrics) selects every shard's pods.
    let service = one(&docs, "Service");
    for deployment in &deployments {
        let selector = service["spec"]["selector"].as_object().expect("selector");
        assert!(
            selector
                .iter()
                .all(|(k, v)| &pod_labels(deployment)[k] == v)
        );
    }
    // The leader Role: exactly the three shard Leases.
    let role = of_kind(&docs, "Role")
        .into_iter()
        .find(|r| name(r).ends_with("-leader-election"))
        .expect("the leader Role");
    let names: BTreeSet<&str> = role["rules"][1]["resourceNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "pbconnector-leader-shard-0-of-3",
            "pbconnector-leader-shard-1-of-3",
            "pbconnector-leader-shard-2-of-3",
        ])
    );

    // Shards alone turn leader election on, and the PDBs stay off with one replica each.
    let docs = helm.template("shards: 2\n");
    for deployment in of_kind(&docs, "Deployment") {
        assert!(args(deployment).contains(&"--leader-elect".to_owned()));
    }
    assert!(of_kind(&docs, "PodDisruptionBudget").is_empty());
}

#[test]
fn sharded_chart_lints_and_passes_the_kubernetes_schemas() {
    let helm = Helm::find();
    let image = helm::image_values();
    let chart = helm::chart_dir();
    let out = helm.run(
        &[
            "lint",
            "--strict",
            chart.to_str().unwrap(),
            "-f",
            image.to_str().unwrap(),
            "-f",
            "-",
        ],
        THREE_SHARDS,
    );
    assert!(
        out.status.success(),
        "helm lint --strict failed:\n{}{}",
        helm::text(&out.stdout),
        helm::text(&out.stderr)
    );
    let docs = helm::parse_documents(
        &helm
            .try_template(THREE_SHARDS, &["--include-crds"])
            .expect("renders"),
    );
    validate_with_kubernetes(&tool("bin/kubernetes-validate"), &docs, &[]);
    for doc in docs
        .iter()
        .filter(|d| kind(d) != "CustomResourceDefinition")
    {
        assert!(
            doc["metadata"]["labels"]["app.kubernetes.io/instance"].is_string(),
            "{} {} carries the standard labels",
            kind(doc),
            name(doc)
        );
    }
}

#[test]
fn the_schema_refuses_zero_shards() {
    let helm = Helm::find();
    for bad in ["shards: 0\n", "shards: two\n"] {
        let e = helm.try_template(bad, &[]).expect_err(bad);
        assert!(e.contains("shards"), "{bad}: {e}");
    }
}
