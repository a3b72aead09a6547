//! Secret values for the command line from the environment or standard input, so that no
//! credential has to sit in a file (or on the command line, where `ps` shows it).
//!
//! `--secret-from-env NAME/KEY=VARIABLE` takes the value of key `KEY` of the Secret `NAME` (as
//! the connector's `...SecretRef` names them) from the environment variable `VARIABLE`;
//! `--secret-from-stdin NAME/KEY` reads it from standard input (one value: all of it, one trailing
//! newline dropped). A value given so takes the place of the same key in a Secret of the files.
//! Errors name the Secret, the key and the variable, never a value.

use std::collections::BTreeMap;
use std::io::Read;

use crate::sync::secrets::{MAX_SECRET_BYTES, SecretData};

/// The flags, shared by `sync`, `plan` and `verify`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecretArgs {
    /// Take key KEY of Secret NAME from the environment variable VARIABLE (repeatable), instead
    /// of from a Secret in the files.
    #[arg(long = "secret-from-env", value_name = "NAME/KEY=VARIABLE")]
    pub from_env: Vec<String>,
    /// Take key KEY of Secret NAME from standard input (all of it, one trailing newline dropped).
    #[arg(long = "secret-from-stdin", value_name = "NAME/KEY")]
    pub from_stdin: Option<String>,
}

/// A flag that cannot be used: exit code 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretArgError {
    #[error(
        "--secret-from-env {given:?}: write NAME/KEY=VARIABLE, e.g. \
         entra-app/client-secret=ENTRA_CLIENT_SECRET"
    )]
    EnvShape { given: String },
    #[error("--secret-from-stdin {given:?}: write NAME/KEY, e.g. passwordboss/token")]
    StdinShape { given: String },
    #[error(
        "--secret-from-env {secret}/{key}={variable}: the environment variable {variable} is not \
         set (or not UTF-8); export it first"
    )]
    Unset {
        secret: String,
        key: String,
        variable: String,
    },
    #[error("{secret}/{key} is given twice; give each key once")]
    Twice { secret: String, key: String },
    #[error("{secret}/{key} is empty; give the credential itself")]
    Empty { secret: String, key: String },
    #[error("{secret}/{key} is larger than {MAX_SECRET_BYTES} bytes; is it the right value?")]
    TooLarge { secret: String, key: String },
    #[error("--secret-from-stdin {secret}/{key}: cannot read standard input: {reason}")]
    Stdin {
        secret: String,
        key: String,
        reason: String,
    },
}

/// `NAME/KEY` as Kubernetes allows them: a Secret name has no `/`, nor has a key.
fn secret_key(text: &str) -> Option<(String, String)> {
    let (name, key) = text.split_once('/')?;
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    (valid(name) && valid(key)).then(|| (name.to_owned(), key.to_owned()))
}

impl SecretArgs {
    /// Puts the values the flags name into `secrets` (by Secret name), reading variables with
    /// `env` and standard input with `stdin` (only when `--secret-from-stdin` is given).
    pub fn apply(
        &self,
        secrets: &mut BTreeMap<String, SecretData>,
        env: impl Fn(&str) -> Option<String>,
        stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
    ) -> Result<(), SecretArgError> {
        let mut given: Vec<(String, String, Vec<u8>)> = Vec::new();
        for flag in &self.from_env {
            let shape = || SecretArgError::EnvShape {
                given: flag.clone(),
            };
            let (target, variable) = flag.split_once('=').ok_or_else(shape)?;
            let (secret, key) = secret_key(target).ok_or_else(shape)?;
            if variable.is_empty() {
                return Err(shape());
            }
            let value = env(variable).ok_or_else(|| SecretArgError::Unset {
                secret: secret.clone(),
                key: key.clone(),
                variable: variable.to_owned(),
            })?;
            given.push((secret, key, value.into_bytes()));
        }
        if let Some(flag) = &self.from_stdin {
            let (secret, key) = secret_key(flag).ok_or_else(|| SecretArgError::StdinShape {
                given: flag.clone(),
            })?;
            let mut value = stdin().map_err(|e| SecretArgError::Stdin {
                secret: secret.clone(),
                key: key.clone(),
                reason: e.to_string(),
            })?;
            if value.ends_with(b"\n") {
                value.pop();
                if value.ends_with(b"\r") {
                    value.pop();
                }
            }
            given.push((secret, key, value));
        }
        for (i, (secret, key, value)) in given.iter().enumerate() {
            let named = || (secret.clone(), key.clone());
            if given[..i].iter().any(|(s, k, _)| s == secret && k == key) {
                let (secret, key) = named();
                return Err(SecretArgError::Twice { secret, key });
            }
            if value.is_empty() {
                let (secret, key) = named();
                return Err(SecretArgError::Empty { secret, key });
            }
            if value.len() > MAX_SECRET_BYTES {
                let (secret, key) = named();
                return Err(SecretArgError::TooLarge { secret, key });
            }
        }
        for (secret, key, value) in given {
            secrets.entry(secret).or_default().insert(key, value);
        }
        Ok(())
    }

