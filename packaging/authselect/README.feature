with-mfa::
    Ask for a second factor from pam-mfa (an authenticator app code, a recovery code, or a
    code sent by SMS or email) after the password: *pam_mfa* runs only once *pam_unix*
    accepted the password. Needs mfa-daemon running (systemctl enable --now mfa-daemon).
    Do not combine with with-fingerprint or with-pam-u2f: those are sufficient on their own
    and log in without the code (with-pam-u2f-2fa combines: both are then required).
