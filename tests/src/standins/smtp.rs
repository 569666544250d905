//! A real SMTP server for the email tests: `fixtures/smtp_standin.py` on Debian's
//! python3-aiosmtpd, on 127.0.0.1, plain, with STARTTLS or with implicit TLS, with or without
//! AUTH. The TLS modes use a test CA and a server certificate (for `localhost`, 127.0.0.1 and
//! ::1) made with the `openssl` command in the stand-in's scratch directory.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::run_setup;
use crate::scratch::{ScratchDir, write_file};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/smtp_standin.py");
/// Debian's interpreter: the one python3-aiosmtpd installs into, whatever `python3` is on PATH.
const PYTHON: &str = "/usr/bin/python3";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// No TLS.
    #[default]
    Plain,
    /// STARTTLS offered, and required before MAIL FROM.
    StartTls,
    /// TLS from the first byte.
    ImplicitTls,
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Plain, STARTTLS or implicit TLS.
    pub security: SmtpSecurity,
    /// `(user, password)` that AUTH must present before MAIL FROM.
    pub auth: Option<(String, String)>,
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// Headers and body as received.
    pub data: String,
    /// Whether the session was encrypted when the message came.
    pub tls: bool,
    /// The user the session authenticated as, if any.
    pub auth_user: Option<String>,
}

impl Mail {
    /// The value of the first header `name` (case-insensitive, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The body after the headers; decoded when it is quoted-printable (soft line breaks
    /// joined, `=XX` turned back into bytes, read as UTF-8).
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let quoted_printable = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if quoted_printable {
            decode_quoted_printable(body)
        } else {
            body.replace("=\r\n", "")
        }
    }
}

