# pam-mfa: adds the optional feature "with-mfa" to a custom authselect profile based on
# "local" (system-auth and password-auth). Run once on each file of a fresh profile:
#   sed -i -f with-mfa.sed /etc/authselect/custom/mfa/system-auth /etc/authselect/custom/mfa/password-auth
# Before the profile's "auth sufficient pam_unix.so" line it puts a gate: the password is
# checked first, and only when it is right does pam_mfa.so run (a wrong password skips it,
# so no code is sent and nothing is offered to someone who does not know the password). The
# profile's own pam_unix.so line that follows then finds the password already given and
# ends the stack with success, or, after a failed code, the stack goes on to pam_faillock
# and pam_deny as before. Without with-mfa the two lines are left out and the profile is
# unchanged.
/^auth[[:space:]]\{1,\}sufficient[[:space:]]\{1,\}pam_unix\.so/i\
auth        [success=ok default=1]                       pam_unix.so {if not "without-nullok":nullok}           {include if "with-mfa"}\
auth        required                                     pam_mfa.so                                             {include if "with-mfa"}
