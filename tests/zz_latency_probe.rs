use pbconnector::passwordboss::model::{NewUser, UserStatus};
use pbconnector::passwordboss::{PasswordBossClient, PasswordBossConfig};
use pbconnector_simulators::passwordboss::{PbSim, SimConfig};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe() {
    let sim = PbSim::start(SimConfig {
        license_total: 100000,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.faults().set_latency(Duration::from_millis(10));
    let client = PasswordBossClient::new(PasswordBossConfig::new(sim.url(), sim.token())).unwrap();
    let t = Instant::now();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("sleep 10ms x100: {:?} each", t.elapsed() / 100);
    let t = Instant::now();
    for i in 0..200 {
        let u = NewUser {
            email: format!("u{i}@contoso.com"),
            first_name: "A".into(),
            last_name: "B".into(),
            external_id: Some(format!("e{i}")),
            managed_by: "Azure AD".into(),
            status: UserStatus::Active,
        };
        client.create_user(&u, &format!("k{i}")).await.unwrap();
    }
    eprintln!("create sequential: {:?} each", t.elapsed() / 200);
    let t = Instant::now();
    let futs = (200..1000).map(|i| {
        let client = client.clone();
        async move {
            let u = NewUser {
                email: format!("u{i}@contoso.com"),
                first_name: "A".into(),
                last_name: "B".into(),
                external_id: Some(format!("e{i}")),
                managed_by: "Azure AD".into(),
                status: UserStatus::Active,
            };
            client.create_user(&u, &format!("k{i}")).await.unwrap();
        }
    });
    use futures::StreamExt;
    futures::stream::iter(futs)
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    eprintln!(
        "create x8: {:?} per write (ideal 1.25ms)",
        t.elapsed() / 800
    );
}