/// Quoted-printable (RFC 2045 6.7) back to text: `=` at a line's end joins it to the next,
/// `=XX` is the byte XX; anything else stays as it is.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = joined
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'=')
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match byte {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running server: stopped by its PID and removed on drop.
#[derive(Debug)]
pub struct SmtpStandin {
    child: Child,
    port: u16,
    ca_file: Option<PathBuf>,
    /// Indexes (in [`SmtpStandin::messages`]) of the messages a `wait_for` handed out.
    claimed: Mutex<HashSet<usize>>,
    scratch: ScratchDir,
}

impl SmtpStandin {
    /// Starts the server and waits until it accepts connections.
    pub fn start(options: SmtpOptions) -> SmtpStandin {
        crate::sweep_leftovers_once();
        let scratch = ScratchDir::create();
        let dir = scratch.path();
        let mut command = Command::new(PYTHON);
        command.arg(SCRIPT).arg("--dir").arg(dir);
        let mut ca_file = None;
        if options.security != SmtpSecurity::Plain {
            let (ca, cert, key) = make_certificates(dir);
            let flag = match options.security {
                SmtpSecurity::StartTls => "--starttls",
                _ => "--implicit-tls",
            };
            command.arg(flag).arg(cert).arg(key);
            ca_file = Some(ca);
        }
        if let Some((user, password)) = &options.auth {
            let password_file = dir.join("smtp-password");
            write_file(&password_file, password, 0o600);
            command.arg("--auth").arg(user).arg(password_file);
        }
        let log = dir.join("smtp.log");
        let log_file = File::create(&log).expect("create the SMTP stand-in's log");
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON} {SCRIPT}: {e}"));
        scratch.record_pid("smtp", child.id());
        let mut standin = SmtpStandin {
            child,
            port: 0,
            ca_file,
            claimed: Mutex::new(HashSet::new()),
            scratch,
        };
        standin.port = standin.wait_for_port(&log);
        standin
    }

    fn wait_for_port(&mut self, log: &Path) -> u16 {
        let deadline = Instant::now() + START_TIMEOUT;
        let port_file = self.scratch.path().join("port");
        loop {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                return port;
            }
            let exited = self.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the SMTP stand-in did not start ({}); is python3-aiosmtpd installed? log:\n{}",
                exited.map_or("timed out".to_owned(), |status| status.to_string()),
                fs::read_to_string(log).unwrap_or_default()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test CA's certificate (PEM), for `[email] ca_file`; `None` in plain mode.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        let dir = self.scratch.path().join("messages");
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|path| {
                let text = fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                let record: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
                Mail {
                    mail_from: record["mail_from"].as_str().unwrap_or_default().to_owned(),
                    rcpt_tos: record["rcpt_tos"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect(),
                    data: record["data"].as_str().unwrap_or_default().to_owned(),
                    tls: record["tls"].as_bool().unwrap_or(false),
                    auth_user: record["auth_user"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    /// The oldest message to `to` that no earlier `wait_for` returned, waiting up to `timeout`
    /// for it; panics if none comes.
    pub fn wait_for(&self, to: &str, timeout: Duration) -> Mail {
        self.wait_for_where(to, timeout, |_| true)
    }

    /// The oldest message to `to` that `wanted` accepts and no earlier `wait_for` returned,
    /// waiting up to `timeout` for it; panics if none comes. Messages `wanted` refuses stay
    /// unclaimed.
    pub fn wait_for_where(
        &self,
        to: &str,
        timeout: Duration,
        wanted: impl Fn(&Mail) -> bool,
    ) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut claimed = self.claimed.lock().expect("claimed messages");
                let found = self.messages().into_iter().enumerate().find(|(at, mail)| {
                    !claimed.contains(at) && mail.rcpt_tos.iter().any(|r| r == to) && wanted(mail)
                });
                if let Some((at, mail)) = found {
                    claimed.insert(at);
                    return mail;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no such mail to {to} within {timeout:?}; received: {:?}",
                self.messages()
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// The messages accepted so far that went to `to`, oldest first.
    pub fn messages_to(&self, to: &str) -> Vec<Mail> {
        self.messages()
            .into_iter()
            .filter(|mail| mail.rcpt_tos.iter().any(|r| r == to))
            .collect()
    }
}

/// The code in an email body: the first line that holds nothing but 4 to 10 letters and
/// digits, as the daemon sets a code on a line of its own (the rest of the text may carry
/// digits too: a user name, a date).
pub fn email_code(body: &str) -> Option<String> {
    body.lines()
        .map(str::trim)
        .find(|line| {
            (4..=10).contains(&line.len())
                && line.bytes().all(|b| b.is_ascii_alphanumeric())
                && line.bytes().any(|b| b.is_ascii_digit())
        })
        .map(str::to_owned)
}

impl Drop for SmtpStandin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test CA and a server certificate it signed for localhost, 127.0.0.1 and ::1, valid for
/// two days: `(ca.pem, server.pem, server.key)`.
pub(crate) fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (ca_key, ca, key, csr, cert, ext) = (
        path("ca.key"),
        path("ca.pem"),
        path("server.key"),
        path("server.csr"),
        path("server.pem"),
        path("server.ext"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=mfa-tests CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run_setup("openssl", &args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    run_setup("openssl", &args);
    write_file(
        Path::new(&ext),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n",
        0o644,
    );
    run_setup(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
    (ca.into(), cert.into(), key.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_is_decoded() {
        assert_eq!(
            decode_quoted_printable("The phone +1 =E2=80=A2-4567 was=\r\n removed =3D ok"),
            "The phone +1 •-4567 was removed = ok"
        );
        assert_eq!(decode_quoted_printable("100% =ZZ="), "100% =ZZ=");
    }

    #[test]
    fn the_code_is_the_line_of_its_own() {
        let body = "Your verification code for mfat123u4 on vm is:\r\n\r\n    570304\r\n\r\n\
                    It was requested at 2026-11-25T18:44:35Z (UTC).\r\n";
        assert_eq!(email_code(body).as_deref(), Some("570304"));
        assert_eq!(email_code("no code\r\nhere\r\n"), None);
    }
}
