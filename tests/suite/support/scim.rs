//! PyPI's `scim2-server` (an in-memory SCIM 2.0 provider nobody here wrote, validating against
//! the RFC 7643 schemas) as a child process on a free loopback port, with a bearer token of its
//! own, stopped on drop; and its end state, read from the file `--dump-resources` writes when it
//! stops, as typed users and groups.
//!
//! The binary is `$SCIM2_SERVER`, else `<repo>/.tools/venv/bin/scim2-server`, installed (pinned)
//! by `scripts/install-test-tools.sh`; missing, the test fails saying so (nothing skips).
//!
//! What scim2-server 0.8.3 does, as `tests/suite/scim/server.rs` shows (the facts a SCIM client
//! meets on it):
//! - Its base URL is `http://127.0.0.1:PORT/v2`. It answers HTTP/1.0 and closes the connection
//!   after every answer (no keep-alive).
//! - `/ServiceProviderConfig` announces patch, filter (`maxResults` 1000), sort, etag, bulk and
//!   changePassword, and the bearer scheme when started with `--bearer-token`. A request without
//!   the token is 401 with `WWW-Authenticate: Bearer realm="SCIM"`.
//! - Paging is by `startIndex`/`count`; `count` above `filter.maxResults` is cut to it, and the
//!   answer says so in `itemsPerPage`. `startIndex` < 1 is read as 1; past the end the page is
//!   empty. A listing is in no documented order (not the order of creation).
//! - `filter=userName eq "…"` matches case-insensitively (userName is not caseExact);
//!   `externalId eq` is case-exact. `\"` and `\\` inside a filter's string are escapes; a
//!   malformed filter is 400 `invalidFilter`.
//! - A second user with the same userName, in any case, is 409 `uniqueness` (create and PATCH
//!   alike). `externalId` is *not* unique: two users (or groups) may share one. Group
//!   `displayName` is not unique either.
//! - PATCH answers 204 with no body. `add` of `members` merges (a member already there is not
//!   doubled); `remove` with the path `members[value eq "ID"]` removes one. Member values are
//!   not checked: an unknown id is accepted, and deleting a user leaves it in the groups' members
//!   (a SCIM client must tolerate dangling members). Nested groups are members with
//!   `"type": "Group"`.
//! - DELETE answers 204; then GET, PATCH and DELETE of that id answer 404.
//! - A missing userName is 400 `invalidValue`; email values are not validated.
//! - Errors carry `status` as a string, `scimType` where RFC 7644 names one, and `detail`. The
//!   server sets `Location` on error answers too (the collection's URL): a client must never
//!   follow it.
//! - A percent-encoded `/` in an id is decoded before routing (the WSGI server's PATH_INFO), so
//!   such an id answers 404 "No SCIM endpoint".
//! - It keeps everything in memory: a restart starts empty. The dump is written on SIGINT only
//!   (SIGTERM and SIGKILL write nothing), so `stop` interrupts it.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// How long scim2-server may take to import and bind, or to dump and exit, on a loaded machine.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);
/// How many fresh ports a first start tries when another process took its port first.
const START_ATTEMPTS: usize = 3;

/// The scim2-server binary: `$SCIM2_SERVER`, else the test tools' venv.
pub fn binary() -> PathBuf {
    std::env::var_os("SCIM2_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/scim2-server")
        })
}

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Announce and enforce this `filter.maxResults` (the largest page) instead of 1000.
    pub max_results: Option<u32>,
    /// Run this binary instead of `binary()`.
    pub binary: Option<PathBuf>,
}

/// A running scim2-server (or one stopped by `stop`, until `start_again`).
pub struct ScimServer {
    dir: tempfile::TempDir,
    binary: PathBuf,
    port: u16,
    token: String,
    child: Option<Child>,
    /// Starts so far: each writes its own dump file.
    starts: usize,
}

