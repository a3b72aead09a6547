//! Whole syncs as `pbconnector sync` runs them (the same pipeline, one connector state and the
//! safety record kept between syncs) against both simulators of a sample environment.

use pbconnector::resources::AzureAdConnectorSpec;
use pbconnector::sync::report::SyncReport;
use pbconnector::sync::state::ConnectorState;
use pbconnector::sync::{ConnectorKey, SyncRequest, read_credentials, run_sync};
use pbconnector_simulators::sample::{SampleEnvironment, SampleOptions};

pub struct Run {
    pub env: SampleEnvironment,
    pub spec: AzureAdConnectorSpec,
    pub state: ConnectorState,
    /// What each sync asks; its spec is `spec` as it is when the sync starts.
    pub request: SyncRequest,
}

impl Run {
    /// A sample environment with `users` regular members, and a connector that never synced.
    pub async fn start(users: usize) -> Self {
        let env = SampleEnvironment::start(SampleOptions {
            users,
            ..Default::default()
        })
        .await
        .expect("the simulators start");
        let spec: AzureAdConnectorSpec =
            serde_json::from_value(env.spec_json()).expect("the sample's spec");
        Self {
            env,
            request: SyncRequest::new(ConnectorKey::new("default", "contoso"), spec.clone()),
            spec,
            state: ConnectorState::default(),
        }
    }

    /// One sync, which must succeed.
    pub async fn sync(&mut self) -> SyncReport {
        let report = self.try_sync().await;
        assert!(report.succeeded(), "{:?}", report.failure);
        report
    }

    /// One sync, whatever its outcome. The safety record it leaves is the next sync's, as the
    /// status and the command line carry it.
    pub async fn try_sync(&mut self) -> SyncReport {
        let secrets = self.env.secrets();
        let credentials = read_credentials(&self.spec, "default", |n| secrets.get(n).cloned());
        self.request.spec = self.spec.clone();
        let report = run_sync(&self.request, credentials, &mut self.state).await;
        if let Some(record) = report.safety_record() {
            self.request.safety_record = Some(record.into());
        }
        report
    }
}
