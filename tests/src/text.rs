//! What people see, as docs/CONTRACT.md and Linux-PAM's `pam_strerror` word it.

/// The daemon's prompt for a TOTP or recovery code.
pub const CODE_PROMPT: &str = "Verification code: ";
/// Wrong code, and also an unknown or unenrolled user: the same words on purpose.
pub const INVALID_CODE: &str = "Invalid verification code.";
/// A code whose time step (or a recovery code that) was already used.
pub const CODE_ALREADY_USED: &str = "That code has already been used. Wait for the next one.";
/// Start of the lockout message (`... Try again in N minutes.` follows).
pub const TOO_MANY_FAILURES: &str = "Too many failed attempts.";
/// `mfa-enroll`'s question when replacing an enrollment needs proof.
pub const PROOF_PROMPT: &str = "Current verification code or recovery code: ";
/// `pam_strerror(PAM_AUTH_ERR)`, as pamtester prints it.
pub const PAM_AUTH_ERR: &str = "Authentication failure";
/// `pam_strerror(PAM_AUTHINFO_UNAVAIL)`, as pamtester prints it. ("Authentication information
/// cannot be recovered" is PAM_AUTHTOK_RECOVERY_ERR, a different code.)
pub const PAM_AUTHINFO_UNAVAIL: &str = "Authentication service cannot retrieve authentication info";
/// `pam_strerror(PAM_MAXTRIES)`, as pamtester prints it.
pub const PAM_MAXTRIES: &str = "Have exhausted maximum number of retries for service";
/// pamtester's line after a successful `authenticate`.
pub const PAMTESTER_SUCCESS: &str = "successfully authenticated";

/// `pam_strerror(PAM_SYSTEM_ERR)`: what pamtester prints when the daemon fails closed.
pub const PAM_SYSTEM_ERR: &str = "System error";

/// Shown while the account-wide failure limit is tripped.
pub const ONLY_RECOVERY_CODES: &str = "only a recovery code is accepted now";

/// Heading of the menu a user with phones or email addresses sees.
pub const MENU_HEADING: &str = "Verification options:";
/// Start of the menu's prompt (`1: ` or `1-N: ` follows).
pub const MENU_PROMPT: &str = "Enter a code from your app or a recovery code, or choose 1";
/// The prompt for a code that was sent.
pub const SENT_CODE_PROMPT: &str = "Code: ";
/// A sent code that was used, expired, ran out of tries or was replaced by a newer one.
pub const CODE_NO_LONGER_VALID: &str =
    "That code is no longer valid. Choose an option to get a new one.";
/// The provider failed or took too long.
pub const SEND_FAILED: &str = "Could not send the code; choose another option.";
/// A send limit refused the choice.
pub const SEND_REFUSED: &str =
    "Too many codes were sent recently. Use your app or a recovery code, or try again later.";
/// `mfa-enroll`'s question for the code sent to a new phone or address.
pub const RECEIVED_PROMPT: &str = "Code you received: ";

/// First words of what a login shows a user who must set up an app first
/// (`unenrolled = "enroll"`); the QR code, the otpauth URI and the key follow.
pub const ENROLL_NOTICE: &str = "Your account needs a second factor.";
/// Start of the prompt for the first code of an app set up at login; `: ` follows, or the
/// skip offer inside the grace period.
pub const ENROLL_PROMPT: &str = "Code from your app";
/// The enrollment prompt outside the grace period.
pub const ENROLL_PROMPT_NO_SKIP: &str = "Code from your app: ";
/// Start of the skip offer inside the grace period (`N days left): ` follows).
pub const ENROLL_SKIP_OFFER: &str = "(or press Enter to skip: ";
/// A code that does not match the key just shown.
pub const ENROLL_CODE_MISMATCH: &str =
    "That code does not match the new key; check the app and try again.";
/// An empty answer to the enrollment prompt once the grace period is over.
pub const ENROLL_REQUIRED: &str = "Setting up a second factor is required to log in.";
/// Heading of the list of recovery codes shown once an app is set up at login.
pub const RECOVERY_CODES_HEADING: &str = "Recovery codes";
/// The last prompt of an enrollment at login, right under the recovery codes: the codes are
/// never the last, bare message (sshd would show that twice).
pub const SAVE_CODES_PROMPT: &str = "Save these codes, then press Enter: ";
