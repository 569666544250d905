# pam-mfa %post: the daemon's state directory (%pre made its user), then the unit (enabled and
# started on a fresh install where systemd runs); mfa-web.service and mfa-radius.service stay
# disabled until the admin enables them after setting [web] or [radius]. Nothing here changes
# PAM: with authselect, turn the module on as /usr/share/doc/pam-mfa/authselect/README.md says.
# The service and any socket units it ships with (socket activation), sockets first.
units=""
for socket in /usr/lib/systemd/system/mfa-daemon*.socket; do
    if [ -e "$socket" ]; then units="$units ${socket##*/}"; fi
done
units="${units# } mfa-daemon.service"
install -d -m 0700 -o mfa -g mfa /var/lib/mfa
# /run/mfa and root's /run/mfa/private for the socket units (at boot tmpfiles.d does it).
if command -v systemd-tmpfiles >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemd-tmpfiles --create mfa.conf || :
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl enable --now $units >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 1 ]; then
    cat <<'NEXT'
pam-mfa is installed; no PAM configuration was changed. Next steps:
  1. Each user enrolls an authenticator app:   mfa-enroll totp
  2. With a root shell kept open, add the authselect feature with-mfa:
     /usr/share/doc/pam-mfa/authselect/README.md
NEXT
fi
exit 0
