//! The config file: the daemon's own (`/etc/mfa/config.toml`), of which `mfa-radius` reads
//! the top-level `socket` (radius.sock is beside it), `answer_timeout` (how long a challenge
//! stays open) and `[radius]`. The other sections are the daemon's; they are not looked at,
//! so that `mfa-radius` learns nothing it does not need.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mfa_proto::radius::{InvalidRadiusSetting, RadiusSettings};
use serde::{Deserialize, Deserializer};

/// The file read unless `--config` names another and no credential is passed.
pub(crate) const DEFAULT_CONFIG: &str = "/etc/mfa/config.toml";
/// The daemon's default `answer_timeout`.
pub(crate) const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

/// What `mfa-radius` takes from the file.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The daemon's public socket; radius.sock is beside it.
    pub(crate) socket: PathBuf,
    /// How long the daemon waits for an answer: an open challenge lives as long.
    pub(crate) answer_timeout: Duration,
    /// `[radius]`, checked.
    pub(crate) radius: RadiusSettings,
}

/// The parts of the file `mfa-radius` reads; every other key is ignored here.
#[derive(Deserialize)]
struct File {
    #[serde(default = "default_socket")]
    socket: PathBuf,
    #[serde(default = "default_answer_timeout", deserialize_with = "duration")]
    answer_timeout: Duration,
    radius: Option<RadiusSettings>,
}

fn default_socket() -> PathBuf {
    PathBuf::from(mfa_proto::DEFAULT_SOCKET)
}

fn default_answer_timeout() -> Duration {
    DEFAULT_ANSWER_TIMEOUT
}

/// A duration key, read and worded as the daemon reads it.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration ({e}); write e.g. \"90s\", \"15m\" or \"1h\""
        ))
    })
}

/// A config file `mfa-radius` cannot run with: the file, where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file cannot be read.
    #[error("config {}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or `socket`/`answer_timeout`/`[radius]` of the wrong shape.
    #[error("config {}{}: {message}", path.display(), at_line(*line))]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// No `[radius]` section: nothing to serve.
    #[error(
        "config {}: has no [radius] section; mfa-radius needs at least one [[radius.client]] \
         (see mfa.toml(5))",
        path.display()
    )]
    NoRadiusSection { path: PathBuf },
    /// `socket` is not absolute.
    #[error("config {}, key `socket`: must be an absolute path, got `{}`", path.display(), socket.display())]
    Socket { path: PathBuf, socket: PathBuf },
    /// A `[radius]` rule is broken.
    #[error("config {}{}, key `{}`: {}", path.display(), at_line(*line), invalid.key, invalid.why)]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        invalid: InvalidRadiusSetting,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// The path read when `--config` is not given: the credential systemd passed
/// (`LoadCredential=config.toml:/etc/mfa/config.toml`), so that the `mfa-radius` user needs
/// no read access to `/etc/mfa`; else the daemon's default.
pub(crate) fn default_path() -> PathBuf {
    match credentials_directory() {
        Some(dir) => dir.join("config.toml"),
        None => PathBuf::from(DEFAULT_CONFIG),
    }
}

/// `$CREDENTIALS_DIRECTORY`, where systemd puts the files of `LoadCredential=`.
pub(crate) fn credentials_directory() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
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
        let radius = file.radius.ok_or_else(|| ConfigError::NoRadiusSection {
            path: path.to_owned(),
        })?;
        radius.check().map_err(|invalid| ConfigError::Invalid {
            path: path.to_owned(),
            line: key_line(text, &invalid.key),
            invalid,
        })?;
        Ok(Config {
            socket: file.socket,
            answer_timeout: file.answer_timeout,
            radius,
        })
    }
}

/// The 1-based line holding byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len()))
        .map_or(0, |s| s.matches('\n').count())
        + 1
}

