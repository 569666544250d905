# pam-mfa %pre: the system users and groups, before the files: /etc/mfa/config.toml is
# installed as root:mfa (rpm falls back to root for a group it does not know yet). The same
# accounts as /usr/lib/sysusers.d/mfa.conf describes (not installed yet at this point): the
# daemon's, mfa-web's and mfa-radius's (an upgrade from an older package finds only some).
if ! getent passwd mfa >/dev/null || ! getent passwd mfa-web >/dev/null ||
    ! getent passwd mfa-radius >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        printf '%s\n' 'u mfa - "pam-mfa daemon" /var/lib/mfa' 'u mfa-web - "pam-mfa web pages"' \
            'u mfa-radius - "pam-mfa RADIUS server"' |
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
        if ! getent passwd mfa-radius >/dev/null; then
            useradd --system --user-group --home-dir / --no-create-home \
                --shell /sbin/nologin --comment "pam-mfa RADIUS server" mfa-radius
        fi
    fi
fi