impl ScimServer {
    /// A server with the default configuration.
    pub async fn start() -> ScimServer {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> ScimServer {
        let binary = options.binary.unwrap_or_else(binary);
        assert!(
            binary.is_file(),
            "scim2-server not found at {}: run scripts/install-test-tools.sh (scripts/test.sh \
             does), which installs it into .tools/venv, or set SCIM2_SERVER to the binary",
            binary.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("scim2-server-")
            .tempdir()
            .expect("a temporary directory");
        if let Some(max) = options.max_results {
            // The server's default configuration with a smaller page.
            let config = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": true},
                "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": true, "maxResults": max},
                "changePassword": {"supported": false},
                "sort": {"supported": true},
                "etag": {"supported": true},
            });
            std::fs::write(dir.path().join("config.json"), config.to_string())
                .expect("write the service provider config");
        }
        let mut server = ScimServer {
            dir,
            binary,
            port: 0,
            token: format!("scim-{}", uuid::Uuid::new_v4().simple()),
            child: None,
            starts: 0,
        };
        for attempt in 1..=START_ATTEMPTS {
            server.port = free_port();
            match server.launch().await {
                Ok(()) => return server,
                Err(why) if why.contains("Address already in use") && attempt < START_ATTEMPTS => {}
                Err(why) => panic!("{why}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `http://127.0.0.1:PORT/v2`, the SCIM base URL.
    pub fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/v2", self.port)).expect("a URL")
    }

    /// The loopback address it listens on (the fault proxy's upstream).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The bearer token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Stops the server as Ctrl-C would and returns what it held: the dump it writes on the way
    /// out. Nothing answers on its port until `start_again`.
    pub async fn stop(&mut self) -> Dump {
        let mut child = self.child.take().expect("the server is running");
        pbconnector_testkit::interrupt(child.id()).expect("SIGINT to scim2-server");
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for scim2-server") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "scim2-server did not exit within {PROCESS_TIMEOUT:?} of SIGINT\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            status.success(),
            "scim2-server exited {status}\n{}",
            self.log()
        );
        let path = self.dump_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read the dump {}: {e}", path.display()));
        Dump::parse(&text)
    }

    /// Starts the server again on the same port and with the same token, empty (it keeps
    /// nothing across a restart), after `stop`.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        // The port was this server's a moment ago; another process may take it meanwhile, which
        // fails the test with the log saying so.
        self.launch().await.unwrap_or_else(|why| panic!("{why}"));
    }

    /// `stop` then `start_again`: the server lost its memory. Returns what it held.
    pub async fn restart(&mut self) -> Dump {
        let dump = self.stop().await;
        self.start_again().await;
        dump
    }

    /// Adds a user as someone other than the connector would (an admin made in the vendor's
    /// console, another company's user), and returns it as the server stored it.
    pub async fn add_user(&self, user: serde_json::Value) -> ScimUser {
        self.create("Users", user, "urn:ietf:params:scim:schemas:core:2.0:User")
            .await
    }

    /// Adds a group likewise.
    pub async fn add_group(&self, group: serde_json::Value) -> ScimGroup {
        self.create(
            "Groups",
            group,
            "urn:ietf:params:scim:schemas:core:2.0:Group",
        )
        .await
    }

    async fn create<T: for<'de> Deserialize<'de>>(
        &self,
        collection: &str,
        mut body: serde_json::Value,
        schema: &str,
    ) -> T {
        body["schemas"] = serde_json::json!([schema]);
        let response = reqwest::Client::new()
            .post(format!("{}/{collection}", self.base_url()))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .expect("scim2-server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(status, 201, "create in {collection}: {text}");
        serde_json::from_str(&text).expect("the created resource")
    }

    /// What the server holds now, read over HTTP (`/Users`, `/Groups`), for checks between
    /// syncs; the end state of a test is `stop`'s dump.
    pub async fn snapshot(&self) -> Dump {
        let client = reqwest::Client::new();
        let list = |collection: &'static str| {
            let request = client
                .get(format!("{}/{collection}", self.base_url()))
                .query(&[("count", "1000")])
                .bearer_auth(&self.token);
            async move {
                let page: ListResponse = request
                    .send()
                    .await
                    .expect("scim2-server answers")
                    .error_for_status()
                    .expect("a listing")
                    .json()
                    .await
                    .expect("a ListResponse");
                assert_eq!(
                    page.total_results,
                    page.resources.len(),
                    "a snapshot reads tens of resources in one page"
                );
                page.resources
            }
        };
        let users = list("Users").await;
        let groups = list("Groups").await;
        Dump::from_resources(users.into_iter().chain(groups))
    }

