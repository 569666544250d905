# pam-mfa %pre: the system users and groups, before the files: /etc/mfa/config.toml is
# installed as root:mfa (rpm falls back to root for a group it does not know yet). The same
# accounts as /usr/lib/sysusers.d/mfa.conf describes (not installed yet at this point): the
# daemon's, and mfa-web's (an upgrade from a package without mfa-web finds only the first).
if ! getent passwd mfa >/dev/null || ! getent passwd mfa-web >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        printf '%s\n' 'u mfa - "pam-mfa daemon" /var/lib/mfa' 'u mfa-web - "pam-mfa web pages"' |
            systemd-sysusers --replace=/usr/lib/sysusers.d/mfa.conf -
    else
        if ! getent passwd mfa >/dev/null; then
            useradd --system --user-group --home-dir /var/lib/mfa --no-create-home \
                --shell /sbin/nologin --comment "pam-mfa daemon" mfa
        fi
        if ! getent passwd mfa-web >/dev/null; then
            useradd --system --user-group --home-dir / --no-create-home \
                --shell /sbin/nologin --comment "pam-mfa web pages" mfa-web
        fi
    fi
fi
