//! The config file: the daemon's own (`/etc/mfa/config.toml`), of which `mfa-web` reads the
//! top-level `socket` (to find the daemon's web socket beside it) and `[web]`. The other
//! sections are the daemon's to check; they are not even looked at, so that `mfa-web`
//! learns nothing it does not need.

use std::path::{Path, PathBuf};

use mfa_proto::web::{InvalidWebSetting, WebSettings};
use serde::Deserialize;

/// The file read unless `--config` names another and no credential is passed.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/mfa/config.toml";

/// What `mfa-web` takes from the file.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The daemon's public socket; the web socket is beside it.
    pub(crate) socket: PathBuf,
    /// `[web]`, checked.
    pub(crate) web: WebSettings,
}

/// The parts of the file `mfa-web` reads; every other key is ignored here.
#[derive(Deserialize)]
struct File {
    #[serde(default = "default_socket")]
    socket: PathBuf,
    web: Option<WebSettings>,
}

fn default_socket() -> PathBuf {
    PathBuf::from(mfa_proto::DEFAULT_SOCKET)
}

/// A config file `mfa-web` cannot run with: the file, where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file cannot be read.
    #[error("config {}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or `socket`/`[web]` of the wrong shape.
    #[error("config {}{}: {message}", path.display(), at_line(*line))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// No `[web]` section: nothing to serve.
    #[error(
        "config {}: has no [web] section; mfa-web needs at least web.public_url (see mfa.toml(5))",
        path.display()
    )]
    NoWebSection { path: PathBuf },
    /// `socket` is not absolute.
    #[error("config {}, key `socket`: must be an absolute path, got `{}`", path.display(), socket.display())]
    Socket { path: PathBuf, socket: PathBuf },
    /// A `[web]` rule is broken.
    #[error("config {}{}, key `{}`: {}", path.display(), at_line(*line), invalid.key, invalid.why)]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        invalid: InvalidWebSetting,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// The path read when `--config` is not given: the credential systemd passed
/// (`LoadCredential=config.toml:/etc/mfa/config.toml`), so that the `mfa-web` user needs no
/// read access to `/etc/mfa`; else the daemon's default.
pub(crate) fn default_path() -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join("config.toml"),
        _ => PathBuf::from(DEFAULT_CONFIG),
    }
}

impl Config {
    /// Reads and checks `path`.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Parses and checks `text`; `path` is only named in errors.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            line: e.span().map(|span| line_of(text, span.start)),
            message: e.message().trim().to_owned(),
        })?;
        if !file.socket.is_absolute() {
            return Err(ConfigError::Socket {
                path: path.to_owned(),
                socket: file.socket,
            });
        }
        let web = file.web.ok_or_else(|| ConfigError::NoWebSection {
            path: path.to_owned(),
        })?;
        web.validate().map_err(|invalid| ConfigError::Invalid {
            path: path.to_owned(),
            line: key_line(text, invalid.key),
            invalid,
        })?;
        Ok(Config {
            socket: file.socket,
            web,
        })
    }
}

/// The 1-based line holding byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len()))
        .map_or(0, |s| s.matches('\n').count())
        + 1
}

/// The line that sets `web.<key>`, if the file sets it (a missing key has no line).
fn key_line(text: &str, dotted: &str) -> Option<usize> {
    let key = dotted.strip_prefix("web.")?;
    let mut in_web = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(table) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_web = table.trim() == "web";
        } else if in_web && line.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mfa/config.toml"), text)
    }

    #[test]
    fn reads_socket_and_web_and_ignores_the_daemons_sections() {
        let c = parse(
            "socket = \"/run/x/mfa.sock\"\n[totp]\ndigits = 6\n[store]\nwhatever = 1\n\
             [web]\npublic_url = \"https://mfa.example.com\"\n",
        )
        .unwrap();
        assert_eq!(c.socket, Path::new("/run/x/mfa.sock"));
        assert_eq!(c.web.public_url, "https://mfa.example.com");
        let c = parse("[web]\npublic_url = \"https://a.example\"\n").unwrap();
        assert_eq!(c.socket, Path::new(mfa_proto::DEFAULT_SOCKET));
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = parse("[web]\npublic_url = \"https://a.example\"\nrp_id = \"b.example\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config /etc/mfa/config.toml, line 3, key `web.rp_id`: must be web.public_url's \
             host `a.example` or a domain it is under, got `b.example`"
        );
        let e = parse("issuer = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("no [web] section"), "{e}");
        let e = parse("[web]\npublic_url = \"https://a.example\"\nlisten = 3\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse("socket = \"mfa.sock\"\n[web]\npublic_url = \"https://a.example\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("key `socket`"), "{e}");
    }
}
