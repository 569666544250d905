//! mfa-radius(8). Written here like mfa-web(8)'s, from a clap definition of the command line
//! as `mfa-radius --help` states it; the tests check that every flag the built binary's help
//! lists is on the page.

use clap::{Arg, ArgAction, Command};

use super::Page;
use crate::cli_page::CliPage;
use crate::doc::{Doc, references};

/// mfa-radius's command line (mfa-radius/src/cli.rs).
fn command() -> Command {
    Command::new("mfa-radius")
        .version(env!("CARGO_PKG_VERSION"))
        .about("the pam-mfa RADIUS server: a second factor for VPNs and network gear")
        .long_about(
            "mfa-radius answers RADIUS Access-Requests (RFC 2865) from the clients the \
             configuration names: VPN servers, firewalls, switches, Wi-Fi controllers. It \
             holds no user secret and decides nothing: it relays each login to \
             mfa-daemon(8) over the daemon's RADIUS socket, and the daemon applies the same \
             factors, policy, attempt limits and audit as for SSH. It runs in the \
             foreground and reads the top-level socket and answer_timeout keys and the \
             [radius] section of the daemon's configuration (see mfa.toml(5)); without \
             [radius] it refuses to start.",
        )
        .override_usage("mfa-radius [--config FILE] [--check-config]")
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
                .action(ArgAction::SetTrue)
                .help(
                    "Check the file's `socket`, `answer_timeout` and `[radius]`, and open \
                     every client's secret file, then exit: 0 after printing what would be \
                     served (never a secret), 1 with one line naming the file, client, key \
                     and problem.",
                ),
        )
}

