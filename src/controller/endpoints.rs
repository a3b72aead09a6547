//! Where the controller may send credentials. A connector's spec is written by whoever may create
//! an `AzureAdConnector` in its namespace, so its endpoints are untrusted: the controller sends
//! tokens, secrets and assertions only to the built-in hosts of the connector's cloud and of
//! Password Boss, and to hosts the operator's administrator allowed at start
//! (`pbconnector run --allowed-endpoint-hosts`, Helm value `allowedEndpointHosts`). Loopback
//! addresses (the simulators) only when the operator was started with
//! `--allow-loopback-endpoints`.
//!
//! Hosts are compared after the URL parser's normalisation (lower case, IDNA to punycode, IPv4
//! and IPv6 literals in canonical form) and without one trailing dot. A built-in or allowed host
//! named without a port is allowed on port 443 only; an allowed entry `host:port` allows exactly
//! that port.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::resources::{AzureAdConnectorSpec, AzureSpec, Cloud, TargetSpec};

type Hosts = &'static [&'static str];

const PUBLIC_AUTHORITY: Hosts = &["login.microsoftonline.com"];
const PUBLIC_GRAPH: Hosts = &["graph.microsoft.com"];
const US_GOVERNMENT_AUTHORITY: Hosts = &["login.microsoftonline.us"];
const US_GOVERNMENT_GRAPH: Hosts = &["graph.microsoft.us", "dod-graph.microsoft.us"];
const CHINA_AUTHORITY: Hosts = &["login.chinacloudapi.cn", "login.partner.microsoftonline.cn"];
const CHINA_GRAPH: Hosts = &["microsoftgraph.chinacloudapi.cn"];

/// The authority and Graph hosts of each cloud (graph-protocol.md §1).
fn built_in_azure_hosts(cloud: Cloud) -> (Hosts, Hosts) {
    match cloud {
        Cloud::Public => (PUBLIC_AUTHORITY, PUBLIC_GRAPH),
        Cloud::USGovernment => (US_GOVERNMENT_AUTHORITY, US_GOVERNMENT_GRAPH),
        Cloud::China => (CHINA_AUTHORITY, CHINA_GRAPH),
    }
}

/// The Password Boss API host.
const PASSWORDBOSS_HOST: &str = "api.passwordboss.com";
const HTTPS_PORT: u16 = 443;

/// A host the controller may send credentials to, with the one port allowed on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HostPort {
    host: String,
    port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == HTTPS_PORT {
            f.write_str(&self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An entry of `--allowed-endpoint-hosts` that is not a host name, IP address or `host:port`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--allowed-endpoint-hosts entry {entry:?} is not a host: give a host name or IP address, \
     optionally with :port (e.g. graph.contoso.example or pb.internal:8443), without scheme, \
     path or user name"
)]
pub struct BadAllowedHost {
    pub entry: String,
}

/// A connector endpoint the controller refuses to send credentials to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointNotAllowed {
    #[error("{field} {value:?} is not a URL; use https://HOST")]
    NotUrl { field: &'static str, value: String },
    #[error(
        "{field} {value:?} carries a user name or password; remove it (credentials come from \
         the connector's Secrets only)"
    )]
    UserInfo { field: &'static str, value: String },
    #[error(
        "{field} uses {scheme}://; the operator sends credentials over https only \
         (plain http only to loopback addresses, and only when the operator runs with \
         --allow-loopback-endpoints)"
    )]
    Scheme { field: &'static str, scheme: String },
    #[error(
        "{field} names {host}, which this operator does not send credentials to: it sends them \
         only to the built-in hosts of the chosen cloud and of Password Boss ({built_in}) and to \
         hosts its administrator allows. To allow it, the operator's administrator adds {host} \
         to `pbconnector run --allowed-endpoint-hosts` (Helm value allowedEndpointHosts)"
    )]
    Host {
        field: &'static str,
        host: String,
        built_in: String,
    },
    #[error(
        "{field} names the loopback address {host}; the operator sends credentials to loopback \
         addresses only when its administrator starts it with --allow-loopback-endpoints \
         (for tests and demos)"
    )]
    Loopback { field: &'static str, host: String },
}

/// The hosts the controller sends credentials to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointPolicy {
    allowed: BTreeSet<HostPort>,
    allow_loopback: bool,
}

impl EndpointPolicy {
    /// Built-in hosts only, no loopback: the default of `pbconnector run`.
    pub fn built_in_only() -> Self {
        Self::default()
    }