    /// `apply` with the process's environment and standard input.
    pub fn apply_from_process(
        &self,
        secrets: &mut BTreeMap<String, SecretData>,
    ) -> Result<(), SecretArgError> {
        self.apply(
            secrets,
            |name| std::env::var(name).ok(),
            || {
                let mut value = Vec::new();
                std::io::stdin()
                    .take(MAX_SECRET_BYTES as u64 + 2)
                    .read_to_end(&mut value)?;
                Ok(value)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(env: &[&str], stdin: Option<&str>) -> SecretArgs {
        SecretArgs {
            from_env: env.iter().map(|s| (*s).to_owned()).collect(),
            from_stdin: stdin.map(Into::into),
        }
    }

    fn no_stdin() -> std::io::Result<Vec<u8>> {
        panic!("standard input is read only for --secret-from-stdin")
    }

    #[test]
    fn values_from_the_environment_and_stdin_take_the_place_of_the_files() {
        let mut secrets = BTreeMap::from([(
            "entra-app".to_string(),
            SecretData::from([("client-secret".into(), b"from-file".to_vec())]),
        )]);
        let env = |name: &str| (name == "ENTRA_SECRET").then(|| "from-env".to_string());
        args(
            &["entra-app/client-secret=ENTRA_SECRET"],
            Some("passwordboss/token"),
        )
        .apply(&mut secrets, env, || Ok(b"tok\r\n".to_vec()))
        .unwrap();
        assert_eq!(secrets["entra-app"]["client-secret"], b"from-env");
        assert_eq!(secrets["passwordboss"]["token"], b"tok");
    }

    #[test]
    fn bad_flags_say_what_to_write_and_never_show_a_value() {
        let mut secrets = BTreeMap::new();
        let env = |_: &str| Some("s3cret-value".to_string());
        for (flag, expected) in [
            ("entra-app=X", "NAME/KEY=VARIABLE"),
            ("entra-app/client-secret", "NAME/KEY=VARIABLE"),
            ("entra-app/client-secret=", "NAME/KEY=VARIABLE"),
            ("a/b/c=X", "NAME/KEY=VARIABLE"),
        ] {
            let e = args(&[flag], None)
                .apply(&mut secrets, env, no_stdin)
                .unwrap_err();
            assert!(e.to_string().contains(expected), "{flag}: {e}");
        }
        let e = args(&["a/b=UNSET"], None)
            .apply(&mut secrets, |_| None, no_stdin)
            .unwrap_err();
        assert!(e.to_string().contains("UNSET is not set"), "{e}");
        let e = args(&["a/b=X", "a/b=Y"], None)
            .apply(&mut secrets, env, no_stdin)
            .unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            e,
            SecretArgError::Twice {
                secret: "a".into(),
                key: "b".into()
            }
        );
        let e = args(&[], Some("a/b"))
            .apply(&mut secrets, env, || Ok(b"\n".to_vec()))
            .unwrap_err();
        assert!(matches!(e, SecretArgError::Empty { .. }), "{e}");
        assert!(secrets.is_empty(), "nothing is taken from a failed set");
    }
}
