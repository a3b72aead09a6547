use super::*;

fn strict() -> EndpointPolicy {
    EndpointPolicy::built_in_only()
}

fn check(policy: &EndpointPolicy, url: &str) -> Result<(), EndpointNotAllowed> {
    policy.check_url("spec.azure.authorityHost", url, PUBLIC_AUTHORITY)
}

fn refused_host(policy: &EndpointPolicy, url: &str) -> String {
    match check(policy, url) {
        Err(EndpointNotAllowed::Host { host, .. }) => host,
        other => panic!("{url}: expected a refused host, got {other:?}"),
    }
}

fn spec(azure: serde_json::Value, api_url: Option<&str>) -> AzureAdConnectorSpec {
    let mut azure_json = serde_json::json!({
        "tenantId": "contoso.onmicrosoft.com",
        "clientId": "00000000-0000-0000-0000-000000000000",
        "clientSecretRef": {"name": "entra-app", "key": "client-secret"}
    });
    if let (Some(target), serde_json::Value::Object(extra)) = (azure_json.as_object_mut(), azure) {
        target.extend(extra);
    }
    let mut pb = serde_json::json!({"tokenSecretRef": {"name": "passwordboss", "key": "token"}});
    if let Some(url) = api_url {
        pb["apiUrl"] = url.into();
    }
    serde_json::from_value(serde_json::json!({
        "azure": azure_json,
        "passwordBoss": pb,
        "syncGroup": {"displayName": "Password Boss Users"}
    }))
    .unwrap()
}

#[test]
fn built_in_hosts_of_every_cloud_are_allowed_by_default() {
    let policy = strict();
    assert_eq!(policy.check(&spec(serde_json::json!({}), None)), Ok(()));
    for (cloud, authority, graph) in [
        (
            "Public",
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
        ),
        (
            "USGovernment",
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
        ),
        (
            "USGovernment",
            "https://login.microsoftonline.us",
            "https://dod-graph.microsoft.us",
        ),
        (
            "China",
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
        ),
        (
            "China",
            "https://login.partner.microsoftonline.cn/",
            "https://microsoftgraph.chinacloudapi.cn/",
        ),
    ] {
        let s = spec(
            serde_json::json!({"cloud": cloud, "authorityHost": authority, "graphEndpoint": graph}),
            Some("https://api.passwordboss.com/"),
        );
        assert_eq!(policy.check(&s), Ok(()), "{cloud} {authority} {graph}");
        // The cloud's defaults, too.
        let s = spec(serde_json::json!({"cloud": cloud}), None);
        assert_eq!(policy.check(&s), Ok(()), "{cloud} defaults");
    }
}

#[test]
fn another_clouds_host_is_not_a_built_in_of_this_cloud() {
    let policy = strict();
    let s = spec(
        serde_json::json!({"graphEndpoint": "https://graph.microsoft.us"}),
        None,
    );
    let err = policy.check(&s).unwrap_err();
    assert!(
        matches!(
            err,
            EndpointNotAllowed::Host {
                field: "spec.azure.graphEndpoint",
                ..
            }
        ),
        "{err:?}"
    );
    let s = spec(
        serde_json::json!({"cloud": "China", "authorityHost": "https://login.microsoftonline.com"}),
        None,
    );
    assert!(policy.check(&s).is_err());
}

#[test]
fn each_field_is_checked_and_named() {
    let policy = strict();
    for (azure, api, field) in [
        (
            serde_json::json!({"authorityHost": "https://evil.example"}),
            None,
            "spec.azure.authorityHost",
        ),
        (
            serde_json::json!({"graphEndpoint": "https://evil.example"}),
            None,
            "spec.azure.graphEndpoint",
        ),
        (
            serde_json::json!({}),
            Some("https://evil.example"),
            "spec.passwordBoss.apiUrl",
        ),
    ] {
        let err = policy.check(&spec(azure, api)).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with(field), "{shown}");
        assert!(shown.contains("evil.example"), "{shown}");
        assert!(shown.contains("--allowed-endpoint-hosts"), "{shown}");
        assert!(shown.contains("allowedEndpointHosts"), "{shown}");
    }
}