    /// Its log (stdout and stderr of every start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("scim2-server.log")).unwrap_or_default()
    }

    fn dump_path(&self) -> PathBuf {
        self.dir.path().join(format!("dump-{}.json", self.starts))
    }

    /// Starts the process on `self.port` and waits until it listens; the error says why not,
    /// with its log.
    async fn launch(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log_path = self.dir.path().join("scim2-server.log");
        let log_start = std::fs::metadata(&log_path).map_or(0, |m| m.len() as usize);
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--bearer-token")
            .arg(&self.token)
            .args(["--hostname", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--dump-resources")
            .arg(self.dump_path())
            .stdin(Stdio::null())
            .stdout(log_file(&log_path))
            .stderr(log_file(&log_path));
        let config = self.dir.path().join("config.json");
        if config.is_file() {
            cmd.arg("--service-provider-config").arg(config);
        }
        pbconnector_testkit::default_sigint(&mut cmd);
        let mut child = super::apiserver::spawn(cmd);
        let deadline = Instant::now() + PROCESS_TIMEOUT;
        let serving = format!("Serving SCIM on http://127.0.0.1:{}/v2", self.port);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let this_start = log.get(log_start..).unwrap_or_default();
            if this_start.contains(&serving) {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait().expect("wait for scim2-server") {
                return Err(format!(
                    "scim2-server exited ({status}) before it listened on port {}:\n{this_start}",
                    self.port
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "scim2-server did not listen within {PROCESS_TIMEOUT:?}:\n{this_start}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse {
    total_results: usize,
    #[serde(default, rename = "Resources")]
    resources: Vec<serde_json::Value>,
}

/// What a server held: its users and groups.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    pub users: Vec<ScimUser>,
    pub groups: Vec<ScimGroup>,
}

impl Dump {
    /// Reads the file `--dump-resources` writes: one JSON list of every resource.
    pub fn parse(text: &str) -> Dump {
        let resources: Vec<serde_json::Value> =
            serde_json::from_str(text).expect("the dump is a JSON list of resources");
        Self::from_resources(resources)
    }

    fn from_resources(resources: impl IntoIterator<Item = serde_json::Value>) -> Dump {
        let mut dump = Dump::default();
        for resource in resources {
            match resource["meta"]["resourceType"].as_str() {
                Some("User") => dump
                    .users
                    .push(serde_json::from_value(resource).expect("a SCIM user")),
                Some("Group") => dump
                    .groups
                    .push(serde_json::from_value(resource).expect("a SCIM group")),
                other => panic!("a resource of type {other:?} in the dump: {resource}"),
            }
        }
        dump
    }

    /// The user with this userName (compared as the server does: case-insensitively).
    pub fn user(&self, user_name: &str) -> Option<&ScimUser> {
        self.users
            .iter()
            .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
    }

    /// The group with this displayName; more than one fails the test.
    pub fn group(&self, display_name: &str) -> Option<&ScimGroup> {
        let mut found = self
            .groups
            .iter()
            .filter(|g| g.display_name == display_name);
        let group = found.next();
        assert!(found.next().is_none(), "two groups named {display_name:?}");
        group
    }

    /// The userNames of the users, sorted.
    pub fn user_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.users.iter().map(|u| u.user_name.clone()).collect();
        names.sort();
        names
    }

    /// The members of `group` by name, sorted: users by userName, groups by displayName;
    /// a member that is no resource here (dangling) by its id, as `?ID`.
    pub fn member_names(&self, group: &ScimGroup) -> Vec<String> {
        let mut names: Vec<String> = group
            .members
            .iter()
            .map(|m| {
                if let Some(u) = self.users.iter().find(|u| u.id == m.value) {
                    u.user_name.clone()
                } else if let Some(g) = self.groups.iter().find(|g| g.id == m.value) {
                    g.display_name.clone()
                } else {
                    format!("?{}", m.value)
                }
            })
            .collect();
        names.sort();
        names
    }
}

/// A user as the server stores it (the attributes this project reads and writes).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimUser {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub name: Option<ScimName>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
    #[serde(default)]
    pub emails: Vec<ScimEmail>,
}

impl ScimUser {
    /// The primary email's value.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .map(|e| e.value.as_str())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimName {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ScimEmail {
    pub value: String,
    pub primary: Option<bool>,
}

/// A group as the server stores it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimGroup {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
    #[serde(default)]
    pub members: Vec<ScimMember>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ScimMember {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}