pub fn page(date: &str) -> Page {
    let cli = CliPage::new(command(), "8");
    let mut doc = Doc::new("mfa-radius", "8", date);
    cli.head(&mut doc);
    cli.options(&mut doc);

    doc.section("CLIENTS");
    doc.markdown(
        "It listens on UDP `[radius] listen` (default `0.0.0.0:1812` and `[::]:1812`; the \
         IPv6 one only warns when the host has no IPv6). Each `[[radius.client]]` names a \
         client, its address or network, and a file holding the secret it shares with \
         mfa-radius; a packet from any other address is dropped without an answer (RFC 2865), \
         counted, and logged at most once a minute per address. Each client has its own \
         request rate (`requests_per_second`); packets beyond it are dropped.",
    );
    doc.markdown(
        "A secret file must be a regular file (not a symlink) of 16 to 128 bytes, one \
         trailing newline aside, owned by root or the account mfa-radius runs as, with no \
         group or other permission bits (0600 or 0400); otherwise mfa-radius does not start \
         and names the client and the file. A relative name is read from \
         `$CREDENTIALS_DIRECTORY`. Only mfa-radius reads the secrets, never the daemon.",
    );

    doc.section("PASSWORDS");
    doc.markdown(
        "With `password = \"none\"` (the default) the client checks the password itself (or \
         there is none) and `User-Password` carries the second factor: a code, a recovery \
         code, `,sms`, `,call` or `,email` (with the comma) to have a code sent, `,push` for \
         approval on the phone, or a menu number. An empty field \
         gets the prompt back as an Access-Challenge.",
    );
    doc.markdown(
        "With `password = \"pam\"` mfa-radius checks the password itself through the PAM \
         service `pam_service` (default `mfa-radius`, `/etc/pam.d/mfa-radius`), and the code \
         follows it in the same field (`password123456`, or `password,sms` to have one sent) \
         or comes in answer to a challenge (the password alone, once it \
         passed, gets the menu as one). A wrong password or a wrong code gets the same \
         Access-Reject, which never says which part failed. pam_unix needs to read \
         `/etc/shadow`: give the account the `shadow` group (see SYSTEMD).",
    );

    doc.section("CHALLENGES");
    doc.markdown(
        "When the daemon asks (a menu, a code after `,sms`), the answer is an Access-Challenge \
         with the text in `Reply-Message`, a fresh `State` and a `Prompt` attribute; the \
         client's next Access-Request carries the `State` and the answer in `User-Password`. \
         A `State` works once, only for the same client and User-Name, and only within the \
         daemon's `answer_timeout`.",
    );

    doc.section("SECURITY");
    doc.markdown(
        "Every Access-Request must carry a valid `Message-Authenticator` (RFC 3579), or it is \
         dropped and logged: this stops the BlastRADIUS forgery (CVE-2024-3596). Turn it off \
         only for one old client that cannot send it, with `require_message_authenticator = \
         false` in its `[[radius.client]]`, and only on a network no one else can inject \
         into. Every answer carries `Message-Authenticator` as its first attribute.",
    );
    doc.markdown(
        "A retransmission (the same client, source port, identifier and authenticator within \
         30 s; RFC 5080) gets the first answer again, and its code is never checked twice; a \
         new request with a used code is refused as usual. Policy rules see the service \
         `radius:NAME` (the client's name); attempt limits and the audit log count the \
         source `radius:NAME`, or `radius:NAME:CALLING-STATION-ID` when the client sends one. \
         Only PAP is supported: CHAP, MS-CHAP and EAP requests get an Access-Reject saying \
         so. If the daemon cannot be reached every request is rejected.",
    );

    doc.section("SYSTEMD");
    doc.markdown(
        "The package's `mfa-radius.service` is not enabled on install: set `[radius]`, \
         restart the daemon (it opens `radius.sock` when it starts), then `systemctl enable \
         --now mfa-radius.service`. It runs as the system user `mfa-radius` (made by \
         `sysusers.d`(5)), which owns no file and cannot read `/etc/mfa`: systemd hands it \
         the configuration with `LoadCredential=config.toml:/etc/mfa/config.toml`, and the \
         secrets the same way in a drop-in. It has no capability (1812 needs none) and no \
         writable directory, and reaches the daemon only through `/run/mfa/radius.sock`, \
         which the daemon answers for root and `[radius] user` alone. For `password = \
         \"pam\"` with pam_unix, add `SupplementaryGroups=shadow` in a drop-in.",
    );

    doc.section("SIGNALS");
    doc.item_markdown("SIGTERM, SIGINT", "Stop answering and exit 0.");

    doc.section("EXIT STATUS");
    doc.item_markdown(
        "0",
        "Stopped by SIGTERM or SIGINT; or `--check-config` found the file good.",
    );
    doc.item_markdown(
        "1",
        "A configuration or secret file error, or `listen` could not be bound; one line on \
         standard error names it.",
    );
    doc.item_markdown("2", "Bad arguments.");

    doc.section("ENVIRONMENT");
    doc.item_markdown(
        "CREDENTIALS_DIRECTORY",
        "Set by systemd (`LoadCredential=`): the configuration is read from `config.toml` \
         in it unless `--config` is given, and relative `secret_file` names from it.",
    );
    doc.item_markdown(
        "RUST_LOG",
        "Which log lines are written (`tracing` filter syntax); default \
         `warn,mfa_radius=info`. No log line holds a password, code, secret, `State` or \
         authenticator, and drops are logged at most once a minute per client or address.",
    );

    doc.section("FILES");
    doc.item_markdown(
        "/etc/mfa/config.toml",
        "The configuration, shared with the daemon.",
    );
    doc.item_markdown(
        "/run/mfa/radius.sock",
        "The daemon's RADIUS socket, beside its public socket (`socket`).",
    );
    doc.item_markdown(
        "/etc/pam.d/mfa-radius",
        "The PAM stack that checks passwords with `password = \"pam\"` (`pam_service`): \
         pam_unix only (`auth required pam_unix.so` and `account required pam_unix.so`), \
         never `common-auth` once pam_mfa.so is in it. The packages do not install it; \
         without it PAM uses `other`, and mfa-radius warns at start and in --check-config.",
    );
    doc.item_markdown(
        "/usr/lib/systemd/system/mfa-radius.service",
        "The unit the package installs.",
    );

    doc.section("SEE ALSO");
    doc.paragraph(references(&[
        ("mfa-daemon", "8"),
        ("mfa.toml", "5"),
        ("mfa-web", "8"),
        ("pam_mfa", "8"),
        ("radclient", "1"),
    ]));

    Page {
        name: "mfa-radius",
        section: "8",
        roff: doc.finish(),
    }
}
