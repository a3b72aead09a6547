//! The command line and the shared multi-tenant app: `consent-url` prints the admin-consent URL
//! the README's MSP quick start sends a customer; `crd --kind AzureAdApplication` prints the
//! app's CRD; and a connector naming a shared app is refused outside the cluster, saying why.

use crate::support::cli::run;

const APP: &str = "11111111-2222-3333-4444-555555555555";
const TENANT: &str = "7c0c36f5-1111-2222-3333-444444444444";

#[tokio::test]
async fn consent_url_prints_the_clouds_admin_consent_page() {
    let public = run(
        &["consent-url", "--client-id", APP, "--tenant", TENANT],
        &[],
    )
    .await;
    assert_eq!(public.code, 0, "{}", public.stderr);
    assert_eq!(
        public.stdout.trim(),
        format!("https://login.microsoftonline.com/{TENANT}/adminconsent?client_id={APP}")
    );
    let gov = run(
        &[
            "consent-url",
            "--client-id",
            APP,
            "--tenant",
            TENANT,
            "--cloud",
            "USGovernment",
        ],
        &[],
    )
    .await;
    assert_eq!(
        gov.stdout.trim(),
        format!("https://login.microsoftonline.us/{TENANT}/adminconsent?client_id={APP}")
    );
    let bad = run(
        &["consent-url", "--client-id", "msp-app", "--tenant", TENANT],
        &[],
    )
    .await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("is not an Application (client) ID"),
        "{}",
        bad.stderr
    );
    let help = run(&["consent-url", "--help"], &[]).await;
    assert!(help.stdout.contains("Examples:"), "{}", help.stdout);
}

#[tokio::test]
async fn crd_prints_the_application_crd_on_request() {
    let app = run(&["crd", "--kind", "AzureAdApplication"], &[]).await;
    assert_eq!(app.code, 0);
    assert_eq!(app.stdout, pbconnector::resources::application_crd_yaml());
    let connector = run(&["crd"], &[]).await;
    assert_eq!(connector.stdout, pbconnector::resources::crd_yaml());
}

#[tokio::test]
async fn a_connector_of_a_shared_app_is_refused_outside_the_cluster() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shared-app.yaml");
    for verb in ["plan", "verify"] {
        let refused = run(&[verb, "-f", example], &[]).await;
        assert_eq!(refused.code, 2, "{verb}: {}", refused.stderr);
        assert!(
            refused
                .stderr
                .contains("names AzureAdApplication msp-app, a shared app only the operator uses"),
            "{verb}: {}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("pass the file"),
            "{}",
            refused.stderr
        );
    }
}
