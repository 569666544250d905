# pam-mfa %preun: on erase (not upgrade), stop and disable the daemon, and warn if a PAM
# file still calls pam_mfa.so (authselect's with-mfa): such logins fail once it is gone.
# The service and any socket units it ships with (socket activation), sockets first.
units=""
for socket in /usr/lib/systemd/system/mfa-daemon*.socket; do
    if [ -e "$socket" ]; then units="$units ${socket##*/}"; fi
done
units="${units# } mfa-daemon.service"
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now $units >/dev/null 2>&1 || :
    fi
    if grep -qs 'pam_mfa\.so' /etc/pam.d/*; then
        echo "pam-mfa: /etc/pam.d still uses pam_mfa.so; remove it (authselect select ... without with-mfa) or logins will fail" >&2
    fi
fi
exit 0