/// The line that sets `key` (`radius.listen`, or `radius.client "vpn1".address`), if the
/// file sets it. A client's keys are looked for in the `[[radius.client]]` table whose
/// `name` is the client's.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let rest = key.strip_prefix("radius.")?;
    let (client, field) = match rest.strip_prefix("client \"") {
        Some(quoted) => {
            let (name, field) = quoted.split_once("\".")?;
            (Some(name), field)
        }
        None => (None, rest.strip_prefix("client.").unwrap_or(rest)),
    };
    let in_client = client.is_some() || rest.starts_with("client.");
    let tables = tables(text);
    tables
        .iter()
        .filter(|t| {
            if in_client {
                t.name == "radius.client"
                    && client.is_none_or(|name| t.value_of("name") == Some(name))
            } else {
                t.name == "radius"
            }
        })
        .find_map(|t| t.line_of(field))
}

/// One `[table]` or `[[table]]` of the file: its name and its `key = value` lines.
struct Table<'a> {
    name: &'a str,
    keys: Vec<(usize, &'a str, &'a str)>,
}

impl Table<'_> {
    fn line_of(&self, key: &str) -> Option<usize> {
        self.keys
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(l, ..)| *l)
    }

    fn value_of(&self, key: &str) -> Option<&str> {
        let (_, _, value) = self.keys.iter().find(|(_, k, _)| *k == key)?;
        Some(value.trim_matches(|c| c == '"' || c == '\''))
    }
}

fn tables(text: &str) -> Vec<Table<'_>> {
    let mut tables = vec![Table {
        name: "",
        keys: Vec::new(),
    }];
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let header = line
            .strip_prefix("[[")
            .and_then(|l| l.strip_suffix("]]"))
            .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')));
        if let Some(name) = header {
            tables.push(Table {
                name: name.trim(),
                keys: Vec::new(),
            });
        } else if let Some((key, value)) = line.split_once('=')
            && let Some(table) = tables.last_mut()
        {
            let value = value.split('#').next().unwrap_or_default().trim();
            table.keys.push((i + 1, key.trim(), value));
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mfa/config.toml"), text)
    }

    const CLIENT: &str = "[[radius.client]]\nname = \"vpn1\"\naddress = \"192.0.2.10\"\n\
                          secret_file = \"/etc/mfa/vpn1.secret\"\n";

    #[test]
    fn reads_socket_answer_timeout_and_radius_and_ignores_the_rest() {
        let c = parse(&format!(
            "socket = \"/run/x/mfa.sock\"\nanswer_timeout = \"90s\"\n[totp]\ndigits = 6\n\
             [radius]\npassword = \"pam\"\n{CLIENT}"
        ))
        .unwrap();
        assert_eq!(c.socket, Path::new("/run/x/mfa.sock"));
        assert_eq!(c.answer_timeout, Duration::from_secs(90));
        assert_eq!(c.radius.clients.len(), 1);
        let c = parse(CLIENT).unwrap();
        assert_eq!(c.socket, Path::new(mfa_proto::DEFAULT_SOCKET));
        assert_eq!(c.answer_timeout, DEFAULT_ANSWER_TIMEOUT);
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = parse("issuer = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("no [radius] section"), "{e}");
        let e = parse(&format!("answer_timeout = \"soon\"\n{CLIENT}")).unwrap_err();
        assert!(
            e.to_string().contains("line 1") && e.to_string().contains("soon"),
            "{e}"
        );
        let e = parse(&format!(
            "{CLIENT}\n[[radius.client]]\nname = \"vpn2\"\naddress = \"192.0.2.0/24\"\n\
             secret_file = \"/x\"\nrequests_per_second = 0\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config /etc/mfa/config.toml, line 10, key `radius.client \"vpn2\".\
             requests_per_second`: must be 1 to 10000, got 0"
        );
        let e = parse(&format!("[radius]\nlisten = []\n{CLIENT}")).unwrap_err();
        assert!(e.to_string().contains("line 2, key `radius.listen`"), "{e}");
        let e = parse("[radius]\nlisten = 3\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse(&format!("socket = \"mfa.sock\"\n{CLIENT}")).unwrap_err();
        assert!(e.to_string().contains("key `socket`"), "{e}");
        let e =
            parse("[[radius.client]]\nname = \"vpn1\"\naddress = \"10.0.0.1/24\"\n").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }
}
