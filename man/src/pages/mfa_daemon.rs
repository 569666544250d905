//! mfa-daemon(8). The daemon parses its two forms by hand (`mfa-daemon/src/cli.rs`); this
//! clap definition describes them for the page only, and the tests check that every flag the
//! daemon accepts is on it.

use clap::{Arg, ArgAction, Command};

use super::Page;
use crate::cli_page::CliPage;
use crate::doc::{Doc, references};

/// The daemon's command line as `mfa-daemon --help` states it.
fn command() -> Command {
    Command::new("mfa-daemon")
        .version(env!("CARGO_PKG_VERSION"))
        .about("the pam-mfa daemon: second-factor decisions for PAM")
        .long_about(
            "mfa-daemon holds the secrets of pam-mfa and makes every decision: whom to ask, \
             which codes are right, how many attempts a source has left. pam_mfa.so, \
             mfa-enroll and mfactl talk to it over two Unix sockets and hold nothing \
             themselves.\n\n\
             It runs in the foreground, reads its configuration (see mfa.toml(5)) and keeps \
             one record per user in its state directory, or, with `[store] engine = \
             \"postgres\"`, in a PostgreSQL database that a fleet of hosts shares. A code is \
             accepted at most once: the used code is written durably before success is \
             answered.",
        )
        .override_usage(
            "mfa-daemon [--config FILE]\nmfa-daemon --check-config FILE\n\
             mfa-daemon [--config FILE] --import-records STATE_DIR",
        )
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help(
                    "Read this configuration file, which must exist. Without this option the \
                     daemon reads /etc/mfa/config.toml, or uses the built-in defaults when \
                     that file does not exist.",
                ),
        )
        .arg(
            Arg::new("check-config")
                .long("check-config")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help(
                    "Check the file, credential files included, and exit: print `FILE: ok` \
                     and exit 0, or print one line naming the file, line, key and problem \
                     and exit 2.",
                ),
        )
        .arg(
            Arg::new("import-records")
                .long("import-records")
                .value_name("STATE_DIR")
                .action(ArgAction::Set)
                .help(
                    "Copy every user record of a file-engine state directory into the \
                     database the configuration names (`[store] engine = \"postgres\"`), and \
                     exit. A user who already has a record there is left alone; prints how \
                     many were copied, left and failed, and exits 1 if any failed. Stop the \
                     daemons of both first.",
                ),
        )
}