#[test]
fn the_attacks_of_issue_15_are_refused() {
    let policy = strict();
    assert_eq!(
        refused_host(&policy, "https://169.254.169.254/"),
        "169.254.169.254"
    );
    assert_eq!(
        refused_host(&policy, "https://kubernetes.default.svc"),
        "kubernetes.default.svc"
    );
    assert_eq!(
        refused_host(
            &policy,
            "https://kubernetes.default.svc.cluster.local:443/api"
        ),
        "kubernetes.default.svc.cluster.local"
    );
    assert_eq!(
        refused_host(&policy, "https://attacker.example:8443"),
        "attacker.example:8443"
    );
}

#[test]
fn case_and_one_trailing_dot_do_not_matter() {
    let policy = strict();
    assert_eq!(check(&policy, "https://LOGIN.MicrosoftOnline.COM"), Ok(()));
    assert_eq!(
        check(&policy, "https://login.microsoftonline.com./"),
        Ok(())
    );
    assert_eq!(
        check(&policy, "  https://login.microsoftonline.com  "),
        Ok(())
    );
    // Two trailing dots are not the same name.
    assert!(check(&policy, "https://login.microsoftonline.com../").is_err());
}

#[test]
fn look_alike_hosts_are_refused() {
    let policy = strict();
    for url in [
        "https://login.microsoftonline.com.evil.example",
        "https://evil-login.microsoftonline.com",
        "https://xlogin.microsoftonline.com",
        "https://microsoftonline.com",
        "https://login.microsoftonline.co",
        // Cyrillic "о": IDNA turns it into punycode, a different name.
        "https://lоgin.microsoftonline.com",
        "https://evil.example#@login.microsoftonline.com",
        "https://evil.example?login.microsoftonline.com",
        "https://evil.example/login.microsoftonline.com",
    ] {
        assert!(
            matches!(check(&policy, url), Err(EndpointNotAllowed::Host { .. })),
            "{url} must be refused"
        );
    }
    let shown = refused_host(&policy, "https://lоgin.microsoftonline.com");
    assert!(shown.starts_with("xn--"), "shown in punycode: {shown}");
}

#[test]
fn unicode_forms_of_an_allowed_name_are_the_name() {
    // Full-width letters map to ASCII under IDNA: the very same host.
    let policy = strict();
    assert_eq!(
        check(&policy, "https://ｌｏｇｉｎ.microsoftonline.com"),
        Ok(())
    );
    let allowed = EndpointPolicy::new(["bücher.example"], false).unwrap();
    assert_eq!(allowed.allowed_hosts(), vec!["xn--bcher-kva.example"]);
    assert_eq!(check(&allowed, "https://xn--bcher-kva.example"), Ok(()));
    assert_eq!(check(&allowed, "https://BÜCHER.example"), Ok(()));
}

#[test]
fn ports_must_match() {
    let policy = strict();
    assert_eq!(
        check(&policy, "https://login.microsoftonline.com:443"),
        Ok(())
    );
    assert_eq!(
        refused_host(&policy, "https://login.microsoftonline.com:8443"),
        "login.microsoftonline.com:8443"
    );
    let allowed =
        EndpointPolicy::new(["pb.internal:8443", "graph.contoso.example"], false).unwrap();
    let pb = |url: &str| allowed.check_url("spec.passwordBoss.apiUrl", url, &[PASSWORDBOSS_HOST]);
    assert_eq!(pb("https://pb.internal:8443/v1"), Ok(()));
    assert!(pb("https://pb.internal").is_err(), "only the port allowed");
    assert!(pb("https://pb.internal:8444").is_err());
    assert_eq!(pb("https://graph.contoso.example"), Ok(()));
    assert_eq!(pb("https://graph.contoso.example:443"), Ok(()));
    assert!(pb("https://graph.contoso.example:444").is_err());
}

#[test]
fn ip_literals_only_when_listed_exactly() {
    let policy = strict();
    assert_eq!(refused_host(&policy, "https://10.0.0.1"), "10.0.0.1");
    // Other spellings of an IPv4 address are that address.
    assert_eq!(
        refused_host(&policy, "https://0xA9FEA9FE/"),
        "169.254.169.254"
    );
    assert_eq!(
        refused_host(&policy, "https://2852039166/"),
        "169.254.169.254"
    );
    assert_eq!(
        refused_host(&policy, "https://169.254.43518/"),
        "169.254.169.254"
    );
    let allowed = EndpointPolicy::new(["10.0.0.1", "[2001:DB8::1]:8443"], false).unwrap();
    assert_eq!(check(&allowed, "https://10.0.0.1/"), Ok(()));
    assert_eq!(check(&allowed, "https://0x0a.0.0.1/"), Ok(()));
    assert!(check(&allowed, "https://10.0.0.2/").is_err());
    assert_eq!(check(&allowed, "https://[2001:db8:0:0::1]:8443/"), Ok(()));
    assert_eq!(
        refused_host(&allowed, "https://[2001:db8::1]/"),
        "[2001:db8::1]"
    );
    assert_eq!(
        refused_host(&policy, "https://[fd00:ec2::254]/"),
        "[fd00:ec2::254]"
    );
}

