# pam-mfa %preun: on erase (not upgrade), refuse while a PAM file calls pam_mfa.so outside
# authselect's files (lines added by hand, as the README shows for sshd, sudo and login):
# with the module gone, each login through them would fail. The same while authselect's
# profile still has the with-mfa feature. Then stop and disable the daemon, mfa-web and
# mfa-radius.
# The service and any socket units it ships with (socket activation), sockets first.
units=""
for socket in /usr/lib/systemd/system/mfa-daemon*.socket; do
    if [ -e "$socket" ]; then units="$units ${socket##*/}"; fi
done
units="${units# } mfa-daemon.service"
if [ "$1" -eq 0 ]; then
    # Exits 1 (the erase stops, nothing changed yet) unless PAM_MFA_FORCE_REMOVE=1.
    sh /usr/share/pam-mfa/check-pam-lines --before-removal || exit 1
    # authselect's with-mfa feature is the admin's to turn off (it lives in a custom profile
    # the package does not own): until then, every login through system-auth needs the module.
    if [ "${PAM_MFA_FORCE_REMOVE:-}" != 1 ] && ! sh /usr/share/pam-mfa/check-pam-lines --all >/dev/null; then
        echo "pam-mfa: not removed: authselect's profile still calls pam_mfa.so (feature with-mfa), and every login through system-auth would fail without it. Run \"authselect disable-feature with-mfa\" first, or set PAM_MFA_FORCE_REMOVE=1 to remove it anyway." >&2
        exit 1
    fi
    if [ -d /run/systemd/system ]; then
        systemctl disable --now $units mfa-web.service mfa-radius.service >/dev/null 2>&1 || :
    fi
fi
exit 0
