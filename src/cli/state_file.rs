//! `--state-file FILE`: the command line's `SafetyStore`, so that `sync --once` runs (from cron,
//! say) keep the safety record between them as the controller keeps it in `status.safety`: the
//! spending in the rolling window, approvals used, owned groups, leavers.
//!
//! The file holds JSON: the connector it belongs to (`namespace/name`) and the record, in the
//! shape of `status.safety`. A missing file is the empty record; a file that cannot be read or
//! parsed, or that belongs to another connector, stops the run (fail closed: nothing is written
//! to Password Boss). A write goes to a temporary file in the same directory, synced, then
//! renamed over the file (and the directory synced), before the sync's first write: a crash
//! leaves the old record or the new one, never a torn one. The version a write must name is the
//! SHA-256 of the bytes read, so the file changed by anyone since fails the write (`Conflict`).
//!
//! One run at a time: `FILE.lock` is held with an exclusive lock (`flock`) for the whole run;
//! a second run fails at once, naming it. The lock goes with the process, so a crash never
//! leaves it behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::resources::SafetyRecord;
use crate::sync::spending::{SafetyStore, SafetyStoreError, StoredRecord};

/// The file's contents.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    /// `namespace/name` of the connector whose record this is.
    connector: String,
    safety: SafetyRecord,
}

/// What keeps a state file from being used: exit code 1, nothing written.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error(
        "{lock}: another pbconnector run holds this state file's lock; wait for it to end (runs \
         must not overlap: each spends from the same safety record)"
    )]
    Locked { lock: PathBuf },
    #[error("{path}: {action}: {source}; check the path and its directory's permissions")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a pbconnector state file ({reason}); restore it, or move it away to start \
         from the manifest's status.safety (the rolling window's spending is then forgotten)"
    )]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{path}: holds the record of connector {found}, not {expected}; give each connector its \
         own state file"
    )]
    OtherConnector {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

/// A state file, locked for this process.
pub struct StateFileStore {
    path: PathBuf,
    connector: String,
    /// Held for the store's life: the lock is released when it is dropped (or the process ends).
    _lock: File,
}

/// The version of a file that does not exist.
const ABSENT: &str = "absent";

impl StateFileStore {
    /// Locks `path` for the connector `namespace/name`.
    pub fn open(path: &Path, connector: &str) -> Result<Self, StateFileError> {
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StateFileError::Io {
                path: lock_path.clone(),
                action: "cannot open the lock file",
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateFileError::Locked { lock: lock_path });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StateFileError::Io {
                    path: lock_path,
                    action: "cannot lock",
                    source,
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            connector: connector.to_owned(),
            _lock: lock,
        })
    }

    /// The record as the file holds it now (`None`: no file yet), and its version.
    pub fn load(&self) -> Result<(Option<SafetyRecord>, String), StateFileError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((None, ABSENT.to_owned()));
            }
            Err(source) => {
                return Err(StateFileError::Io {
                    path: self.path.clone(),
                    action: "cannot read",
                    source,
                });
            }
        };
        let file: StateFile =
            serde_json::from_slice(&bytes).map_err(|e| StateFileError::Invalid {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        if file.connector != self.connector {
            return Err(StateFileError::OtherConnector {
                path: self.path.clone(),
                found: file.connector,
                expected: self.connector.clone(),
            });
        }
        Ok((Some(file.safety), version_of(&bytes)))
    }

    fn store(&self, record: &SafetyRecord, version: &str) -> Result<(), SafetyStoreError> {
        let (_, current) = self.load().map_err(failed)?;
        if current != version {
            return Err(SafetyStoreError::Conflict);
        }
        let file = StateFile {
            connector: self.connector.clone(),
            safety: record.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("a safety record serializes");
        bytes.push(b'\n');
        self.replace(&bytes).map_err(failed)
    }

    /// Writes `bytes` to a temporary file beside the state file, syncs it, renames it over the
    /// state file and syncs the directory.
    fn replace(&self, bytes: &[u8]) -> Result<(), StateFileError> {
        let io = |path: &Path, action: &'static str| {
            let path = path.to_owned();
            move |source| StateFileError::Io {
                path,
                action,
                source,
            }
        };
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(format!(".tmp.{}", std::process::id()));
        let temporary = self.path.with_file_name(name);
        let written = (|| {
            let mut file = File::create(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(&temporary, "cannot write")(source));
        }
        if let Err(source) = std::fs::rename(&temporary, &self.path) {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(&self.path, "cannot replace")(source));
        }
        let directory = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(directory)
            .and_then(|d| d.sync_all())
            .map_err(io(directory, "cannot sync the directory"))
    }
}

fn failed(e: StateFileError) -> SafetyStoreError {
    SafetyStoreError::Failed(e.to_string())
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    path.with_file_name(name)
}

fn version_of(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl SafetyStore for StateFileStore {
    fn read(&self) -> BoxFuture<'_, Result<StoredRecord, SafetyStoreError>> {
        Box::pin(async move {
            let (record, version) = self.load().map_err(failed)?;
            Ok(StoredRecord {
                record: record.unwrap_or_default(),
                version,
            })
        })
    }

    fn write<'a>(
        &'a self,
        record: &'a SafetyRecord,
        version: &'a str,
    ) -> BoxFuture<'a, Result<(), SafetyStoreError>> {
        Box::pin(async move { self.store(record, version) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_names_the_version_it_read_and_one_run_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("contoso.state.json");
        let store = StateFileStore::open(&path, "ns/contoso").unwrap();
        assert!(matches!(
            StateFileStore::open(&path, "ns/contoso"),
            Err(StateFileError::Locked { .. })
        ));
        let empty = store.read().await.unwrap();
        assert_eq!(empty.version, ABSENT);
        let record = SafetyRecord {
            owned_groups: vec!["g1".into()],
            ..SafetyRecord::default()
        };
        store.write(&record, ABSENT).await.unwrap();
        let stored = store.read().await.unwrap();
        assert_eq!(stored.record, record);
        assert!(matches!(
            store.write(&record, ABSENT).await,
            Err(SafetyStoreError::Conflict)
        ));
        drop(store);
        let other = StateFileStore::open(&path, "ns/fabrikam").unwrap();
        assert!(matches!(
            other.load(),
            Err(StateFileError::OtherConnector { .. })
        ));
    }
}
