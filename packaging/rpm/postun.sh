# pam-mfa %postun: after an upgrade restart the daemon (and mfa-web, mfa-radius if they run)
# on the new binaries; after an erase reload systemd. Configuration and /var/lib/mfa stay
# (RPM has no purge); a changed config.toml is kept as config.toml.rpmsave.
# The service and any socket units it ships with (socket activation), sockets first.
units=""
for socket in /usr/lib/systemd/system/mfa-daemon*.socket; do
    if [ -e "$socket" ]; then units="$units ${socket##*/}"; fi
done
units="${units# } mfa-daemon.service"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        # Only the service: restarting the socket units would close and rebind the
        # sockets, and a login in that moment would find no daemon.
        systemctl try-restart mfa-daemon.service >/dev/null 2>&1 || :
        # mfa-web and mfa-radius only if they run (the admin enabled them): never started here.
        systemctl try-restart mfa-web.service mfa-radius.service >/dev/null 2>&1 || :
    fi
fi
exit 0
