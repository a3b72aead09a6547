//! A realistic sample tenant and Password Boss company on the two simulators, with the
//! manifests a user would apply to connect them: used by `pbconnector demo`, the CLI's tests and
//! the benchmarks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::graph::{GraphSim, GraphSimulator, SimTenant, SimUser, UserState};
use super::passwordboss::wire::{MANAGED_BY_ACTIVE_DIRECTORY, UserStatus};
use super::passwordboss::{PbSim, SeedUser, SimConfig};

/// A Secret's data: key → bytes (a Kubernetes `Secret`'s `data`, decoded).
pub type SecretData = BTreeMap<String, Vec<u8>>;

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Dennis",
    "Radia",
    "Ken",
    "Shafi",
    "Leslie",
    "Hedy",
    "Tim",
    "Katherine",
    "Niklaus",
    "Sophie",
    "Claude",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "Thompson",
    "Goldwasser",
    "Lamport",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Wirth",
    "Wilson",
    "Shannon",
];

/// Sizes of the sample.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Regular members of the sync group (besides the special users below).
    pub users: usize,
    /// Password Boss licences; `None` = users + 25.
    pub licenses: Option<u32>,
    /// Connector interval written into the manifests.
    pub interval: String,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            users: 300,
            licenses: None,
            interval: "10s".into(),
        }
    }
}

/// The running sample: both simulators, the tenant, and what a connector needs to reach them.
pub struct SampleEnvironment {
    pub graph: GraphSim,
    pub password_boss: PbSim,
    pub tenant: SimTenant,
    pub tenant_domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub sync_group_id: String,
    /// Mirrored groups: (display name, id).
    pub groups: Vec<(String, String)>,
    /// Regular members, in order (ids).
    pub members: Vec<String>,
    /// The nested group inside the sync group.
    pub nested_group_id: String,
    /// The special users (guest, disabled, no mail, two sharing an email), direct members of the
    /// sync group.
    pub specials: Vec<String>,
    /// Users outside the sync group (ids), for scripted joins.
    pub outsiders: Vec<String>,
    pub interval: String,
}