pub fn page(date: &str) -> Page {
    let cli = CliPage::new(command(), "8");
    let mut doc = Doc::new("mfa-daemon", "8", date);
    cli.head(&mut doc);
    cli.options(&mut doc);

    doc.section("SOCKETS");
    doc.markdown(
        "The public socket, `socket` in the configuration (default `/run/mfa/mfa.sock`, mode \
         0666), serves users: `mfa-enroll`(1) and screen lockers. Each request is authorized \
         by the caller's uid (`SO_PEERCRED`): root may act for anyone, others only for \
         themselves. It serves 512 connections at once, at most 8 per uid; a connection over \
         its uid's share is refused at once, and when all 512 are taken the uid holding the \
         most gives up its oldest connection waiting for an answer rather than the newcomer \
         being refused.",
    );
    doc.markdown(
        "The privileged socket is `private/` and the same name beside it (default \
         `/run/mfa/private/mfa.sock`; directory 0700, socket 0600): only root can connect, \
         so `pam_mfa`(8) run by sshd, sudo, login or su, and `mfactl`(8), are never queued \
         behind users. It has its own 256 connections, counted by whom each root process \
         serves, read from `/proc/PID/status` and `/proc/PID/loginuid`: a setuid `su` or \
         `sudo` counts against the user who started it (its real uid, or when that is 0 its \
         login uid), 32 per user; callers outside any session (real uid 0, no login uid: \
         sshd before the session) keep 128 that no user can take. A process whose entry \
         cannot be read counts as one shared unidentified caller.",
    );

    doc.section("SIGNALS");
    doc.item_markdown(
        "SIGHUP",
        "Read the configuration file again (`systemctl reload mfa-daemon`). If it is valid, \
         its credential files are good and `socket` and `state_dir` are unchanged, it is in \
         force for every conversation that starts from then on, and the daemon logs \
         `mfa-daemon: reloaded FILE`; counts, lockouts and codes waiting for an answer stay. \
         Otherwise it logs why the new file is refused and keeps the running configuration.",
    );
    doc.item_markdown(
        "SIGTERM, SIGINT",
        "Stop accepting, remove the sockets it bound itself and exit 0. Sockets passed by \
         systemd stay: they keep queueing connections for the next daemon.",
    );

    doc.section("LOGGING");
    doc.markdown(
        "One line per event on standard error (the journal, under systemd): \
         `mfa-daemon: MESSAGE`, without colours or timestamps (the journal stamps each line). \
         When standard error is the journal (`JOURNAL_STREAM` names it), each line starts \
         with its `sd-daemon`(3) priority, `<3>` error, `<4>` warning, `<6>` info, `<7>` \
         debug and trace, so that `journalctl -p warning -u mfa-daemon` shows only what went \
         wrong. Which lines are written is set by `RUST_LOG` (see ENVIRONMENT) or else by \
         `log_level` in `mfa.toml`(5) (`error`, `warn`, `info`, `debug`, `trace`; default \
         `info`), which SIGHUP applies: `error` for what an admin must act on, `warn` for \
         degraded operation and refused callers, `info` for starting, listening, reloading \
         and stopping, `debug` for detail. At `info` the libraries the daemon uses (TLS, \
         PostgreSQL, SMTP, HTTP) log only their warnings and errors; at `debug` everything, \
         each line naming the library after `mfa-daemon: `.",
    );
    doc.markdown(
        "Audit events are a separate channel, written whatever the level: JSON after the \
         prefix `audit: `, also sent to syslog (facility authpriv) when `/dev/log` exists, \
         e.g.",
    );
    doc.code(&[
        r#"audit: {"event":"sign_in_succeeded","user":"alice","#,
        r#"  "service":"sshd","rhost":"192.0.2.7","source":"192.0.2.7","#,
        r#"  "factor":"totp","outcome":"success","uid":0}"#,
    ]);
    doc.markdown("(one line in the log).");
    doc.markdown(
        "No code, secret or hash is ever logged. CONTRACT.md in `/usr/share/doc/pam-mfa/` \
         lists every event and its fields.",
    );

    doc.section("SYSTEMD");
    doc.markdown(
        "The package's `mfa-daemon.service` runs the daemon as the system user `mfa` (made \
         by `sysusers.d`(5)), with `StateDirectory=mfa` (`/var/lib/mfa`, 0700), \
         `RuntimeDirectory=mfa` (`/run/mfa`), `UMask=0077` and the usual sandboxing. It is \
         `Type=notify`: the daemon reports ready once both sockets accept, and sshd and the \
         login services, ordered after it, never start without it. Its sockets come from \
         `mfa-daemon.socket` and `mfa-daemon-privileged.socket` (socket activation): systemd \
         binds them at boot and holds them while the daemon starts, stops or restarts, and a \
         connection made meanwhile waits for the next daemon. `tmpfiles.d`(5) makes \
         `/run/mfa/private` 0700 for `mfa` before they bind. Provider secrets can be \
         handed over with `LoadCredential=` (see `mfa.toml`(5)). The process cannot dump \
         core and cannot be traced by its own user.",
    );

    doc.section("EXIT STATUS");
    doc.item_markdown(
        "0",
        "Stopped by SIGTERM or SIGINT; or `--check-config` found the file good; or \
         `--import-records` copied every record; or `--help`, `--version`.",
    );
    doc.item_markdown(
        "1",
        "An error at start or while running: the sockets could not be bound (or those \
         systemd passed are not the configured ones), the state \
         directory could not be opened, or the process could not be hardened; or \
         `--import-records` could not copy a record.",
    );
    doc.item_markdown(
        "2",
        "Bad arguments, or a configuration error (the message names the file, line and key).",
    );

    doc.section("ENVIRONMENT");
    doc.item_markdown(
        "CREDENTIALS_DIRECTORY",
        "Where a relative credential file name is read from (systemd's `LoadCredential=`).",
    );
    doc.item_markdown(
        "JOURNAL_STREAM",
        "Set by systemd when standard error is the journal (`device:inode`). When it names \
         the daemon's standard error, log lines carry their priority (see LOGGING).",
    );
    doc.item_markdown(
        "LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES",
        "Set by systemd for socket activation (`sd_listen_fds`(3)). When `LISTEN_PID` is the \
         daemon's pid it takes the sockets named `public` and `privileged` instead of binding, \
         after checking that each is a listening Unix stream socket at the path `socket` \
         gives it, and exits 1 naming what is wrong otherwise. The variables are removed.",
    );
    doc.item_markdown(
        "NOTIFY_SOCKET",
        "Set by systemd for `Type=notify`: readiness, reloads and stopping are reported \
         there. Without it nothing is sent.",
    );
    doc.item_markdown(
        "RUST_LOG",
        "Which log lines are written, overriding `log_level` (at start and on reload): a \
         level (`debug`) or a list of `target=level` directives, e.g. \
         `RUST_LOG=info,mfa_daemon=debug,rustls=trace` (the `tracing-subscriber` \
         `EnvFilter` syntax). A value that is not a valid filter is reported and \
         `log_level` is used. The audit log is not affected.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/etc/mfa/config.toml",
        "The configuration, see `mfa.toml`(5).",
    );
    doc.item_markdown(
        "/var/lib/mfa",
        "The state: `users/NAME.json`, one record per user (0600); `failures.log` and \
         `lockouts.json`, the attempt limits, which survive restarts.",
    );
    doc.item_markdown("/run/mfa/mfa.sock", "The public socket.");
    doc.item_markdown(
        "/run/mfa/private/mfa.sock",
        "The privileged socket (root only).",
    );
    doc.item_markdown(
        "mfa-daemon.service",
        "The systemd unit, in `/usr/lib/systemd/system/` (or `/lib/systemd/system/`).",
    );
    doc.item_markdown(
        "mfa-daemon.socket, mfa-daemon-privileged.socket",
        "Its socket units, beside it.",
    );
    doc.item_markdown(
        "/usr/lib/tmpfiles.d/mfa.conf",
        "Makes `/run/mfa` and `/run/mfa/private` at boot.",
    );

    doc.section("EXAMPLES");
    doc.markdown("Check a changed configuration, then put it in force without dropping a login:");
    doc.code(&[
        "mfa-daemon --check-config /etc/mfa/config.toml",
        "systemctl reload mfa-daemon",
    ]);
    doc.markdown("Follow the audit events:");
    doc.code(&["journalctl -f -u mfa-daemon -g '^audit: '"]);

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa.toml", "5"),
        ("pam_mfa", "8"),
        ("mfa-enroll", "1"),
        ("mfactl", "8"),
        ("systemd.exec", "5"),
        ("systemd.socket", "5"),
        ("systemctl", "1"),
    ]));

    Page {
        name: "mfa-daemon",
        section: "8",
        roff: doc.finish(),
    }
}
