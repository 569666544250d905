# pam-mfa %postun: after an upgrade restart the daemon on the new binary; after an erase
# reload systemd. Configuration and /var/lib/mfa stay (RPM has no purge); a changed
# config.toml is kept as config.toml.rpmsave.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart mfa-daemon.service >/dev/null 2>&1 || :
    fi
fi
exit 0