impl SampleEnvironment {
    /// Starts both simulators on loopback and fills them.
    pub async fn start(options: SampleOptions) -> std::io::Result<Self> {
        let graph = GraphSimulator::start().await?;
        let tenant_domain = "contoso.onmicrosoft.com".to_string();
        let tenant = graph.add_tenant(&tenant_domain);
        let client_id = tenant.add_app();
        let client_secret = format!("demo~{}", uuid::Uuid::new_v4().simple());
        tenant.add_secret(&client_id, &client_secret, false);

        let sync_group_id = tenant.add_group("Password Boss Users");
        let nested_group_id = tenant.add_group("Contractors");
        tenant.add_member(&sync_group_id, &nested_group_id);
        let groups: Vec<(String, String)> = ["Engineering", "HR", "Sales"]
            .iter()
            .map(|name| (name.to_string(), tenant.add_group(name)))
            .collect();

        let mut members = Vec::with_capacity(options.users);
        for i in 0..options.users {
            let (first, last) = name(i);
            let upn = format!(
                "{}.{}{}@contoso.com",
                first.to_lowercase(),
                last.to_lowercase(),
                i
            );
            let id = tenant.add_user(&format!("{first} {last}"), &upn);
            // Every fifth member comes in through the nested group.
            let parent = if i % 5 == 4 {
                &nested_group_id
            } else {
                &sync_group_id
            };
            tenant.add_member(parent, &id);
            tenant.add_member(&groups[i % groups.len()].1, &id);
            members.push(id);
        }
        let special = |display: &str, mail: Option<&str>, upn: &str, enabled: bool, guest: bool| {
            let id = uuid::Uuid::new_v4().to_string();
            let (given, surname) = display.split_once(' ').unwrap_or((display, ""));
            tenant.add_user_with(SimUser {
                id: id.clone(),
                display_name: display.into(),
                given_name: Some(given.into()),
                surname: (!surname.is_empty()).then(|| surname.into()),
                mail: mail.map(Into::into),
                user_principal_name: upn.into(),
                account_enabled: enabled,
                user_type: if guest { "Guest" } else { "Member" }.into(),
                state: UserState::Active,
                changed: 0,
            });
            tenant.add_member(&sync_group_id, &id);
            id
        };
        // (display name, mail, UPN, enabled, guest)
        let specials: Vec<String> = [
            // A guest: external mail, #EXT# UPN.
            (
                "Gwen Guest",
                Some("gwen@fabrikam.example"),
                "gwen_fabrikam.example#EXT#@contoso.onmicrosoft.com",
                true,
                true,
            ),
            // A disabled account in the group: never gets an account.
            (
                "Dora Disabled",
                Some("dora.disabled@contoso.com"),
                "dora@contoso.com",
                false,
                false,
            ),
            // No mail: the UPN is used.
            ("Kim Kiosk", None, "kim.kiosk@contoso.com", true, false),
            // A duplicate email: both users are reported, neither provisioned.
            (
                "Dup One",
                Some("shared@contoso.com"),
                "dup1@contoso.com",
                true,
                false,
            ),
            (
                "Dup Two",
                Some("shared@contoso.com"),
                "dup2@contoso.com",
                true,
                false,
            ),
        ]
        .into_iter()
        .map(|(display, mail, upn, enabled, guest)| special(display, mail, upn, enabled, guest))
        .collect();

        let outsiders = (0..5)
            .map(|i| {
                let (first, last) = name(options.users + 137 + i * 3);
                let upn = format!(
                    "{}.{}.new{i}@contoso.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                tenant.add_user(&format!("{first} {last}"), &upn)
            })
            .collect();

        let licenses = options.licenses.unwrap_or(options.users as u32 + 25);
        let password_boss = PbSim::start(SimConfig {
            company_name: "Contoso".into(),
            license_total: licenses,
            ..SimConfig::default()
        })
        .await?;
        // A portal user with the email of an Entra member: adopted on the first sync.
        let (first, last) = name(0);
        let adoptee = format!(
            "{}.{}0@contoso.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
        let _ = password_boss.add_user(SeedUser::new(&adoptee, first, last));
        // An admin, and a user of the on-premises AD connector: never touched.
        let _ =
            password_boss.add_user(SeedUser::new("it-admin@contoso.com", "Ivy", "Admin").admin());
        let _ = password_boss.add_user(
            SeedUser::new("legacy@contoso.com", "Lee", "Legacy")
                .managed_by(MANAGED_BY_ACTIVE_DIRECTORY)
                .status(UserStatus::Active),
        );

        Ok(Self {
            graph,
            password_boss,
            tenant,
            tenant_domain,
            client_id,
            client_secret,
            sync_group_id,
            groups,
            members,
            nested_group_id,
            specials,
            outsiders,
            interval: options.interval,
        })
    }

    /// The connector's `spec`, pointed at the simulators, as the `AzureAdConnector` manifest
    /// carries it (every field written out, defaults included).
    pub fn spec_json(&self) -> Value {
        let graph_url = self.graph.url().trim_end_matches('/').to_string();
        let leave = "Disable";
        json!({
            "azure": {
                "tenantId": self.tenant_domain,
                "clientId": self.client_id,
                "cloud": "Public",
                "authorityHost": graph_url,
                "graphEndpoint": graph_url,
                "clientSecretRef": {"name": "entra-app", "key": "client-secret"},
            },
            "passwordBoss": {
                "apiUrl": self.password_boss.url().as_str().trim_end_matches('/'),
                "tokenSecretRef": {"name": "passwordboss", "key": "token"},
            },
            "syncGroup": {"displayName": "Password Boss Users"},
            "groups": self
                .groups
                .iter()
                .map(|(name, _)| json!({"displayName": name}))
                .collect::<Vec<_>>(),
            "nestedGroups": true,
            "emailAttribute": "Mail",
            "syncRules": {
                "newUser": "Create",
                "userDisabled": leave,
                "userDeleted": leave,
                "userRemovedFromGroup": leave,
                "existingUser": "Adopt",
            },
            "safety": {
                "maxDeprovisionsPerSync": 25,
                "maxDeprovisionPercent": 20,
                "percentFloor": 2,
                "maxDeprovisionsPerWindow": 50,
                "window": "24h",
                "removalGracePeriod": "24h",
            },
            "interval": self.interval,
            "fullSyncInterval": "1h",
            "suspend": false,
            "dryRun": false,
        })
    }

    /// The whole `AzureAdConnector` object, named `contoso`, in `namespace`.
    pub fn connector_json(&self, namespace: &str) -> Value {
        json!({
            "apiVersion": "passwordboss.com/v1alpha1",
            "kind": "AzureAdConnector",
            "metadata": {"name": "contoso", "namespace": namespace},
            "spec": self.spec_json(),
        })
    }

    /// The Secrets the spec references, by name.
    pub fn secrets(&self) -> BTreeMap<String, SecretData> {
        BTreeMap::from([
            (
                "entra-app".to_string(),
                SecretData::from([(
                    "client-secret".into(),
                    self.client_secret.clone().into_bytes(),
                )]),
            ),
            (
                "passwordboss".to_string(),
                SecretData::from([(
                    "token".into(),
                    self.password_boss.token().as_bytes().to_vec(),
                )]),
            ),
        ])
    }

    /// The manifests a user would `kubectl apply` (or pass to `pbconnector sync -f`).
    pub fn manifests(&self, namespace: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Sample connector for the simulators started by `pbconnector demo --serve`.\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: entra-app\n  namespace: {namespace}\n\
             type: Opaque\nstringData:\n  client-secret: \"{}\"\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata:\n  name: passwordboss\n  namespace: {namespace}\n\
             type: Opaque\nstringData:\n  token: \"{}\"\n---",
            self.client_secret,
            self.password_boss.token()
        );
        let connector = self.connector_json(namespace);
        out.push_str(&serde_saphyr::to_string(&connector).expect("the connector serializes"));
        out
    }
}

/// A distinct-looking name for the i-th sample user (400 combinations before repeating).
impl SampleEnvironment {
    /// Removes every user from the sync group (directly and through the nested group), as a
    /// misconfigured group or a bad bulk edit would.
    pub fn empty_sync_group(&self) {
        for (group, id) in self.sync_group_memberships() {
            self.tenant.remove_member(group, id);
        }
    }

    /// Puts back every member `empty_sync_group` removed.
    pub fn refill_sync_group(&self) {
        for (group, id) in self.sync_group_memberships() {
            self.tenant.add_member(group, id);
        }
    }

    /// (group, member) for every user of the sync group: every fifth regular member through the
    /// nested group, the others and the special users directly.
    fn sync_group_memberships(&self) -> Vec<(&str, &str)> {
        let regular = self.members.iter().enumerate().map(|(i, id)| {
            let parent = if i % 5 == 4 {
                &self.nested_group_id
            } else {
                &self.sync_group_id
            };
            (parent.as_str(), id.as_str())
        });
        let special = self
            .specials
            .iter()
            .map(|id| (self.sync_group_id.as_str(), id.as_str()));
        regular.chain(special).collect()
    }
}

fn name(i: usize) -> (&'static str, &'static str) {
    (
        FIRST[i % FIRST.len()],
        LAST[(i * 7 + i / FIRST.len()) % LAST.len()],
    )
}
