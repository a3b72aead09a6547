//! The one HTTP client every connector's Graph and Password Boss clients share.
//!
//! A `reqwest::Client` carries its TLS configuration (the parsed root certificates) and its
//! connection pools; building one per connector cost tens of kilobytes each, which dominated the
//! operator's memory with 1,000 connectors. Clones share everything. The shared settings are the
//! strict ones both services need: no redirects (a bearer token must never follow one to another
//! host), no retries (retries are the clients' own, so every request sent is counted and paced),
//! and two timeouts on every request, so that a stalled endpoint ends its request (a transient
//! failure the client retries, then the sync's failure) long before the sync's one deadline:
//! [`CONNECT_TIMEOUT`] to open a connection (TLS included) and [`READ_TIMEOUT`] of silence
//! while waiting for the answer or for the next bytes of its body. Each client adds a total
//! timeout per request of its own.
//!
//! Enterprise networks: the client trusts the bundled Mozilla roots plus the CA certificates
//! named by `SSL_CERT_FILE` (a PEM file) and `SSL_CERT_DIR` (directories of PEM files, `:`
//! separated), say the private CA of a TLS-inspecting proxy; they are added, never replace the
//! bundled roots. It sends its requests through `HTTPS_PROXY` / `HTTP_PROXY` (`ALL_PROXY`),
//! except to the hosts of `NO_PROXY`, as reqwest reads them. The connector's endpoints are judged
//! by their own host (`controller::endpoints`) whatever proxy carries the request.
//!
//! `tally` is that count: requests sent and answers by HTTP status, kept by each client and
//! read by the sync report and the metrics.

pub mod kind;
pub mod tally;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// A PEM file of CA certificates to trust besides the bundled roots (the OpenSSL convention).
pub const CERT_FILE_ENV: &str = "SSL_CERT_FILE";
/// Directories (`:`-separated) whose PEM files hold CA certificates to trust besides the bundled
/// roots (the OpenSSL convention; a mounted ConfigMap or Secret works as is).
pub const CERT_DIR_ENV: &str = "SSL_CERT_DIR";
/// The longest an outbound request (Graph, the Entra token endpoint, Password Boss) may take to
/// connect, TLS handshake included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest an outbound request may wait for its answer's headers, or between two reads of
/// its body (an idle timeout: a large answer arriving steadily is not cut).
pub const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// What every PEM block starts with: a file without it is not PEM.
const PEM_BEGIN: &[u8] = b"-----BEGIN ";

/// The client and what its extra roots came from, computed once: what the log reports is what
/// the client trusts.
struct Shared {
    client: reqwest::Client,
    roots: TrustedRoots,
}

/// What the shared client trusts besides the bundled roots, for the log.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoots {
    /// How many extra CA certificates.
    pub certificates: usize,
    /// The files they came from.
    pub sources: Vec<PathBuf>,
    /// Files of an `SSL_CERT_DIR` skipped because they hold no PEM certificate, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

fn shared_state() -> &'static Result<Shared, String> {
    SHARED.get_or_init(|| {
        let extra = ExtraRoots::from_env().map_err(|e| e.to_string())?;
        let roots = TrustedRoots {
            certificates: extra.certificates.len(),
            sources: extra.sources,
            skipped: extra.skipped,
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("pbconnector/", env!("CARGO_PKG_VERSION")));
        for certificate in extra.certificates {
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Shared { client, roots })
    })
}

/// The process-wide client; an error (no TLS backend, an unreadable `SSL_CERT_FILE`) is the same
/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`): the only place plain
/// `http://` is allowed, for every client alike.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// for every caller. Commands call it at start so such an error stops them at once.
pub fn shared() -> Result<reqwest::Client, String> {
    shared_state()
        .as_ref()
        .map(|s| s.client.clone())
        .map_err(Clone::clone)
}

/// The extra roots of the [`shared`] client (read from the environment once, with it).
pub fn trusted_roots() -> Result<&'static TrustedRoots, String> {
    shared_state()
        .as_ref()
        .map(|s| &s.roots)
        .map_err(Clone::clone)
}

/// An error with its causes on one line: reqwest's own text stops at "error sending request",
/// and the cause (an unknown issuer, a refused proxy CONNECT, a DNS failure) is what the reader
/// needs. reqwest's texts name the target URL, never a header or a proxy's credentials.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and rustls sometimes repeat their cause's text in their own.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What a request that failed without an answer tells the reader: which timeout ended it, when
/// one did (reqwest says only "operation timed out"), else the error and its causes.
pub fn describe_failure(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        if error.is_connect() {
            return format!(
                "no connection within {} s (the connect timeout); check that the endpoint is \
                 reachable",
                CONNECT_TIMEOUT.as_secs()
            );
        }
        return format!(
            "the endpoint did not answer in time (silent for {} s, the read timeout, or past \
             the request's own timeout); check that it answers promptly",
            READ_TIMEOUT.as_secs()
        );
    }
    describe(error)
}

