//! mfa-web(8). Written here like mfa-daemon(8)'s, from a clap definition of the command line
//! as `mfa-web --help` states it; the tests check that every flag the built binary's help
//! lists is on the page.

use clap::{Arg, ArgAction, Command};

use super::Page;
use crate::cli_page::CliPage;
use crate::doc::{Doc, references};

/// mfa-web's command line (mfa-web/src/cli.rs).
fn command() -> Command {
    Command::new("mfa-web")
        .version(env!("CARGO_PKG_VERSION"))
        .about("the pam-mfa web pages: passkey enrollment and sign-in approval")
        .long_about(
            "mfa-web serves the pages a user opens on a phone or in a browser to add a \
             passkey and to approve a sign-in. It holds no secret and decides nothing: it \
             carries what the browser sends to mfa-daemon(8) over the daemon's web socket, \
             and the daemon checks every WebAuthn ceremony. It runs in the foreground and \
             reads the top-level socket key and the [web] section of the daemon's \
             configuration (see mfa.toml(5)); without [web] it refuses to start.",
        )
        .override_usage("mfa-web [--config FILE]\nmfa-web --check-config FILE")
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help(
                    "Read this configuration file. Default: `$CREDENTIALS_DIRECTORY/config.toml` \
                     when systemd passes the file as a credential, else /etc/mfa/config.toml.",
                ),
        )
        .arg(
            Arg::new("check-config")
                .long("check-config")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help(
                    "Check the file's `socket` and `[web]`, and the TLS files it names, then \
                     exit: 0 when good, 1 with one line naming the file, key and problem.",
                ),
        )
}

pub fn page(date: &str) -> Page {
    let cli = CliPage::new(command(), "8");
    let mut doc = Doc::new("mfa-web", "8", date);
    cli.head(&mut doc);
    cli.options(&mut doc);

    doc.section("LISTENING");
    doc.markdown(
        "It listens on `[web] listen` (default `127.0.0.1:8443`). With `tls_cert_file` and \
         `tls_key_file` it speaks HTTPS itself; without them `listen` must be a loopback \
         address, for a reverse proxy on the same host that does TLS (set `forwarded_for = \
         true` so that per-address limits and the audit log see the browser's address).",
    );

    doc.section("SYSTEMD");
    doc.markdown(
        "The package's `mfa-web.service` is not enabled on install: set `[web]`, then \
         `systemctl enable --now mfa-web.service`. It runs as the system user `mfa-web` \
         (made by `sysusers.d`(5)), which owns no file and cannot read `/etc/mfa`: systemd \
         hands it the configuration with `LoadCredential=config.toml:/etc/mfa/config.toml`. \
         It has no capability and no writable directory, and reaches the daemon only \
         through `/run/mfa/web.sock`, which the daemon answers for root and `[web] user` \
         alone.",
    );

    doc.section("SIGNALS");
    doc.item_markdown("SIGTERM, SIGINT", "Stop serving and exit 0.");

    doc.section("EXIT STATUS");
    doc.item_markdown(
        "0",
        "Stopped by SIGTERM or SIGINT; or `--check-config` found the file good.",
    );
    doc.item_markdown(
        "1",
        "A configuration or TLS file error, or `listen` could not be bound; one line on \
         standard error names it.",
    );
    doc.item_markdown("2", "Bad arguments.");

    doc.section("ENVIRONMENT");
    doc.item_markdown(
        "CREDENTIALS_DIRECTORY",
        "Set by systemd (`LoadCredential=`): the configuration is read from `config.toml` \
         in it unless `--config` is given.",
    );
    doc.item_markdown(
        "RUST_LOG",
        "Which log lines are written (`tracing` filter syntax); default \
         `warn,mfa_web=info`.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/etc/mfa/config.toml",
        "The configuration, shared with the daemon.",
    );
    doc.item_markdown(
        "/run/mfa/web.sock",
        "The daemon's web socket, beside its public socket (`socket`).",
    );
    doc.item_markdown(
        "/usr/lib/systemd/system/mfa-web.service",
        "The unit the package installs.",
    );

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa-daemon", "8"),
        ("mfa.toml", "5"),
        ("mfa-enroll", "1"),
        ("pam_mfa", "8"),
    ]));

    Page {
        name: "mfa-web",
        section: "8",
        roff: doc.finish(),
    }
}