#[test]
fn loopback_only_when_the_operator_allows_it() {
    let strict = strict();
    for url in [
        "http://127.0.0.1:8080",
        "https://127.0.0.1",
        "http://127.1.2.3",
        "http://localhost:9000/",
        "http://LOCALHOST.:9000/",
        "http://[::1]:8080",
        "http://2130706433/",
        "http://0x7f.1/",
    ] {
        assert!(
            matches!(
                check(&strict, url),
                Err(EndpointNotAllowed::Loopback { .. } | EndpointNotAllowed::Scheme { .. })
            ),
            "{url} refused without the switch: {:?}",
            check(&strict, url)
        );
        let loopback = EndpointPolicy::built_in_only().with_loopback();
        assert_eq!(
            check(&loopback, url),
            Ok(()),
            "{url} allowed with the switch"
        );
    }
    // Names that merely look local are not loopback.
    let loopback = EndpointPolicy::built_in_only().with_loopback();
    assert!(check(&loopback, "https://foo.localhost").is_err());
    assert!(check(&loopback, "https://localhost.evil.example").is_err());
    assert!(check(&loopback, "http://[::ffff:127.0.0.1]/").is_err());
    assert!(check(&loopback, "http://0.0.0.0:8080/").is_err());
    let err = check(&strict, "https://127.0.0.1").unwrap_err();
    assert!(
        err.to_string().contains("--allow-loopback-endpoints"),
        "{err}"
    );
}

#[test]
fn plain_http_is_refused_off_loopback_even_for_allowed_hosts() {
    let allowed = EndpointPolicy::new(["pb.internal"], true).unwrap();
    for url in [
        "http://login.microsoftonline.com",
        "http://pb.internal",
        "http://pb.internal:443",
    ] {
        assert!(
            matches!(check(&allowed, url), Err(EndpointNotAllowed::Scheme { .. })),
            "{url}"
        );
    }
    for url in [
        "ftp://login.microsoftonline.com",
        "file:///var/run/secrets/token",
        "ws://localhost",
    ] {
        assert!(check(&allowed, url).is_err(), "{url}");
    }
}

#[test]
fn user_info_is_refused_and_not_echoed() {
    let policy = EndpointPolicy::new(["evil.example"], true).unwrap();
    for url in [
        "https://login.microsoftonline.com@evil.example",
        "https://user:hunter2@login.microsoftonline.com",
        "https://:hunter2@login.microsoftonline.com",
        "http://user@127.0.0.1:8080",
    ] {
        let err = check(&policy, url).unwrap_err();
        assert!(
            matches!(err, EndpointNotAllowed::UserInfo { .. }),
            "{url}: {err:?}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[test]
fn garbage_is_not_a_url() {
    let policy = strict();
    for url in [
        "",
        "login.microsoftonline.com",
        "https://",
        "https://exa mple.com",
        "mailto:a@b.c",
    ] {
        assert!(check(&policy, url).is_err(), "{url:?}");
    }
}

#[test]
fn allowed_entries_must_be_hosts() {
    for entry in [
        "https://pb.internal",
        "pb.internal/api",
        "user@pb.internal",
        "pb.internal:99999",
        "pb internal",
        "localhost",
        "127.0.0.1",
        "[::1]",
        "pb.internal?x",
    ] {
        assert_eq!(
            EndpointPolicy::new([entry], false),
            Err(BadAllowedHost {
                entry: entry.into()
            }),
            "{entry}"
        );
    }
    let policy =
        EndpointPolicy::new([" PB.Internal. ", "", "graph.contoso.example:8443"], false).unwrap();
    assert_eq!(
        policy.allowed_hosts(),
        vec!["graph.contoso.example:8443", "pb.internal"]
    );
}