    /// Built-in hosts plus `entries` (host, IP literal, `[v6]`, each optionally `:port`).
    pub fn new<S: AsRef<str>>(
        entries: impl IntoIterator<Item = S>,
        allow_loopback: bool,
    ) -> Result<Self, BadAllowedHost> {
        let mut allowed = BTreeSet::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            allowed.insert(parse_allowed(entry)?);
        }
        Ok(Self {
            allowed,
            allow_loopback,
        })
    }

    /// Also allow loopback addresses over http or https (the simulators).
    pub fn with_loopback(mut self) -> Self {
        self.allow_loopback = true;
        self
    }

    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// The hosts allowed beyond the built-in ones, as given (normalised).
    pub fn allowed_hosts(&self) -> Vec<String> {
        self.allowed.iter().map(ToString::to_string).collect()
    }

    /// Checks every endpoint of `spec`: the authority, Graph and target hosts (the cloud's
    /// defaults when a field is unset; a SCIM base URL has no built-in host). A spec without
    /// one target has no target endpoint to check (the sync refuses it).
    pub fn check(&self, spec: &AzureAdConnectorSpec) -> Result<(), EndpointNotAllowed> {
        self.check_azure(&spec.azure)?;
        match spec.target() {
            Ok(TargetSpec::PasswordBoss(pb)) => self.check_url(
                "spec.passwordBoss.apiUrl",
                &pb.api_url,
                &[PASSWORDBOSS_HOST],
            ),
            // No SCIM host is built in: the administrator allows each service's host.
            Ok(TargetSpec::Scim(scim)) => self.check_url("spec.scim.baseUrl", &scim.base_url, &[]),
            Err(_) => Ok(()),
        }
    }

    /// Checks the authority and Graph hosts of `azure` (a connector's, or the one a shared
    /// app's spec gives its connectors).
    pub fn check_azure(&self, azure: &AzureSpec) -> Result<(), EndpointNotAllowed> {
        let (authorities, graphs) = built_in_azure_hosts(azure.cloud);
        let (default_authority, default_graph) = crate::azure::cloud_hosts(azure.cloud);
        self.check_url(
            "spec.azure.authorityHost",
            azure.authority_host.as_deref().unwrap_or(default_authority),
            authorities,
        )?;
        self.check_url(
            "spec.azure.graphEndpoint",
            azure.graph_endpoint.as_deref().unwrap_or(default_graph),
            graphs,
        )
    }

    /// Checks one endpoint URL against the built-in hosts of its field and the allowed ones.
    pub fn check_url(
        &self,
        field: &'static str,
        value: &str,
        built_in: &[&str],
    ) -> Result<(), EndpointNotAllowed> {
        let url = Url::parse(value.trim()).map_err(|_| EndpointNotAllowed::NotUrl {
            field,
            value: value.into(),
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointNotAllowed::UserInfo {
                field,
                value: redact_userinfo(&url),
            });
        }
        let Some(host) = url.host() else {
            return Err(EndpointNotAllowed::NotUrl {
                field,
                value: value.into(),
            });
        };
        let loopback = is_loopback(&host);
        let scheme = url.scheme();
        let scheme_ok = scheme == "https" || (scheme == "http" && loopback && self.allow_loopback);
        if !scheme_ok {
            return Err(EndpointNotAllowed::Scheme {
                field,
                scheme: scheme.into(),
            });
        }
        if loopback {
            return if self.allow_loopback {
                Ok(())
            } else {
                Err(EndpointNotAllowed::Loopback {
                    field,
                    host: host_text(&host),
                })
            };
        }
        let target = HostPort {
            host: host_text(&host),
            port: url.port_or_known_default().unwrap_or(HTTPS_PORT),
        };
        let built_in_match =
            target.port == HTTPS_PORT && built_in.iter().any(|h| *h == target.host);
        if built_in_match || self.allowed.contains(&target) {
            return Ok(());
        }
        Err(EndpointNotAllowed::Host {
            field,
            host: target.to_string(),
            built_in: built_in.join(", "),
        })
    }
}

/// `entry` as a host and port: parsed as the authority of an https URL, so it is normalised
/// exactly as the endpoints it is compared with.
fn parse_allowed(entry: &str) -> Result<HostPort, BadAllowedHost> {
    let bad = || BadAllowedHost {
        entry: entry.to_string(),
    };
    if entry.contains(['/', '@', '?', '#', '\\']) {
        return Err(bad());
    }
    let url = Url::parse(&format!("https://{entry}")).map_err(|_| bad())?;
    let host = url.host().ok_or_else(bad)?;
    if is_loopback(&host) {
        // Loopback is a switch of its own, never an allow-list entry.
        return Err(bad());
    }
    Ok(HostPort {
        host: host_text(&host),
        port: url.port_or_known_default().unwrap_or(HTTPS_PORT),
    })
}

/// The host as compared: the parser's normal form, without one trailing dot.
fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            d.eq_ignore_ascii_case("localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// The URL without its user name and password, for the error message.
fn redact_userinfo(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
#[path = "endpoints_tests.rs"]
mod tests;
