//! Where leadctl connects and who it is: flags and environment variables win,
//! then the chosen profile of the config file (like kubectl contexts), then
//! the local defaults of `make run`.
//!
//! The config file is `--config` / `LEADCTL_CONFIG`, else
//! `~/.config/leadctl/config.toml`, else `./data/leadctl.toml` (the one
//! `make run` writes for the demo organisation):
//!
//! ```toml
//! current = "olivia"
//! [profiles.olivia]
//! leads = "http://127.0.0.1:50051"
//! routing = "http://127.0.0.1:50052"
//! notifier = "http://127.0.0.1:50053"
//! token_file = "tokens/olivia.token"   # relative to this file; or `token = "…"`
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The profile used when none is named.
    pub current: Option<String>,
    /// The connections by name, as `--profile` picks them.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// One connection: addresses and a token. A profile in the config file has
/// these fields; so do the flags (and environment variables), which win.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The leads service, e.g. http://127.0.0.1:50051.
    #[arg(long = "leads-addr", value_name = "LEADS_ADDR")]
    #[arg(global = true, env = "LEADCTL_LEADS_ADDR")]
    pub leads: Option<String>,
    /// The routing service, e.g. http://127.0.0.1:50052.
    #[arg(long = "routing-addr", value_name = "ROUTING_ADDR")]
    #[arg(global = true, env = "LEADCTL_ROUTING_ADDR")]
    pub routing: Option<String>,
    /// The notifier, e.g. http://127.0.0.1:50053.
    #[arg(long = "notifier-addr", value_name = "NOTIFIER_ADDR")]
    #[arg(global = true, env = "LEADCTL_NOTIFIER_ADDR")]
    pub notifier: Option<String>,
    /// The bearer token.
    #[arg(long, global = true, env = "LEADCTL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the bearer token.
    #[arg(long, global = true, env = "LEADCTL_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

impl Profile {
    /// The token, given as such or read from `token_file` (relative to
    /// `base`); `None` when there is neither.
    fn token(&self, base: &Path) -> anyhow::Result<Option<String>> {
        match (&self.token, &self.token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(file)) => read_token(&base.join(file)).map(Some),
            (None, None) => Ok(None),
        }
    }
}

/// What the command line and environment said (each may be absent).
#[derive(Debug, Default, clap::Args)]
pub struct Overrides {
    /// The config file with profiles [default: ~/.config/leadctl/config.toml,
    /// else ./data/leadctl.toml].
    #[arg(long, global = true, env = "LEADCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The profile to use (default: the file's `current`).
    #[arg(short, long, global = true, env = "LEADCTL_PROFILE")]
    pub profile: Option<String>,
    /// Addresses and a token that beat the profile's.
    #[command(flatten)]
    pub connection: Profile,
}

/// The resolved target.
#[derive(Debug, Clone)]
pub struct Target {
    /// The leads service's URL.
    pub leads: String,
    /// The routing service's URL.
    pub routing: String,
    /// The notifier's URL.
    pub notifier: String,
    /// None: no token anywhere; commands that call the API say so.
    pub token: Option<String>,
}

pub const DEFAULT_LEADS: &str = "http://127.0.0.1:50051";
pub const DEFAULT_ROUTING: &str = "http://127.0.0.1:50052";
pub const DEFAULT_NOTIFIER: &str = "http://127.0.0.1:50053";

/// The config file to read, if any.
fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_owned());
    }
    let home = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config/leadctl/config.toml"))
        .filter(|p| p.exists());
    home.or_else(|| Some(PathBuf::from("data/leadctl.toml")).filter(|p| p.exists()))
}

/// The target: flags and environment variables, then the chosen profile,
/// then the defaults.
pub fn resolve(overrides: Overrides) -> anyhow::Result<Target> {
    let path = config_path(overrides.config.as_deref());
    let (file, base) = match &path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config file {}", path.display()))?;
            let file: ConfigFile = toml::from_str(&text)
                .with_context(|| format!("the config file {} is not valid", path.display()))?;
            (file, path.parent().map(Path::to_owned).unwrap_or_default())
        }
        None => (ConfigFile::default(), PathBuf::new()),
    };
    let profile = match overrides.profile.as_ref().or(file.current.as_ref()) {
        Some(name) => file.profiles.get(name).cloned().with_context(|| {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            match &path {
                Some(path) => format!(
                    "there is no profile `{name}` in {} (profiles: {})",
                    path.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
                None => format!(
                    "there is no profile `{name}`: no config file found (set LEADCTL_CONFIG)"
                ),
            }
        })?,
        None => Profile::default(),
    };
    let flags = overrides.connection;
    // Relative paths in flags are the caller's; in the file, the file's.
    let token = match flags.token(Path::new(""))? {
        Some(token) => Some(token),
        None => profile.token(&base)?,
    };
    Ok(Target {
        leads: url(flags.leads.or(profile.leads), DEFAULT_LEADS),
        routing: url(flags.routing.or(profile.routing), DEFAULT_ROUTING),
        notifier: url(flags.notifier.or(profile.notifier), DEFAULT_NOTIFIER),
        token,
    })
}

/// `host:port` is accepted as well as `http://host:port`.
fn url(given: Option<String>, default: &str) -> String {
    match given {
        Some(addr) if addr.contains("://") => addr,
        Some(addr) => format!("http://{addr}"),
        None => default.to_owned(),
    }
}

/// The token in the file at `path`, without the line break.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    Ok(token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        std::fs::write(dir.join("tokens/ana.token"), "ana-token\n").unwrap();
        let path = dir.join("leadctl.toml");
        std::fs::write(
            &path,
            "current = \"olivia\"\n\
             [profiles.olivia]\nleads = \"http://10.0.0.1:1\"\ntoken = \"olivia-token\"\n\
             [profiles.ana]\nleads = \"10.0.0.2:2\"\ntoken_file = \"tokens/ana.token\"\n",
        )
        .unwrap();
        path
    }

    #[test]
    fn flags_beat_the_profile_and_the_profile_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("leadctl-profile-{}", std::process::id()));
        let config = write_config(&dir);
        let current = resolve(Overrides {
            config: Some(config.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(current.leads, "http://10.0.0.1:1");
        assert_eq!(current.routing, DEFAULT_ROUTING);
        assert_eq!(current.token.as_deref(), Some("olivia-token"));

        let ana = resolve(Overrides {
            config: Some(config.clone()),
            profile: Some("ana".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ana.leads, "http://10.0.0.2:2", "host:port gets a scheme");
        assert_eq!(
            ana.token.as_deref(),
            Some("ana-token"),
            "token_file is relative to the config"
        );

        let flagged = resolve(Overrides {
            config: Some(config.clone()),
            profile: Some("ana".into()),
            connection: Profile {
                leads: Some("http://flag:3".into()),
                token: Some("flag-token".into()),
                ..Default::default()
            },
        })
        .unwrap();
        assert_eq!(flagged.leads, "http://flag:3");
        assert_eq!(flagged.token.as_deref(), Some("flag-token"));

        let unknown = resolve(Overrides {
            config: Some(config),
            profile: Some("zoe".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            unknown.contains("no profile `zoe`") && unknown.contains("ana, olivia"),
            "{unknown}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
