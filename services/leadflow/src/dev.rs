//! Development secrets for `make run`: a token-signing key pair and a VAPID
//! key pair, generated once into the data directory and reused on every
//! start, so tokens printed yesterday still work today and browsers keep
//! their push subscriptions.
//!
//! The PEM files carry leadflow's development marker line, so a service
//! started with `LEADFLOW_ENV=production` refuses them wherever they are
//! copied to; the VAPID file is refused by `leadflow` itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use leadflow_auth::{Ed25519KeyPair, mark_as_development};

/// The signing key's file name in the data directory (private, mode 0600).
const SIGNING_KEY: &str = "dev-signing-key.pem";
/// Its public half, which every service trusts in development.
const VERIFYING_KEY: &str = "dev-signing-key.pub.pem";
/// The VAPID pair: `private <base64url>` and `public <base64url>` lines.
const VAPID_KEYS: &str = "dev-vapid.keys";

/// The development secrets of one data directory.
pub struct DevSecrets {
    /// Ed25519 private key (PKCS#8 PEM): signs the demo tokens and the leads
    /// service's own calls.
    pub signing_key: PathBuf,
    /// Its public half (SPKI PEM), for `LEADFLOW_AUTH_PUBLIC_KEYS`.
    pub verifying_key: PathBuf,
    /// Raw P-256 private key, base64url: `NOTIFIER_VAPID_PRIVATE_KEY`.
    pub vapid_private: String,
    /// The public key browsers subscribe with.
    pub vapid_public: String,
}

impl DevSecrets {
    /// Reads the secrets of `data_dir`, generating whatever is missing.
    /// Returns them and whether anything was generated.
    pub fn load_or_generate(data_dir: &Path) -> anyhow::Result<(DevSecrets, bool)> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let signing_key = data_dir.join(SIGNING_KEY);
        let verifying_key = data_dir.join(VERIFYING_KEY);
        let mut generated = false;
        if !signing_key.exists() || !verifying_key.exists() {
            let pair = Ed25519KeyPair::generate();
            write_private(&signing_key, &mark_as_development(&pair.private_pem))?;
            write_private(&verifying_key, &mark_as_development(&pair.public_pem))?;
            generated = true;
        }
        let vapid_file = data_dir.join(VAPID_KEYS);
        let (vapid_private, vapid_public) = match read_vapid(&vapid_file)? {
            Some(pair) => pair,
            None => {
                let (private, public) = leadflow_notifier::channels::webpush::generate_vapid_keys();
                write_private(
                    &vapid_file,
                    &format!(
                        "# {}\nprivate {private}\npublic {public}\n",
                        leadflow_auth::DEVELOPMENT_KEY_MARKER
                    ),
                )?;
                generated = true;
                (private, public)
            }
        };
        Ok((
            DevSecrets {
                signing_key,
                verifying_key,
                vapid_private,
                vapid_public,
            },
            generated,
        ))
    }

    /// The development VAPID private key of `data_dir`, if one was generated.
    pub fn existing_vapid_private(data_dir: &Path) -> Option<String> {
        read_vapid(&data_dir.join(VAPID_KEYS))
            .ok()
            .flatten()
            .map(|(private, _)| private)
    }
}

fn read_vapid(path: &Path) -> anyhow::Result<Option<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .map(|value| value.trim().to_owned())
    };
    match (field("private"), field("public")) {
        (Some(private), Some(public)) => Ok(Some((private, public))),
        _ => anyhow::bail!(
            "{} is not a VAPID key file; delete it and a new pair is generated",
            path.display()
        ),
    }
}

/// Writes a secret readable by this user only.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("leadflow-dev-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (first, generated) = DevSecrets::load_or_generate(&dir).unwrap();
        assert!(generated);
        let pem = std::fs::read(&first.signing_key).unwrap();
        assert!(
            leadflow_auth::is_development_key(&pem),
            "marked as a dev key"
        );
        let (second, generated) = DevSecrets::load_or_generate(&dir).unwrap();
        assert!(!generated, "nothing new on the second start");
        assert_eq!(std::fs::read(&second.signing_key).unwrap(), pem);
        assert_eq!(second.vapid_private, first.vapid_private);
        assert_eq!(
            DevSecrets::existing_vapid_private(&dir).as_deref(),
            Some(first.vapid_private.as_str())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.signing_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "private key readable by its owner only");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
