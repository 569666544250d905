# pam-mfa %pre: the daemon's system user and group, before the files: /etc/mfa/config.toml is
# installed as root:mfa (rpm falls back to root for a group it does not know yet). The same
# account as /usr/lib/sysusers.d/mfa.conf describes (not installed yet at this point).
if ! getent passwd mfa >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        echo 'u mfa - "pam-mfa daemon" /var/lib/mfa' |
            systemd-sysusers --replace=/usr/lib/sysusers.d/mfa.conf -
    else
        useradd --system --user-group --home-dir /var/lib/mfa --no-create-home \
            --shell /sbin/nologin --comment "pam-mfa daemon" mfa
    fi
fi