/// A CA certificate file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExtraRootsError {
    #[error(
        "cannot read {path} (named by {var}): {source}; point {var} at a readable PEM file or \
         directory of CA certificates, or unset it"
    )]
    Read {
        var: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} (named by {var}) is not PEM: {reason}; give CA certificates as PEM \
         (-----BEGIN CERTIFICATE-----)"
    )]
    NotPem {
        var: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "certificate {index} of {path} (named by {var}) is not a valid X.509 certificate: \
         {reason}"
    )]
    BadCertificate {
        var: &'static str,
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error(
        "{path} (named by {var}) holds no CERTIFICATE; give the PEM CA certificates to trust \
         or unset {var}"
    )]
    NoCertificate { var: &'static str, path: PathBuf },
}

/// The CA certificates added to the bundled roots, and where they came from (for the log).
#[derive(Default)]
pub struct ExtraRoots {
    pub certificates: Vec<reqwest::Certificate>,
    pub sources: Vec<PathBuf>,
    /// Directory files that are not PEM certificates (a README, a DER copy, a key), and why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl ExtraRoots {
    /// Reads `SSL_CERT_FILE` and `SSL_CERT_DIR`; none set: no extra roots.
    pub fn from_env() -> Result<Self, ExtraRootsError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut roots = Self::default();
        if let Some(file) = var(CERT_FILE_ENV) {
            roots.add_file(CERT_FILE_ENV, Path::new(&file), true)?;
        }
        if let Some(dirs) = var(CERT_DIR_ENV) {
            for dir in std::env::split_paths(&dirs).filter(|d| !d.as_os_str().is_empty()) {
                roots.add_dir(&dir)?;
            }
        }
        Ok(roots)
    }

    /// Every regular file of `dir` (symbolic links followed, hidden names skipped: a mounted
    /// ConfigMap's `..data`) that holds certificates; a directory with none is an error. A file
    /// that is not PEM, or PEM without a certificate, is skipped (and listed in `skipped`); a
    /// PEM file that is broken, or whose certificate is, is an error naming it.
    fn add_dir(&mut self, dir: &Path) -> Result<(), ExtraRootsError> {
        let read = |source| ExtraRootsError::Read {
            var: CERT_DIR_ENV,
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read)? {
            let path = entry.map_err(read)?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let before = self.certificates.len();
        for file in files {
            self.add_file(CERT_DIR_ENV, &file, false)?;
        }
        if self.certificates.len() == before {
            return Err(ExtraRootsError::NoCertificate {
                var: CERT_DIR_ENV,
                path: dir.to_path_buf(),
            });
        }
        Ok(())
    }

    /// The certificates of one PEM file; `required`: a file without one is an error (in a
    /// directory, other files may sit beside the certificates: a file without a PEM block, or
    /// with PEM blocks none of which is a certificate, is skipped).
    fn add_file(
        &mut self,
        var: &'static str,
        path: &Path,
        required: bool,
    ) -> Result<(), ExtraRootsError> {
        let text = std::fs::read(path).map_err(|source| ExtraRootsError::Read {
            var,
            path: path.to_path_buf(),
            source,
        })?;
        let begins = text
            .windows(PEM_BEGIN.len())
            .filter(|w| *w == PEM_BEGIN)
            .count();
        if begins == 0 && !required {
            self.skipped
                .push((path.to_path_buf(), "not PEM (no -----BEGIN line)".into()));
            return Ok(());
        }
        let blocks = pem::parse_many(&text).map_err(|e| ExtraRootsError::NotPem {
            var,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if blocks.len() < begins {
            // A block cut short (no END line) is not silently dropped.
            return Err(ExtraRootsError::NotPem {
                var,
                path: path.to_path_buf(),
                reason: format!(
                    "{begins} -----BEGIN lines but {} complete PEM blocks",
                    blocks.len()
                ),
            });
        }
        let mut found = 0;
        for block in blocks.iter().filter(|b| b.tag() == "CERTIFICATE") {
            found += 1;
            let bad = |reason: String| ExtraRootsError::BadCertificate {
                var,
                path: path.to_path_buf(),
                index: found,
                reason,
            };
            x509_parser::parse_x509_certificate(block.contents())
                .map_err(|e| bad(e.to_string()))?;
            let certificate =
                reqwest::Certificate::from_der(block.contents()).map_err(|e| bad(e.to_string()))?;
            self.certificates.push(certificate);
        }
        if found == 0 && required {
            return Err(ExtraRootsError::NoCertificate {
                var,
                path: path.to_path_buf(),
            });
        }
        if found > 0 {
            self.sources.push(path.to_path_buf());
        } else {
            self.skipped
                .push((path.to_path_buf(), "PEM without a CERTIFICATE block".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_file_adds_each_certificate_and_names_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let two = dir.path().join("two.pem");
        std::fs::write(&two, format!("{}{}", ca_pem(), ca_pem())).unwrap();
        let mut roots = ExtraRoots::default();
        roots.add_file(CERT_FILE_ENV, &two, true).unwrap();
        assert_eq!(roots.certificates.len(), 2);
        assert_eq!(roots.sources, [two]);

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = roots.add_file(CERT_FILE_ENV, &empty, true).unwrap_err();
        assert!(
            matches!(error, ExtraRootsError::NoCertificate { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("SSL_CERT_FILE"), "{error}");

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = roots.add_file(CERT_FILE_ENV, &garbage, true).unwrap_err();
        assert!(
            matches!(error, ExtraRootsError::BadCertificate { index: 1, .. }),
            "{error}"
        );

        let missing = dir.path().join("missing.pem");
        let error = roots.add_file(CERT_FILE_ENV, &missing, true).unwrap_err();
        assert!(matches!(error, ExtraRootsError::Read { .. }), "{error}");
    }

    #[test]
    fn a_directory_reads_its_certificate_files_like_a_mounted_config_map() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("proxy-ca.crt"), ca_pem()).unwrap();
        std::os::unix::fs::symlink("..data/proxy-ca.crt", dir.path().join("proxy-ca.crt")).unwrap();
        std::fs::write(dir.path().join("README"), "not a certificate").unwrap();
        let mut roots = ExtraRoots::default();
        roots.add_dir(dir.path()).unwrap();
        assert_eq!(
            roots.certificates.len(),
            1,
            "the hidden ..data copy is not read twice"
        );

        let none = tempfile::tempdir().unwrap();
        std::fs::write(none.path().join("README"), "not a certificate").unwrap();
        let error = ExtraRoots::default().add_dir(none.path()).unwrap_err();
        assert!(
            matches!(error, ExtraRootsError::NoCertificate { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("SSL_CERT_DIR"), "{error}");
    }

    #[test]
    fn describe_names_every_cause_once() {
        #[derive(Debug)]
        struct Sending(std::io::Error);
        impl std::fmt::Display for Sending {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Sending {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Sending(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        assert_eq!(
            describe(&error),
            "error sending request: invalid peer certificate: UnknownIssuer"
        );
    }

    #[test]
    fn a_directory_skips_files_that_are_not_pem_and_refuses_broken_pem_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), ca_pem()).unwrap();
        // A DER copy beside the PEM one: binary, not UTF-8, no PEM line.
        let der = pem::parse(ca_pem()).unwrap().into_contents();
        let der_file = dir.path().join("ca.der");
        std::fs::write(&der_file, &der).unwrap();
        // PEM, but a key, not a certificate.
        let key_file = dir.path().join("tls.key");
        std::fs::write(
            &key_file,
            rcgen::KeyPair::generate().unwrap().serialize_pem(),
        )
        .unwrap();
        let mut roots = ExtraRoots::default();
        roots.add_dir(dir.path()).unwrap();
        assert_eq!(roots.certificates.len(), 1);
        assert_eq!(roots.sources, [dir.path().join("ca.crt")]);
        let skipped: Vec<&PathBuf> = roots.skipped.iter().map(|(p, _)| p).collect();
        assert_eq!(skipped, [&der_file, &key_file], "{:?}", roots.skipped);

        // A file that is PEM but broken stops the start, and the error names it.
        let broken = dir.path().join("broken.crt");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let error = ExtraRoots::default().add_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error, ExtraRootsError::NotPem { ref path, .. } if *path == broken),
            "{error}"
        );
        assert!(error.to_string().contains("broken.crt"), "{error}");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = ExtraRoots::default().add_dir(dir.path()).unwrap_err();
        assert!(
            matches!(error, ExtraRootsError::BadCertificate { ref path, .. } if *path == broken),
            "{error}"
        );
        assert!(error.to_string().contains("broken.crt"), "{error}");
    }
}
