//! The sample tenant (`SampleEnvironment`'s Graph simulator; its Password Boss simulator is left
//! unused) with a connector whose target is `spec.scim`: a scim2-server behind the fault proxy
//! (so every SCIM request is counted, and faults are one call away). For the built binary
//! (`cli`), and for whole syncs in-process as `pbconnector sync` runs them (`ScimRun`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::fault_proxy::FaultProxy;
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions, SecretData};
use reqwest::Method;
use serde_json::{Value, json};

use super::cli;
use super::scim::{Options, ScimServer};

/// The Secret (and its key) holding the SCIM bearer token.
pub const SCIM_SECRET: &str = "scim";
pub const SCIM_SECRET_KEY: &str = "token";

pub struct ScimSample {
    pub env: SampleEnvironment,
    pub server: ScimServer,
    /// In front of the server: the connector's `baseUrl` names it.
    pub proxy: FaultProxy,
    /// The connector's spec; tests edit it between syncs.
    pub spec: Value,
    /// The token the `scim` Secret holds (the server's, unless a test changes it).
    pub token: String,
    dir: tempfile::TempDir,
}

impl ScimSample {
    /// `users` regular members in the sample tenant, an empty scim2-server.
    pub async fn start(users: usize) -> ScimSample {
        Self::start_with(users, Options::default()).await
    }

    pub async fn start_with(users: usize, options: Options) -> ScimSample {
        let env = SampleEnvironment::start(SampleOptions {
            users,
            ..SampleOptions::default()
        })
        .await
        .expect("the simulators start");
        let server = ScimServer::start_with(options).await;
        let proxy = FaultProxy::start(server.addr())
            .await
            .expect("the fault proxy starts");
        let mut spec = env.spec_json();
        let fields = spec.as_object_mut().expect("the spec is an object");
        fields.remove("passwordBoss");
        fields.insert(
            "scim".into(),
            json!({
                "baseUrl": format!("http://{}/v2", proxy.addr()),
                "tokenSecretRef": {"name": SCIM_SECRET, "key": SCIM_SECRET_KEY},
            }),
        );
        // The sample writes Password Boss's `Adopt`; SCIM's default is `Skip`.
        spec["syncRules"]
            .as_object_mut()
            .expect("syncRules")
            .remove("existingUser");
        ScimSample {
            env,
            token: server.token().to_owned(),
            server,
            proxy,
            spec,
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The connector's spec as the operator reads it.
    pub fn typed_spec(&self) -> AzureAdConnectorSpec {
        serde_json::from_value(self.spec.clone())
            .unwrap_or_else(|e| panic!("the SCIM sample's spec: {e}\n{:#}", self.spec))
    }

    /// The Secrets the spec references, by name.
    pub fn secrets(&self) -> BTreeMap<String, SecretData> {
        let mut secrets = self.env.secrets();
        secrets.remove("passwordboss");
        secrets.insert(
            SCIM_SECRET.into(),
            SecretData::from([(SCIM_SECRET_KEY.into(), self.token.as_bytes().to_vec())]),
        );
        secrets
    }

    /// The manifests a user would pass to `pbconnector sync -f`: the two Secrets and the
    /// connector `contoso` in namespace `default`.
    pub fn manifests(&self) -> String {
        let mut out = String::new();
        for (name, data) in self.secrets() {
            let string_data: BTreeMap<String, String> = data
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8(v).expect("a text secret")))
                .collect();
            let secret = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": "default"},
                "type": "Opaque",
                "stringData": string_data,
            });
            let _ = writeln!(
                out,
                "{}---",
                serde_saphyr::to_string(&secret).expect("a Secret serializes")
            );
        }
        let connector = json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"name": "contoso", "namespace": "default"},
            "spec": self.spec,
        });
        out.push_str(&serde_saphyr::to_string(&connector).expect("the connector serializes"));
        out
    }

    /// Writes the manifests as they are now to a file of their own.
    pub fn write_manifests(&self) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("contoso-{}.yaml", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, self.manifests()).expect("write the manifests");
        path
    }

    /// `pbconnector COMMAND -f <the manifests as they are now> ARGS…`.
    pub async fn cli(&self, command: &str, args: &[&str]) -> cli::Run {
        let file = self.write_manifests();
        let mut all = vec![command, "-f", file.to_str().expect("a UTF-8 path")];
        all.extend_from_slice(args);
        cli::run(&all, &[]).await
    }

    /// SCIM requests that change something (POST, PUT, PATCH, DELETE) the proxy has seen since
    /// its last reset.
    pub fn scim_writes(&self) -> usize {
        self.proxy
            .requests()
            .iter()
            .filter(|r| r.method != Method::GET)
            .count()
    }

    /// Every SCIM request the proxy has seen since its last reset.
    pub fn scim_requests(&self) -> usize {
        self.proxy.requests().len()
    }

    /// Takes the i-th regular member out of the sync group (every fifth is in it through the
    /// nested group).
    pub fn remove_member(&self, i: usize) {
        let parent = if i % 5 == 4 {
            &self.env.nested_group_id
        } else {
            &self.env.sync_group_id
        };
        self.env.tenant.remove_member(parent, &self.env.members[i]);
    }

    /// The email the connector gives the i-th regular member (its UPN: the sample's users have
    /// their UPN as mail).
    pub fn member_email(&self, i: usize) -> String {
        self.env
            .tenant
            .user(&self.env.members[i])
            .expect("a member")
            .mail
            .expect("sample members have a mail")
    }
}

/// Whole syncs in-process, as `pbconnector sync` runs them (one connector state and the safety
/// record kept between syncs), into the sample's scim2-server.
pub struct ScimRun {
    pub sample: ScimSample,
    pub state: ConnectorState,
    /// What each sync asks; its spec is the sample's as it is when the sync starts.
    pub request: SyncRequest,
}

impl ScimRun {
    pub async fn start(users: usize) -> ScimRun {
        Self::from_sample(ScimSample::start(users).await)
    }

    pub fn from_sample(sample: ScimSample) -> ScimRun {
        let spec = sample.typed_spec();
        ScimRun {
            request: SyncRequest::new(ConnectorKey::new("default", "contoso"), spec),
            sample,
            state: ConnectorState::default(),
        }
    }

    /// One sync, which must succeed.
    pub async fn sync(&mut self) -> SyncReport {
        let report = self.try_sync().await;
        assert!(
            report.succeeded(),
            "{:?}\nscim2-server:\n{}",
            report.failure,
            self.sample.server.log()
        );
        report
    }

    /// One sync, whatever its outcome. The safety record it leaves is the next sync's.
    pub async fn try_sync(&mut self) -> SyncReport {
        let spec = self.sample.typed_spec();
        let secrets = self.sample.secrets();
        let credentials = read_credentials(&spec, "default", |n| secrets.get(n).cloned());
        self.request.spec = spec;
        let report = run_sync(&self.request, credentials, &mut self.state).await;
        if let Some(record) = report.safety_record() {
            self.request.safety_record = Some(record.into());
        }
        report
    }
}
